// Times ta::preprocess per frame for several formats and sizes, and prints the time of
// each relative to RGB 640x480. Run through scripts/bench.
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <vector>

#include "preprocess.h"

using namespace ta;

namespace {

double time_ms(const FrameView& f, const PreprocessConfig& c, int reps) {
  std::vector<float> out((size_t)3 * c.crop_size * c.crop_size);
  preprocess(f, c, out.data());  // warm
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; i++) preprocess(f, c, out.data());
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::milli>(t1 - t0).count() / reps;
}

}  // namespace

int main() {
  struct Size { int w, h; const char* name; };
  const Size sizes[] = {{640, 480, "640x480"}, {1920, 1080, "1920x1080"}, {3840, 2160, "3840x2160"}};
  const PixelFormat formats[] = {PixelFormat::RGB, PixelFormat::BGRx, PixelFormat::I420, PixelFormat::NV12};
  PreprocessConfig cfg;
  double base = 0;
  std::printf("%-10s %-6s %10s %8s\n", "size", "format", "ms/frame", "vs RGB 640x480");
  for (const Size& s : sizes) {
    std::vector<uint8_t> buf((size_t)s.w * s.h * 4);
    for (size_t i = 0; i < buf.size(); i++) buf[i] = (uint8_t)(i * 2654435761u >> 24);
    for (PixelFormat f : formats) {
      FrameView v;
      v.format = f;
      v.width = s.w;
      v.height = s.h;
      PackedLayout pl;
      if (packed_layout(f, &pl)) {
        v.planes[0] = buf.data();
        v.strides[0] = s.w * pl.pixel_bytes;
      } else {
        v.planes[0] = buf.data();
        v.strides[0] = s.w;
        v.planes[1] = buf.data() + (size_t)s.w * s.h;
        v.strides[1] = f == PixelFormat::NV12 ? s.w : s.w / 2;
        v.planes[2] = v.planes[1] + (size_t)s.w * s.h / 4;
        v.strides[2] = s.w / 2;
      }
      const int reps = s.w >= 3840 ? 10 : 30;
      const double ms = time_ms(v, cfg, reps);
      if (base == 0) base = ms;
      std::printf("%-10s %-6s %10.2f %8.2fx\n", s.name, pixel_format_name(f), ms, ms / base);
    }
  }
  return 0;
}
