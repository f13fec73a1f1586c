// The GPU preprocessing path: frames are copied once into pinned staging memory, uploaded
// with asynchronous copies on a stream of ours, and preprocessed by one fused kernel per
// frame (pixel_kernel.h: planes -> antialiased resize -> crop -> colour conversion ->
// normalize) that writes NCHW fp32 or fp16 straight into a batch tensor on the device.
// No LibTorch and no CUDA types here: streams and device pointers are void*.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

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

// True when the preprocessing kernel has code this GPU runs (its SASS, or PTX the driver
// can compile): checked with cudaFuncGetAttributes before the first launch, so a build
// without this architecture falls back to CPU preprocessing instead of failing each batch.
bool kernel_loads(int device, std::string* why_not);

// Page-locked host memory for StagingPool (nullptr when it cannot be had), and its release.
void* alloc_pinned(size_t bytes);
void free_pinned(void* p);

// A page-locked host buffer, a device buffer of the same size, and an event that marks
// when the last copy out of the host buffer finished (so that it may be written again).
struct HostDeviceBuffer {
  HostDeviceBuffer() = default;
  ~HostDeviceBuffer();
  HostDeviceBuffer(const HostDeviceBuffer&) = delete;
  HostDeviceBuffer& operator=(const HostDeviceBuffer&) = delete;
  void reserve(size_t bytes);  // grows both (after the pending copy); creates the event
  void wait_copied();          // until the last copy recorded by copied() has finished
  void copied(void* stream);   // records that a copy out of `host` was queued on `stream`
  void* done = nullptr;        // cudaEvent_t
  void* host = nullptr;
  void* device = nullptr;
  size_t capacity = 0;
};

// Reusable upload buffers for one frame size; one per element (or per batch slot).
class FrameUploader {
 public:
  FrameUploader() = default;
  FrameUploader(const FrameUploader&) = delete;
  FrameUploader& operator=(const FrameUploader&) = delete;

  // Copies `frame` to the device on `stream` (cudaStream_t) and preprocesses it into
  // `out` (3 x crop x crop floats, or halves when `half`), also on `stream`. Returns once
  // the work is queued; throws ta::Error(Stream) on a CUDA error.
  void preprocess(const FrameView& frame, const PreprocessConfig& cfg, void* out, bool half, void* stream);
  // The upload alone (queued on `stream`), and the kernel's view of the frame on the device
  // with its parameters: what BatchPreprocessor launches once for all frames of a batch.
  void upload(const FrameView& frame, const PreprocessConfig& cfg, px::KernelFrame* kf, px::KernelParams* kp,
              void* stream);

 private:
  HostDeviceBuffer buf_;  // the frame's planes: pinned copy, device copy
};

// A whole batch: each frame uploaded (or read in place on the device) by an uploader of its
// slot, then one kernel launch for all of them (frame n in blockIdx.z) into `out` (n x 3 x
// crop x crop, floats or halves), all on `stream`. Throws ta::Error(Stream).
class BatchPreprocessor {
 public:
  BatchPreprocessor() = default;
  BatchPreprocessor(const BatchPreprocessor&) = delete;
  BatchPreprocessor& operator=(const BatchPreprocessor&) = delete;

  void run(const std::vector<const FrameView*>& frames, const std::vector<const PreprocessConfig*>& cfgs, void* out,
           bool half, void* stream);

 private:
  std::vector<std::unique_ptr<FrameUploader>> uploaders_;
  HostDeviceBuffer params_;  // the batch's KernelFrames, then its KernelParams
};

}  // namespace cuda
}  // namespace ta
