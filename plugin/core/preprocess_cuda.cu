// The fused preprocessing kernel and its host side. Built by nvcc when the meson option
// `cuda` is enabled (sm_90 SASS plus compute_90 PTX for newer GPUs).
#include "preprocess_cuda.h"

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstring>
#include <string>

#include "error.h"
#include "pixel_kernel.h"

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

// One thread per output pixel: its three channels, written NCHW.
template <typename T>
__global__ void preprocess_kernel(px::KernelFrame f, px::KernelParams p, T* out) {
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

// Bytes of plane `i` of `f` as the frame's strides lay it out.
size_t plane_bytes(const FrameView& f, int i) {
  if (!f.planes[i]) return 0;
  const int rows = (i == 0) ? f.height : (f.height + 1) / 2;
  return (size_t)f.strides[i] * rows;
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

FrameUploader::FrameUploader() = default;

FrameUploader::~FrameUploader() {
  if (done_) {
    cudaEventSynchronize(static_cast<cudaEvent_t>(done_));
    cudaEventDestroy(static_cast<cudaEvent_t>(done_));
  }
  if (pinned_) cudaFreeHost(pinned_);
  if (device_) cudaFree(device_);
}

void FrameUploader::reserve(size_t bytes) {
  if (!done_) {
    cudaEvent_t e;
    check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
    done_ = e;
  }
  if (bytes <= capacity_) return;
  check(cudaEventSynchronize(static_cast<cudaEvent_t>(done_)), "cudaEventSynchronize");
  if (pinned_) cudaFreeHost(pinned_);
  if (device_) cudaFree(device_);
  pinned_ = device_ = nullptr;
  capacity_ = 0;
  check(cudaHostAlloc(&pinned_, bytes, cudaHostAllocDefault), "cudaHostAlloc");
  check(cudaMalloc(&device_, bytes), "cudaMalloc");
  capacity_ = bytes;
}

void FrameUploader::preprocess(const FrameView& frame, const PreprocessConfig& cfg, void* out, bool half,
                               void* stream) {
  px::KernelFrame kf;
  px::KernelParams kp;
  kernel_setup(frame, cfg, &kf, &kp);
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const dim3 block(32, 8);
  const dim3 grid((kp.out_w + block.x - 1) / block.x, (kp.out_h + block.y - 1) / block.y);
  auto launch = [&] {
    if (half)
      preprocess_kernel<__half><<<grid, block, 0, s>>>(kf, kp, static_cast<__half*>(out));
    else
      preprocess_kernel<float><<<grid, block, 0, s>>>(kf, kp, static_cast<float*>(out));
    check(cudaGetLastError(), "kernel launch");
  };
  if (frame.on_device) {
    // Zero-copy: the planes are the decoder's device memory; the kernel reads them there.
    for (int i = 0; i < 3; i++) kf.planes[i] = frame.planes[i];
    launch();
    return;
  }
  size_t total = 0, offs[3] = {0, 0, 0};
  for (int i = 0; i < 3; i++) {
    offs[i] = total;
    total += (plane_bytes(frame, i) + 255) & ~(size_t)255;
  }
  reserve(total);
  // The pinned buffer may still feed the previous frame's upload: wait for that copy only.
  check(cudaEventSynchronize(static_cast<cudaEvent_t>(done_)), "cudaEventSynchronize");
  for (int i = 0; i < 3; i++) {
    const size_t n = plane_bytes(frame, i);
    if (!n) continue;
    std::memcpy(static_cast<uint8_t*>(pinned_) + offs[i], frame.planes[i], n);
    kf.planes[i] = static_cast<const uint8_t*>(device_) + offs[i];
  }
  check(cudaMemcpyAsync(device_, pinned_, total, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync");
  check(cudaEventRecord(static_cast<cudaEvent_t>(done_), s), "cudaEventRecord");
  launch();
}

}  // namespace cuda
}  // namespace ta
