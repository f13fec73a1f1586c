// The fused preprocessing kernel and its host side. Built by nvcc when the meson option
// `cuda` is enabled (SASS for each architecture of -Dgpu_arch plus PTX of the newest).
#include "preprocess_cuda.h"

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstring>
#include <string>

#include "error.h"
#include "pixel_kernel.h"
#include "staging.h"

namespace ta {
namespace cuda {

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw Error(ErrorKind::Stream, std::string("CUDA failed (") + what + ").", cudaGetErrorString(e));
}

template <typename T>
__device__ T to_out(float v);
template <>
__device__ float to_out<float>(float v) { return v; }
template <>
__device__ __half to_out<__half>(float v) { return __float2half(v); }

// This thread's output pixel of frame `f`: its three channels, written NCHW into `out`
// (the frame's 3 x out_h x out_w).
template <typename T>
__device__ void preprocess_pixel(const px::KernelFrame& f, const px::KernelParams& p, T* out) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  const int i = blockIdx.y * blockDim.y + threadIdx.y;
  if (i >= p.out_h || j >= p.out_w) return;
  float rgb[3];
  px::output_pixel(f, p, i, j, rgb);
  const size_t plane = (size_t)p.out_w * p.out_h, q = (size_t)i * p.out_w + j;
  out[q] = to_out<T>(rgb[0]);
  out[plane + q] = to_out<T>(rgb[1]);
  out[2 * plane + q] = to_out<T>(rgb[2]);
}

// One frame: one thread per output pixel.
template <typename T>
__global__ void preprocess_kernel(px::KernelFrame f, px::KernelParams p, T* out) {
  preprocess_pixel(f, p, out);
}

// A whole batch in one launch: frame n is blockIdx.z, its frame and params read from
// device arrays, its output at out + n x 3 x out_h x out_w.
template <typename T>
__global__ void preprocess_batch_kernel(const px::KernelFrame* fs, const px::KernelParams* ps, T* out) {
  const int n = blockIdx.z;
  const px::KernelFrame f = fs[n];
  const px::KernelParams p = ps[n];
  preprocess_pixel(f, p, out + (size_t)n * 3 * p.out_w * p.out_h);
}

}  // namespace

bool available(std::string* why_not) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    if (why_not) *why_not = e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device";
    return false;
  }
  return true;
}

int device_index(const std::string& device) {
  if (device == "cpu") return -1;
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) n = 0;
  if (device.empty() || device == "auto") return n > 0 ? 0 : -1;
  if (device == "cuda") return n > 0 ? 0 : -1;
  if (device.rfind("cuda:", 0) != 0 || device.size() == 5) return -1;
  int index = 0;
  for (size_t i = 5; i < device.size(); i++) {
    if (device[i] < '0' || device[i] > '9' || index > 1000) return -1;
    index = index * 10 + (device[i] - '0');
  }
  return index < n ? index : -1;
}

void make_primary_current(int device) {
  check(cudaSetDevice(device), "cudaSetDevice");
  check(cudaFree(nullptr), "cudaFree(0): creating the primary context");
}

bool kernel_loads(int device, std::string* why_not) {
  cudaError_t e = cudaSetDevice(device);
  cudaFuncAttributes attr;
  if (e == cudaSuccess) e = cudaFuncGetAttributes(&attr, preprocess_kernel<float>);
  if (e == cudaSuccess) e = cudaFuncGetAttributes(&attr, preprocess_kernel<__half>);
  if (e == cudaSuccess) e = cudaFuncGetAttributes(&attr, preprocess_batch_kernel<float>);
  if (e == cudaSuccess) e = cudaFuncGetAttributes(&attr, preprocess_batch_kernel<__half>);
  if (e != cudaSuccess) {
    if (why_not) *why_not = cudaGetErrorString(e);
    cudaGetLastError();  // not sticky: clear it for LibTorch's next check
    return false;
  }
  return true;
}

void* alloc_pinned(size_t bytes) {
  void* p = nullptr;
  // Portable: page-locked for every context, whichever thread (and current device) stages.
  if (cudaHostAlloc(&p, bytes, cudaHostAllocPortable) != cudaSuccess) {
    cudaGetLastError();  // not sticky: clear it
    return nullptr;
  }
  return p;
}

void free_pinned(void* p) {
  if (p) cudaFreeHost(p);
}

HostDeviceBuffer::~HostDeviceBuffer() {
  if (done) {
    cudaEventSynchronize(static_cast<cudaEvent_t>(done));
    cudaEventDestroy(static_cast<cudaEvent_t>(done));
  }
  if (host) cudaFreeHost(host);
  if (device) cudaFree(device);
}

void HostDeviceBuffer::reserve(size_t bytes) {
  if (!done) {
    cudaEvent_t e;
    check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
    done = e;
  }
  if (bytes <= capacity) return;
  wait_copied();
  if (host) cudaFreeHost(host);
  if (device) cudaFree(device);
  host = device = nullptr;
  capacity = 0;
  check(cudaHostAlloc(&host, bytes, cudaHostAllocDefault), "cudaHostAlloc");
  check(cudaMalloc(&device, bytes), "cudaMalloc");
  capacity = bytes;
}

void HostDeviceBuffer::wait_copied() {
  if (done) check(cudaEventSynchronize(static_cast<cudaEvent_t>(done)), "cudaEventSynchronize");
}

