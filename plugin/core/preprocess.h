// Frame view -> normalized NCHW float input of the classifier, as torchvision's
// Resize(resize_size) + CenterCrop(crop_size) + ToTensor() + Normalize(mean, std) on a
// PIL image. Only the output pixels are computed: the frame is read once, YUV planes are
// resized separately and converted to RGB at the output size.
#pragma once

#include <array>
#include <string>

#include "frame.h"

namespace ta {

enum class ResizeMode {
  CenterCrop,  // shorter side to resize_size, then the centre crop_size x crop_size
  Stretch,     // the whole frame to crop_size x crop_size, aspect ratio not kept
  Letterbox,   // longer side to crop_size, aspect kept, black bars around
};

// A rectangle of a frame, in pixels.
struct Rect {
  int x = 0, y = 0, w = 0, h = 0;
};

struct PreprocessConfig {
  int resize_size = 256;
  int crop_size = 224;
  ResizeMode mode = ResizeMode::CenterCrop;
  std::array<float, 3> mean{{0.485f, 0.456f, 0.406f}};
  std::array<float, 3> std{{0.229f, 0.224f, 0.225f}};
  bool antialias = true;
  // The part of the frame that is preprocessed, as torchvision on
  // pil_image.crop((x, y, x + w, y + h)): every setting above applies to it as to a whole
  // frame. Read straight from the frame's planes (no copy of the crop); a YUV crop is the
  // crop of the frame's full-size RGB conversion (chroma sited for the frame, not the crop),
  // so odd offsets and sizes are exact. w or h of 0: the whole frame. It must lie inside
  // the frame (ta::select_regions clips); otherwise preprocess() throws.
  Rect source;
};

// Empty when the configuration is usable, else a sentence naming the problem and the fix.
std::string validate(const PreprocessConfig& cfg);

// Where the output grid lies in the resized frame.
struct Geometry {
  int resized_w, resized_h;  // size of the (virtual) resized frame
  int offset_x, offset_y;    // top-left of the output inside it (negative: padding)
  int out_w, out_h;          // output tensor size
};
Geometry compute_geometry(int width, int height, const PreprocessConfig& cfg);

namespace px {
struct KernelFrame;
struct KernelParams;
}  // namespace px

// The frame and parameters of the per-pixel kernel (pixel_kernel.h) for `frame`; the
// planes point where `frame`'s do (replace them with device pointers for the GPU).
void kernel_setup(const FrameView& frame, const PreprocessConfig& cfg, px::KernelFrame* kf, px::KernelParams* kp);

// The rectangle of `frame` that `cfg` preprocesses (cfg.source, or the whole frame).
// Throws std::invalid_argument when it does not lie inside the frame.
Rect source_rect(const FrameView& frame, const PreprocessConfig& cfg);

// Writes 3 x out_h x out_w floats (channel planes R, G, B) to `out`.
// Throws std::invalid_argument for a frame it cannot read.
void preprocess(const FrameView& frame, const PreprocessConfig& cfg, float* out);

}  // namespace ta
