// A view of one video frame: format, planes, strides, colorimetry; the planes are in host
// memory, or (on_device) in CUDA device memory.
// No GStreamer types here: the element fills it from a GstVideoFrame.
#pragma once

#include <cstdint>
#include <cstddef>

namespace ta {

enum class PixelFormat {
  RGB, BGR, RGBA, BGRA, RGBx, BGRx, xRGB, xBGR, ARGB, ABGR, I420, NV12,
};

// The Y'CbCr -> R'G'B' matrix of YUV frames (ignored for RGB frames).
enum class ColorMatrix { BT601, BT709, BT2020 };

struct FrameView {
  PixelFormat format = PixelFormat::RGB;
  int width = 0;
  int height = 0;
  const uint8_t* planes[3] = {nullptr, nullptr, nullptr};
  int strides[3] = {0, 0, 0};
  ColorMatrix matrix = ColorMatrix::BT601;
  bool full_range = false;  // YUV: true for 0..255 luma, false for 16..235
  // The planes are CUDA device memory of the model's device (e.g. from nvh264dec), not
  // host memory: only the GPU path reads them.
  bool on_device = false;
  // Set on a frame copied at submit (staging.h): the planes lie in this one block, laid
  // out by staging_layout(); `staged_pinned`: the block is page-locked, so the GPU path
  // uploads it as it is, in one asynchronous copy.
  const uint8_t* staged_block = nullptr;
  size_t staged_bytes = 0;
  bool staged_pinned = false;
};

// Byte offsets of R, G, B inside one pixel of a packed format, and the pixel size.
struct PackedLayout {
  int r, g, b, pixel_bytes;
};

// Returns false for planar formats.
bool packed_layout(PixelFormat f, PackedLayout* out);
bool is_yuv(PixelFormat f);
const char* pixel_format_name(PixelFormat f);

}  // namespace ta
