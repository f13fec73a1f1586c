// The GPU preprocessing path: frames are copied once into pinned staging memory, uploaded
// with asynchronous copies on a stream of ours, and preprocessed by one fused kernel per
// frame (pixel_kernel.h: planes -> antialiased resize -> crop -> colour conversion ->
// normalize) that writes NCHW fp32 or fp16 straight into a batch tensor on the device.
// No LibTorch and no CUDA types here: streams and device pointers are void*.
#pragma once

#include <cstddef>
#include <string>

#include "frame.h"
#include "preprocess.h"

namespace ta {
namespace cuda {

// True when this build has the CUDA path and a device is usable.
bool available(std::string* why_not);

// The CUDA device a `device` property value names ("auto", "cuda", "cuda:N"), or -1 when
// it means the CPU ("cpu", "auto" without a usable device) or is not a device (the model
// loader reports that). No CUDA context is made.
int device_index(const std::string& device);

// Makes the primary context of `device` (the one LibTorch and the CUDA runtime use)
// current on the calling thread, creating it if needed; the caller may then take its
// handle (cuCtxGetCurrent, or GStreamer's loader). Throws ta::Error(Stream).
void make_primary_current(int device);

// Reusable upload buffers for one frame size; one per element (or per batch slot).
class FrameUploader {
 public:
  FrameUploader();
  ~FrameUploader();
  FrameUploader(const FrameUploader&) = delete;
  FrameUploader& operator=(const FrameUploader&) = delete;

  // Copies `frame` to the device on `stream` (cudaStream_t) and preprocesses it into
  // `out` (3 x crop x crop floats, or halves when `half`), also on `stream`. Returns once
  // the work is queued; throws ta::Error(Stream) on a CUDA error.
  void preprocess(const FrameView& frame, const PreprocessConfig& cfg, void* out, bool half, void* stream);

 private:
  void reserve(size_t bytes);
  void* done_ = nullptr;  // cudaEvent_t: the last upload from pinned_ has finished
  void* pinned_ = nullptr;
  void* device_ = nullptr;
  size_t capacity_ = 0;
};

}  // namespace cuda
}  // namespace ta
