/* torchanalytics: zero-copy input from GStreamer's CUDA memory (nvh264dec, nvh265dec)
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * torchclassify's side of video/x-raw(memory:CUDAMemory). The element makes a
 * GstCudaContext that wraps the primary CUDA context of the model's device, the one
 * LibTorch runs in, and shares it with the pipeline (a have-context message and the
 * answers to context queries), so that NVIDIA's decoders decode into memory the fused kernel can
 * read where it is. A buffer whose memory belongs to another context is not read in place:
 * map() says why, and the element falls back to mapping it for the CPU (GStreamer then
 * downloads it) with one warning.
 *
 * Built only with the CUDA path and gstreamer-cuda-1.0 (TA_HAVE_GST_CUDA).
 */
#pragma once

#ifdef TA_HAVE_GST_CUDA

#include <gst/cuda/gstcudacontext.h>
#include <gst/cuda/gstcudamemory.h>
#include <gst/video/video.h>

#include <memory>
#include <string>

#include "frame.h"

#define TA_CUDA_CAPS_FORMATS "{ NV12, I420, RGBA, BGRA, RGBx, BGRx }"

class TorchCudaInput {
 public:
  TorchCudaInput () = default;
  ~TorchCudaInput () { close (); }
  TorchCudaInput (const TorchCudaInput &) = delete;
  TorchCudaInput & operator= (const TorchCudaInput &) = delete;

  /* Makes the context for `device` and announces it to the pipeline. false, with *why,
   * when there is no CUDA. */
  bool open (GstElement * element, int device, std::string * why);
  void close ();
  bool is_open () const { return ctx_ != nullptr; }

  /* A context query from a neighbour: answered with ours. */
  bool handle_query (GstElement * element, GstQuery * query);

  /* The frame of `buf` (CUDA memory in our context) as device planes in `view`, and what
   * keeps them mapped (let go once the kernel has read them). nullptr, with *why, when the
   * buffer cannot be read in place. */
  std::shared_ptr<void> map (GstBuffer * buf, const GstVideoInfo & info, ta::FrameView * view,
      std::string * why);

 private:
  GstCudaContext *ctx_ = nullptr;
  int device_ = -1;
};

#endif /* TA_HAVE_GST_CUDA */
