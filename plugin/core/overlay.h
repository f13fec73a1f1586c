// Drawing classification results onto a frame in place, in its own format (packed RGB
// variants, I420, NV12): no conversion of the frame. OpenCV draws; no GStreamer here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frame.h"

namespace ta {

enum class Corner { TopLeft, TopRight, BottomLeft, BottomRight };

struct OverlayLabel {
  std::string text;
  float score;
};

struct OverlayRegion {
  int x = 0, y = 0, w = 0, h = 0;  // in frame pixels
  std::vector<OverlayLabel> labels;  // best first
};

struct OverlayStyle {
  Corner position = Corner::TopLeft;
  double font_scale = 1.0;     // multiplies the size derived from the frame height
  bool show_scores = true;
  bool show_bars = true;
  uint32_t argb = 0xFFFFFFFF;  // text and bar colour; the alpha byte blends the bars
  int top_k = 3;
};

struct Box {
  int x, y, w, h;
};

// Where the results box of `r` goes: its size follows the frame height, it sits in the
// region's `position` corner and is clipped to the frame. Empty (w = 0) without labels.
Box overlay_box(int frame_w, int frame_h, const OverlayRegion& r, const OverlayStyle& s);

// Draws every region. The frame's planes must be writable (mapped for writing).
void draw_overlay(const FrameView& frame, const std::vector<OverlayRegion>& regions, const OverlayStyle& s);

// The text of one line, e.g. "tabby 81.2%" (non-ASCII bytes become '?': the font
// has ASCII glyphs only).
std::string overlay_line(const OverlayLabel& l, bool show_scores);

}  // namespace ta
