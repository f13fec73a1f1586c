/* torchanalytics: zero-copy input from GStreamer's CUDA memory
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gsttorchcudainput.h"

#ifdef TA_HAVE_GST_CUDA

#include <gst/cuda/gstcudaloader.h>
#include <gst/cuda/gstcudamemory.h>
#include <gst/cuda/gstcudautils.h>

#include "error.h"
#include "gsttorchframe.h"
#include "preprocess_cuda.h"

GST_DEBUG_CATEGORY_EXTERN (gst_torch_classify_debug);
#define GST_CAT_DEFAULT gst_torch_classify_debug

namespace {

/* The handle of the primary context of `device`, taken from the CUDA runtime's current
 * context (made so by the core) through GStreamer's driver loader: nothing here links the
 * driver library, so the plugin loads where there is none. */
CUcontext
primary_context (int device, std::string * why)
{
  try {
    ta::cuda::make_primary_current (device);
  } catch (const ta::Error & e) {
    *why = std::string (e.what ()) + " " + e.detail ();
    return nullptr;
  }
  CUcontext ctx = nullptr;
  if (CuCtxPopCurrent (&ctx) != CUDA_SUCCESS || !ctx) {
    *why = "the CUDA runtime made no context current";
    return nullptr;
  }
  CuCtxPushCurrent (ctx);
  return ctx;
}

struct MappedCudaMemory {
  GstBuffer *buf;
  GstMemory *mem;
  GstMapInfo map;
};

} // namespace

bool
TorchCudaInput::open (GstElement * element, int device, std::string * why)
{
  if (ctx_ && device_ == device)
    return true;
  close ();
  if (device < 0) {
    *why = "the model does not run on a CUDA device";
    return false;
  }
  if (!gst_cuda_load_library ()) {
    *why = "GStreamer could not load the CUDA driver library (libcuda.so.1)";
    return false;
  }
  CUcontext handle = primary_context (device, why);
  if (!handle)
    return false;
  CUdevice dev = 0;
  if (CuDeviceGet (&dev, device) != CUDA_SUCCESS) {
    *why = "cuDeviceGet (" + std::to_string (device) + ") failed";
    return false;
  }
  ctx_ = gst_cuda_context_new_wrapped (handle, dev);
  if (!ctx_) {
    *why = "gst_cuda_context_new_wrapped failed";
    return false;
  }
  device_ = device;
  GST_INFO_OBJECT (element, "sharing the primary CUDA context of device %d with the pipeline",
      device);
  /* Announced to the bin, which hands it to the decoders added later (decodebin's). */
  GstContext *c = gst_context_new_cuda_context (ctx_);
  gst_element_set_context (element, c);
  gst_element_post_message (element, gst_message_new_have_context (GST_OBJECT (element), c));
  return true;
}

void
TorchCudaInput::close ()
{
  if (ctx_)
    gst_object_unref (ctx_);
  ctx_ = nullptr;
  device_ = -1;
}

bool
TorchCudaInput::handle_query (GstElement * element, GstQuery * query)
{
  return ctx_ && gst_cuda_handle_context_query (element, query, ctx_);
}

std::shared_ptr<void>
TorchCudaInput::map (GstBuffer * buf, const GstVideoInfo & info, ta::FrameView * view,
    std::string * why)
{
  if (!ctx_) {
    *why = "torchclassify has no CUDA context";
    return nullptr;
  }
  if (gst_buffer_n_memory (buf) != 1) {
    *why = "the buffer has " + std::to_string (gst_buffer_n_memory (buf)) + " memories, not one";
    return nullptr;
  }
  GstMemory *mem = gst_buffer_peek_memory (buf, 0);
  if (!gst_is_cuda_memory (mem)) {
    *why = "the buffer's memory is not CUDA memory";
    return nullptr;
  }
  GstCudaMemory *cmem = GST_CUDA_MEMORY_CAST (mem);
  if (gst_cuda_context_get_handle (cmem->context) != gst_cuda_context_get_handle (ctx_)) {
    *why = "the buffer's CUDA memory belongs to another CUDA context than torchclassify's "
        "(an element upstream made its own)";
    return nullptr;
  }
  if (!frame_view_from_info (&info, view)) {
    *why = std::string ("the format ") + GST_VIDEO_INFO_NAME (&info) + " is not read on the GPU";
    return nullptr;
  }
  auto *m = new MappedCudaMemory { gst_buffer_ref (buf), gst_memory_ref (mem), GstMapInfo () };
  if (!gst_memory_map (mem, &m->map, (GstMapFlags) (GST_MAP_READ | GST_MAP_CUDA))) {
    gst_memory_unref (m->mem);
    gst_buffer_unref (m->buf);
    delete m;
    *why = "the CUDA memory could not be mapped for the GPU";
    return nullptr;
  }
#if GST_CHECK_VERSION(1, 24, 0)
  /* From 1.24 decoders work on a stream of their own and only mark the memory as needing
   * a sync; a GST_MAP_CUDA map does not wait for it. Wait here, before our kernel reads
   * the planes on another stream (1.22 finishes the decoder's work before pushing). */
  gst_cuda_memory_sync (cmem);
#endif
  /* The memory's own layout (decoders pitch their rows), not the caps' default. */
  const GstVideoInfo *mi = &cmem->info;
  const guint8 *base = static_cast<const guint8 *> (m->map.data);
  for (guint i = 0; i < GST_VIDEO_INFO_N_PLANES (mi) && i < 3; i++) {
    view->planes[i] = base + GST_VIDEO_INFO_PLANE_OFFSET (mi, i);
    view->strides[i] = GST_VIDEO_INFO_PLANE_STRIDE (mi, i);
  }
  view->on_device = true;
  return std::shared_ptr<void> (m, [](void *p) {
    auto *mm = static_cast<MappedCudaMemory *> (p);
    gst_memory_unmap (mm->mem, &mm->map);
    gst_memory_unref (mm->mem);
    gst_buffer_unref (mm->buf);
    delete mm;
  });
}

#endif /* TA_HAVE_GST_CUDA */
