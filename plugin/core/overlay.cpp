#include "overlay.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ta {

namespace {

constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;

// Layout of the box, derived from the frame height so it reads the same from 240p to 4K.
struct Layout {
  int line_h, pad, bar_w, thickness;
  double font;
};

Layout layout_for(int frame_h, const OverlayStyle& s) {
  Layout l;
  l.line_h = std::max(10, (int)std::lround(frame_h / 22.0 * s.font_scale));
  l.pad = std::max(2, l.line_h / 4);
  l.font = l.line_h / 36.0;  // HERSHEY_SIMPLEX at scale 1 is about 22 px tall plus descent
  l.thickness = std::max(1, (int)std::lround(l.line_h / 16.0));
  l.bar_w = s.show_bars ? l.line_h * 4 : 0;
  return l;
}

int text_width(const std::string& t, const Layout& l) {
  int base = 0;
  return cv::getTextSize(t, kFont, l.font, l.thickness, &base).width;
}

struct Rgb {
  uint8_t r, g, b;
};

void rgb_to_yuv(Rgb c, uint8_t* y, uint8_t* u, uint8_t* v) {
  // BT.601 limited range: the overlay colour does not need the stream's exact matrix.
  const double Y = 16 + (65.481 * c.r + 128.553 * c.g + 24.966 * c.b) / 255.0;
  const double U = 128 + (-37.797 * c.r - 74.203 * c.g + 112.0 * c.b) / 255.0;
  const double V = 128 + (112.0 * c.r - 93.786 * c.g - 18.214 * c.b) / 255.0;
  *y = (uint8_t)std::lround(std::clamp(Y, 0.0, 255.0));
  *u = (uint8_t)std::lround(std::clamp(U, 0.0, 255.0));
  *v = (uint8_t)std::lround(std::clamp(V, 0.0, 255.0));
}

// What to draw, in box coordinates, independent of the pixel format.
struct Ops {
  Box box;
  struct Text {
    std::string s;
    cv::Point org;
  };
  struct Bar {
    cv::Rect outline, fill;
  };
  std::vector<Text> texts;
  std::vector<Bar> bars;
  Layout l;
};

Ops plan(int fw, int fh, const OverlayRegion& r, const OverlayStyle& s) {
  Ops ops;
  ops.l = layout_for(fh, s);
  ops.box = overlay_box(fw, fh, r, s);
  if (ops.box.w <= 0) return ops;
  const Layout& l = ops.l;
  const int n = std::min<int>((int)r.labels.size(), std::max(1, s.top_k));
  for (int i = 0; i < n; i++) {
    const int top = ops.box.y + l.pad + i * l.line_h;
    int x = ops.box.x + l.pad;
    if (l.bar_w) {
      const int bh = std::max(2, l.line_h * 3 / 5);
      cv::Rect outline(x, top + (l.line_h - bh) / 2, l.bar_w, bh);
      const float sc = std::clamp(r.labels[i].score, 0.f, 1.f);
      cv::Rect fill(outline.x, outline.y, (int)std::lround(outline.width * sc), outline.height);
      ops.bars.push_back({outline, fill});
      x += l.bar_w + l.pad;
    }
    ops.texts.push_back({overlay_line(r.labels[i], s.show_scores), cv::Point(x, top + l.line_h * 3 / 4)});
  }
  return ops;
}

// Draws `ops` onto one 8-bit plane (channels interleaved), clipped to the box.
// box_value/ink are per channel; dim blends the background toward box_value.
void draw_plane(cv::Mat plane, const Ops& ops, double scale, const std::vector<double>& box_value,
                const std::vector<double>& ink, double box_alpha, double bar_alpha) {
  auto S = [&](int v) { return (int)std::lround(v * scale); };
  cv::Rect box(S(ops.box.x), S(ops.box.y), std::max(1, S(ops.box.w)), std::max(1, S(ops.box.h)));
  box &= cv::Rect(0, 0, plane.cols, plane.rows);
  if (box.empty()) return;
  cv::Mat roi = plane(box);
  cv::Scalar bg, fg;
  for (int c = 0; c < plane.channels(); c++) {
    bg[c] = box_value[c];
    fg[c] = ink[c];
  }
  // A dark, mostly opaque background keeps the text legible on any picture.
  cv::Mat solid(roi.size(), roi.type(), bg);
  cv::addWeighted(solid, box_alpha, roi, 1.0 - box_alpha, 0.0, roi);
  for (const auto& b : ops.bars) {
    cv::Rect o(S(b.outline.x), S(b.outline.y), std::max(1, S(b.outline.width)), std::max(1, S(b.outline.height)));
    cv::Rect f(o.x, o.y, S(b.fill.width), o.height);
    f &= cv::Rect(0, 0, plane.cols, plane.rows);
    if (!f.empty()) {
      cv::Mat fr = plane(f);
      cv::Mat ink_m(fr.size(), fr.type(), fg);
      cv::addWeighted(ink_m, bar_alpha, fr, 1.0 - bar_alpha, 0.0, fr);
    }
    cv::rectangle(plane, o & cv::Rect(0, 0, plane.cols, plane.rows), fg, 1);
  }
  const double font = ops.l.font * scale;
  const int thick = std::max(1, (int)std::lround(ops.l.thickness * scale));
  // Text may overhang its line by a pixel: draw into the box only.
  cv::Mat clip = plane(box);
  for (const auto& t : ops.texts)
    cv::putText(clip, t.s, cv::Point(S(t.org.x) - box.x, S(t.org.y) - box.y), kFont, font, fg, thick,
                scale < 1.0 ? cv::LINE_8 : cv::LINE_AA);
}

}  // namespace

