#include "frame.h"

namespace ta {

bool packed_layout(PixelFormat f, PackedLayout* o) {
  switch (f) {
    case PixelFormat::RGB: *o = {0, 1, 2, 3}; return true;
    case PixelFormat::BGR: *o = {2, 1, 0, 3}; return true;
    case PixelFormat::RGBA: case PixelFormat::RGBx: *o = {0, 1, 2, 4}; return true;
    case PixelFormat::BGRA: case PixelFormat::BGRx: *o = {2, 1, 0, 4}; return true;
    case PixelFormat::ARGB: case PixelFormat::xRGB: *o = {1, 2, 3, 4}; return true;
    case PixelFormat::ABGR: case PixelFormat::xBGR: *o = {3, 2, 1, 4}; return true;
    case PixelFormat::I420: case PixelFormat::NV12: return false;
  }
  return false;
}

bool is_yuv(PixelFormat f) { return f == PixelFormat::I420 || f == PixelFormat::NV12; }

const char* pixel_format_name(PixelFormat f) {
  switch (f) {
    case PixelFormat::RGB: return "RGB";
    case PixelFormat::BGR: return "BGR";
    case PixelFormat::RGBA: return "RGBA";
    case PixelFormat::BGRA: return "BGRA";
    case PixelFormat::RGBx: return "RGBx";
    case PixelFormat::BGRx: return "BGRx";
    case PixelFormat::xRGB: return "xRGB";
    case PixelFormat::xBGR: return "xBGR";
    case PixelFormat::ARGB: return "ARGB";
    case PixelFormat::ABGR: return "ABGR";
    case PixelFormat::I420: return "I420";
    case PixelFormat::NV12: return "NV12";
  }
  return "?";
}

}  // namespace ta
