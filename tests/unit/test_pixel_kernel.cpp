// The CUDA preprocessing kernel computes each output pixel with px::output_pixel
// (pixel_kernel.h). Evaluated here on the CPU over whole frames, it must equal
// ta::preprocess: this proves the kernel's arithmetic without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "pixel_kernel.h"
#include "preprocess.h"

using namespace ta;

namespace {

struct Planes {
  std::vector<uint8_t> data[3];
  FrameView view;
};

// A frame with structure in every plane; strides padded on purpose.
Planes make(PixelFormat fmt, int w, int h, unsigned seed) {
  Planes p;
  std::mt19937 rng(seed);
  auto fill = [&](std::vector<uint8_t>& v, int row_bytes, int rows, int stride) {
    v.assign((size_t)stride * rows, 0xEE);
    for (int y = 0; y < rows; y++)
      for (int x = 0; x < row_bytes; x++)
        v[(size_t)y * stride + x] = (uint8_t)(((x * 3 + y * 5) & 0xFF) ^ (rng() & 0x3F));
  };
  p.view.format = fmt;
  p.view.width = w;
  p.view.height = h;
  PackedLayout pl;
  if (packed_layout(fmt, &pl)) {
    const int stride = w * pl.pixel_bytes + 12;
    fill(p.data[0], w * pl.pixel_bytes, h, stride);
    p.view.planes[0] = p.data[0].data();
    p.view.strides[0] = stride;
  } else {
    const int cw = (w + 1) / 2, ch = (h + 1) / 2;
    fill(p.data[0], w, h, w + 8);
    p.view.planes[0] = p.data[0].data();
    p.view.strides[0] = w + 8;
    if (fmt == PixelFormat::I420) {
      for (int i = 1; i < 3; i++) {
        fill(p.data[i], cw, ch, cw + 4);
        p.view.planes[i] = p.data[i].data();
        p.view.strides[i] = cw + 4;
      }
    } else {
      fill(p.data[1], 2 * cw, ch, 2 * cw + 6);
      p.view.planes[1] = p.data[1].data();
      p.view.strides[1] = 2 * cw + 6;
    }
  }
  return p;
}

void check(const Planes& p, const PreprocessConfig& cfg, const std::string& what) {
  const size_t plane = (size_t)cfg.crop_size * cfg.crop_size;
  std::vector<float> cpu(3 * plane), kernel(3 * plane);
  preprocess(p.view, cfg, cpu.data());
  px::KernelFrame kf;
  px::KernelParams kp;
  kernel_setup(p.view, cfg, &kf, &kp);
  for (int i = 0; i < kp.out_h; i++)
    for (int j = 0; j < kp.out_w; j++) {
      float rgb[3];
      px::output_pixel(kf, kp, i, j, rgb);
      for (int c = 0; c < 3; c++) kernel[c * plane + (size_t)i * kp.out_w + j] = rgb[c];
    }
  double maxd = 0, sum = 0;
  for (size_t q = 0; q < cpu.size(); q++) {
    const double d = std::fabs(cpu[q] - kernel[q]);
    maxd = std::max(maxd, d);
    sum += d;
  }
  // Only the order of the float sums differs (2-D in the kernel, separable on the CPU).
  EXPECT_LT(maxd, 2e-4) << what;
  EXPECT_LT(sum / cpu.size(), 2e-5) << what;
  ::testing::Test::RecordProperty(what + "_max", std::to_string(maxd));
}

}  // namespace

TEST(PixelKernel, PackedFormatsEqualTheCpuPath) {
  PreprocessConfig c;
  for (PixelFormat f : {PixelFormat::RGB, PixelFormat::BGRx, PixelFormat::ARGB, PixelFormat::xBGR})
    check(make(f, 333, 251, 1), c, std::string(pixel_format_name(f)) + " 333x251");
  check(make(PixelFormat::RGBA, 1920, 1080, 2), c, "RGBA 1080p");
}

TEST(PixelKernel, YuvFormatsEqualTheCpuPath) {
  PreprocessConfig c;
  for (PixelFormat f : {PixelFormat::I420, PixelFormat::NV12}) {
    Planes p = make(f, 333, 251, 3);
    p.view.matrix = ColorMatrix::BT709;
    check(p, c, std::string(pixel_format_name(f)) + " 333x251 bt709");
    p.view.matrix = ColorMatrix::BT601;
    p.view.full_range = true;
    check(p, c, std::string(pixel_format_name(f)) + " 333x251 bt601 full");
  }
  check(make(PixelFormat::NV12, 1920, 1080, 4), c, "NV12 1080p");
}

TEST(PixelKernel, EveryResizeModeAndOption) {
  Planes p = make(PixelFormat::I420, 640, 360, 5);
  PreprocessConfig c;
  c.mode = ResizeMode::Stretch;
  check(p, c, "stretch");
  c.mode = ResizeMode::Letterbox;
  check(p, c, "letterbox");
  c = PreprocessConfig();
  c.antialias = false;
  check(p, c, "no antialias");
  c = PreprocessConfig();
  c.resize_size = 160;
  c.crop_size = 128;
  c.mean = {0.5f, 0.5f, 0.5f};
  c.std = {0.25f, 0.5f, 1.f};
  check(p, c, "160/128, other mean/std");
  check(make(PixelFormat::BGR, 100, 80, 6), PreprocessConfig(), "upscaling a frame smaller than the crop");
}

// A region is an offset and a scale in the kernel's source mapping: the same as the CPU
// path's region for every format, at odd offsets and sizes, at the borders, and smaller than
// the crop.
TEST(PixelKernel, RegionsEqualTheCpuPath) {
  const Rect rects[] = {{101, 57, 203, 151}, {0, 0, 97, 131}, {130, 72, 203, 179}, {13, 17, 61, 45},
                        {332, 250, 1, 1}, {1, 3, 331, 247}};
  for (PixelFormat f : {PixelFormat::RGB, PixelFormat::BGRx, PixelFormat::I420, PixelFormat::NV12}) {
    Planes p = make(f, 333, 251, 7);
    for (const Rect& r : rects)
      for (ResizeMode mode : {ResizeMode::CenterCrop, ResizeMode::Letterbox}) {
        PreprocessConfig c;
        c.mode = mode;
        c.source = r;
        check(p, c, std::string(pixel_format_name(f)) + " region " + std::to_string(r.x) + "," + std::to_string(r.y) +
                        " " + std::to_string(r.w) + "x" + std::to_string(r.h) + " mode " + std::to_string((int)mode));
      }
  }
}
