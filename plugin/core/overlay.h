// Pictures of classification results, drawn with Pango (layout, any UTF-8 text, font
// fallback through fontconfig) and Cairo. The element lays them over the frame with
// GStreamer's overlay composition, so nothing here knows pixel formats or GStreamer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ta {

enum class Corner { TopLeft, TopRight, BottomLeft, BottomRight };

struct OverlayLabel {
  std::string text;  // UTF-8
  float score;
};

struct OverlayRegion {
  int x = 0, y = 0, w = 0, h = 0;    // in frame pixels; the whole frame for full-frame results
  std::vector<OverlayLabel> labels;  // best first
};

// Where a region's results box goes: inside the region at its `position` corner (full
// frame results), or beside it (regions of interest: above the box for the top corners,
// below it for the bottom ones, on the other side when there is no room, inside the
// region as the last resort), always inside the frame.
enum class Placement { Inside, Beside };

struct OverlayStyle {
  Corner position = Corner::TopLeft;
  Placement placement = Placement::Inside;
  double font_scale = 1.0;     // multiplies the size derived from the frame height
  bool show_scores = true;
  bool show_bars = true;
  uint32_t argb = 0xFFFFFFFF;  // text and bar colour; the alpha byte is the bars' opacity
  int top_k = 3;
};

struct Box {
  int x, y, w, h;
};

// A picture to lay over the frame with its top-left corner at (at.x, at.y), at.w x at.h
// pixels: premultiplied alpha in Cairo's ARGB32 layout, one native-endian 32-bit word
// per pixel (bytes B, G, R, A on little-endian machines), `stride` bytes per row.
struct OverlayPicture {
  Box at{0, 0, 0, 0};
  int stride = 0;
  std::vector<uint8_t> pixels;
};

// Draws the results of regions. Keeps the layouts and the pictures it made recently: a
// region whose text, scores (to the precision shown), bar lengths and place are those
// of a recent call gets the very same picture back, without layout or drawing.
// Not thread-safe: one renderer per element, used from its streaming thread.
class OverlayRenderer {
 public:
  // Throws std::runtime_error when Pango has no font map (no fonts installed).
  OverlayRenderer();
  ~OverlayRenderer();
  OverlayRenderer(const OverlayRenderer&) = delete;
  OverlayRenderer& operator=(const OverlayRenderer&) = delete;

  // The pictures that show region `r` on a frame_w x frame_h frame: its results box, in
  // the region's `position` corner, sized from the frame height and clipped to the frame.
  // Empty for a region without labels.
  std::vector<std::shared_ptr<const OverlayPicture>> render(int frame_w, int frame_h, const OverlayRegion& r,
                                                            const OverlayStyle& s);

  // Where render() puts the results box of `r` (w = 0 without labels).
  Box results_box(int frame_w, int frame_h, const OverlayRegion& r, const OverlayStyle& s);

  // The outline of `region` (clipped to the frame): up to four solid strips `thickness`
  // pixels wide along its inner edges, in `argb` (0xAARRGGBB, alpha: opacity). Empty for
  // a region with no pixels in the frame.
  std::vector<std::shared_ptr<const OverlayPicture>> outline(int frame_w, int frame_h, const Box& region,
                                                             int thickness, uint32_t argb);

  // How many characters of `text` no installed font has a glyph for (they would be
  // drawn as hex boxes).
  int unknown_glyphs(const std::string& text);

  // Pictures drawn and pictures served from the cache, since construction.
  size_t drawn() const;
  size_t reused() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The text of one line, e.g. "tabby 81.2%"; the label's UTF-8 is kept as it is
// (invalid UTF-8 sequences become U+FFFD).
std::string overlay_line(const OverlayLabel& l, bool show_scores);

}  // namespace ta