void HostDeviceBuffer::copied(void* stream) {
  check(cudaEventRecord(static_cast<cudaEvent_t>(done), static_cast<cudaStream_t>(stream)), "cudaEventRecord");
}

void FrameUploader::upload(const FrameView& frame, const PreprocessConfig& cfg, px::KernelFrame* kf,
                           px::KernelParams* kp, void* stream) {
  kernel_setup(frame, cfg, kf, kp);
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (frame.on_device) {
    // Zero-copy: the planes are the decoder's device memory; the kernel reads them there.
    for (int i = 0; i < 3; i++) kf->planes[i] = frame.planes[i];
    return;
  }
  if (frame.staged_pinned && frame.staged_block) {
    // Staged at submit into a page-locked block (StagingPool): one asynchronous upload of
    // it, no copy here. The block stays valid until the batch has run (its hold).
    size_t offs[3];
    const size_t total = staging_layout(frame, offs);
    if (total != frame.staged_bytes)
      throw Error(ErrorKind::Stream, "A staged frame's block does not match its planes.");
    buf_.reserve(total);
    for (int i = 0; i < 3; i++)
      kf->planes[i] =
          frame.planes[i] ? static_cast<const uint8_t*>(buf_.device) + (frame.planes[i] - frame.staged_block) : nullptr;
    check(cudaMemcpyAsync(buf_.device, frame.staged_block, total, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync");
    return;
  }
  size_t offs[3];
  const size_t total = staging_layout(frame, offs);
  buf_.reserve(total);
  // The pinned buffer may still feed the previous frame's upload: wait for that copy only.
  buf_.wait_copied();
  for (int i = 0; i < 3; i++) {
    const size_t n = plane_bytes(frame, i);
    kf->planes[i] = nullptr;
    if (!n) continue;
    std::memcpy(static_cast<uint8_t*>(buf_.host) + offs[i], frame.planes[i], n);
    kf->planes[i] = static_cast<const uint8_t*>(buf_.device) + offs[i];
  }
  check(cudaMemcpyAsync(buf_.device, buf_.host, total, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync");
  buf_.copied(stream);
}

void FrameUploader::preprocess(const FrameView& frame, const PreprocessConfig& cfg, void* out, bool half,
                               void* stream) {
  px::KernelFrame kf;
  px::KernelParams kp;
  upload(frame, cfg, &kf, &kp, stream);
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const dim3 block(32, 8);
  const dim3 grid((kp.out_w + block.x - 1) / block.x, (kp.out_h + block.y - 1) / block.y);
  if (half)
    preprocess_kernel<__half><<<grid, block, 0, s>>>(kf, kp, static_cast<__half*>(out));
  else
    preprocess_kernel<float><<<grid, block, 0, s>>>(kf, kp, static_cast<float*>(out));
  check(cudaGetLastError(), "kernel launch");
}

void BatchPreprocessor::run(const std::vector<const FrameView*>& frames, const std::vector<const PreprocessConfig*>& cfgs,
                            void* out, bool half, void* stream) {
  const int n = (int)frames.size();
  if (n == 0) return;
  if ((int)cfgs.size() != n) throw Error(ErrorKind::Stream, "A batch with a configuration missing for some frames.");
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  while ((int)uploaders_.size() < n) uploaders_.push_back(std::make_unique<FrameUploader>());
  // The parameter arrays: written into page-locked memory, copied to the device on the
  // stream, read by the one launch. The previous batch's copy must be done before they
  // are written again.
  const size_t frames_bytes = (sizeof(px::KernelFrame) * n + 255) & ~(size_t)255;
  const size_t bytes = frames_bytes + sizeof(px::KernelParams) * n;
  params_.reserve(bytes);
  params_.wait_copied();
  auto* kfs = static_cast<px::KernelFrame*>(params_.host);
  auto* kps = reinterpret_cast<px::KernelParams*>(static_cast<uint8_t*>(params_.host) + frames_bytes);
  int out_w = 0, out_h = 0;
  for (int i = 0; i < n; i++) {
    uploaders_[i]->upload(*frames[i], *cfgs[i], &kfs[i], &kps[i], stream);
    if (i > 0 && (kps[i].out_w != kps[0].out_w || kps[i].out_h != kps[0].out_h))
      throw Error(ErrorKind::Stream, "The frames of one batch have different crop sizes.");
    out_w = kps[i].out_w;
    out_h = kps[i].out_h;
  }
  check(cudaMemcpyAsync(params_.device, params_.host, bytes, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync");
  params_.copied(stream);
  const auto* dfs = static_cast<const px::KernelFrame*>(params_.device);
  const auto* dps = reinterpret_cast<const px::KernelParams*>(static_cast<const uint8_t*>(params_.device) + frames_bytes);
  const dim3 block(32, 8);
  const dim3 grid((out_w + block.x - 1) / block.x, (out_h + block.y - 1) / block.y, n);
  if (half)
    preprocess_batch_kernel<__half><<<grid, block, 0, s>>>(dfs, dps, static_cast<__half*>(out));
  else
    preprocess_batch_kernel<float><<<grid, block, 0, s>>>(dfs, dps, static_cast<float*>(out));
  check(cudaGetLastError(), "kernel launch");
}

}  // namespace cuda
}  // namespace ta