std::string overlay_line(const OverlayLabel& l, bool show_scores) {
  std::string t;
  for (unsigned char c : l.text) t += (c >= 0x20 && c < 0x7F) ? (char)c : '?';
  if (show_scores) {
    char buf[32];
    std::snprintf(buf, sizeof buf, " %.1f%%", l.score * 100.0);
    t += buf;
  }
  return t;
}

Box overlay_box(int fw, int fh, const OverlayRegion& r, const OverlayStyle& s) {
  const int n = std::min<int>((int)r.labels.size(), std::max(1, s.top_k));
  if (n <= 0 || fw <= 0 || fh <= 0) return {0, 0, 0, 0};
  const Layout l = layout_for(fh, s);
  int tw = 0;
  for (int i = 0; i < n; i++) tw = std::max(tw, text_width(overlay_line(r.labels[i], s.show_scores), l));
  int w = l.pad * 2 + tw + (l.bar_w ? l.bar_w + l.pad : 0);
  int h = l.pad * 2 + n * l.line_h;
  // The region, clipped to the frame.
  const int rx = std::clamp(r.x, 0, fw - 1), ry = std::clamp(r.y, 0, fh - 1);
  const int rw = std::clamp(r.w, 1, fw - rx), rh = std::clamp(r.h, 1, fh - ry);
  w = std::min(w, fw);
  h = std::min(h, fh);
  int x = rx, y = ry;
  if (s.position == Corner::TopRight || s.position == Corner::BottomRight) x = rx + rw - w;
  if (s.position == Corner::BottomLeft || s.position == Corner::BottomRight) y = ry + rh - h;
  x = std::clamp(x, 0, fw - w);
  y = std::clamp(y, 0, fh - h);
  return {x, y, w, h};
}

void draw_overlay(const FrameView& f, const std::vector<OverlayRegion>& regions, const OverlayStyle& s) {
  const Rgb ink{(uint8_t)(s.argb >> 16), (uint8_t)(s.argb >> 8), (uint8_t)s.argb};
  const double bar_alpha = std::max(0.15, ((s.argb >> 24) & 0xFF) / 255.0);
  const double box_alpha = 0.7;
  // The planes were mapped writable by the caller; FrameView is shared with the
  // read-only preprocessing, hence the const_cast.
  auto mat = [&](int p, int w, int h, int type) {
    return cv::Mat(h, w, type, const_cast<uint8_t*>(f.planes[p]), (size_t)f.strides[p]);
  };
  for (const auto& r : regions) {
    const Ops ops = plan(f.width, f.height, r, s);
    if (ops.box.w <= 0) continue;
    PackedLayout pl;
    if (packed_layout(f.format, &pl)) {
      const int nch = pl.pixel_bytes;
      std::vector<double> bg(nch, 16.0), fg(nch, 255.0);
      fg[pl.r] = ink.r;
      fg[pl.g] = ink.g;
      fg[pl.b] = ink.b;
      if (nch == 4) {  // the alpha (or padding) byte: keep the box opaque
        const int a = 6 - pl.r - pl.g - pl.b;
        bg[a] = fg[a] = 255.0;
      }
      draw_plane(mat(0, f.width, f.height, CV_8UC(nch)), ops, 1.0, bg, fg, box_alpha, bar_alpha);
    } else {
      uint8_t y, u, v;
      rgb_to_yuv(ink, &y, &u, &v);
      const int cw = (f.width + 1) / 2, ch = (f.height + 1) / 2;
      draw_plane(mat(0, f.width, f.height, CV_8UC1), ops, 1.0, {16.0}, {(double)y}, box_alpha, bar_alpha);
      if (f.format == PixelFormat::I420) {
        draw_plane(mat(1, cw, ch, CV_8UC1), ops, 0.5, {128.0}, {(double)u}, box_alpha, bar_alpha);
        draw_plane(mat(2, cw, ch, CV_8UC1), ops, 0.5, {128.0}, {(double)v}, box_alpha, bar_alpha);
      } else {
        draw_plane(mat(1, cw, ch, CV_8UC2), ops, 0.5, {128.0, 128.0}, {(double)u, (double)v}, box_alpha,
                   bar_alpha);
      }
    }
  }
}

}  // namespace ta
