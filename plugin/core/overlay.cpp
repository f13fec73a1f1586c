#include "overlay.h"

#include <cairo.h>
#include <glib.h>
#include <pango/pangocairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <list>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace ta {

namespace {

// Sizes derived from the frame height, so the box reads the same from 240p to 4K.
struct Metrics {
  int line_h, pad, bar_w, bar_h;
  double font_px;  // em size of the text
};

Metrics metrics_for(int frame_h, const OverlayStyle& s) {
  Metrics m;
  m.line_h = std::max(10, (int)std::lround(frame_h / 22.0 * s.font_scale));
  m.pad = std::max(2, m.line_h / 4);
  m.bar_w = s.show_bars ? m.line_h * 4 : 0;
  m.bar_h = std::max(2, m.line_h * 3 / 5);
  // DejaVu Sans Bold's lines are 1.16 em tall: 0.78 em fills most of a line, capitals
  // as tall as the Hershey text this replaced.
  m.font_px = m.line_h * 0.78;
  return m;
}

int visible_lines(const OverlayRegion& r, const OverlayStyle& s) {
  return std::min<int>((int)r.labels.size(), std::max(1, s.top_k));
}

// A small least-recently-used map: few entries, so the list holds the values.
template <typename V>
class Lru {
 public:
  explicit Lru(size_t capacity) : capacity_(capacity) {}
  V* find(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    items_.splice(items_.begin(), items_, it->second);
    return &it->second->second;
  }
  V* insert(const std::string& key, V value) {
    items_.emplace_front(key, std::move(value));
    index_[key] = items_.begin();
    while (items_.size() > capacity_) {
      index_.erase(items_.back().first);
      items_.pop_back();
    }
    return &items_.front().second;
  }
  void clear() {
    index_.clear();
    items_.clear();
  }

 private:
  size_t capacity_;
  std::list<std::pair<std::string, V>> items_;
  std::unordered_map<std::string, typename std::list<std::pair<std::string, V>>::iterator> index_;
};

struct GObjectUnref {
  void operator()(gpointer p) const { g_object_unref(p); }
};
using LayoutPtr = std::unique_ptr<PangoLayout, GObjectUnref>;

// Labels come from files and metas: keep them to one line of valid UTF-8.
std::string sanitize(const std::string& in) {
  gchar* valid = g_utf8_make_valid(in.data(), (gssize)in.size());
  std::string out(valid);
  g_free(valid);
  for (char& c : out)
    if ((unsigned char)c < 0x20 || c == 0x7F) c = ' ';
  return out;
}

}  // namespace

struct OverlayRenderer::Impl {
  PangoFontMap* font_map = nullptr;
  PangoContext* context = nullptr;
  // Text layouts by (text, size): labels repeat from frame to frame even when scores do not.
  Lru<LayoutPtr> layouts{64};
  // Pictures by everything they show (a frame of regions has a box, four edges each).
  Lru<std::shared_ptr<const OverlayPicture>> pictures{128};
  size_t drawn = 0, reused = 0;

  PangoLayout* layout(const std::string& text, double font_px) {
    const int size = (int)std::lround(font_px * PANGO_SCALE);
    const std::string key = std::to_string(size) + '\n' + text;
    if (LayoutPtr* l = layouts.find(key)) return l->get();
    LayoutPtr l(pango_layout_new(context));
    PangoFontDescription* desc = pango_font_description_from_string("Sans Bold");
    pango_font_description_set_absolute_size(desc, size);
    pango_layout_set_font_description(l.get(), desc);
    pango_font_description_free(desc);
    pango_layout_set_single_paragraph_mode(l.get(), TRUE);
    pango_layout_set_text(l.get(), text.data(), (int)text.size());
    return layouts.insert(key, std::move(l))->get();
  }
};

OverlayRenderer::OverlayRenderer() : impl_(new Impl) {
  impl_->font_map = pango_cairo_font_map_new();
  if (!impl_->font_map) throw std::runtime_error("Pango has no Cairo font map");
  impl_->context = pango_font_map_create_context(impl_->font_map);
  // Grey antialiasing (no subpixel colour fringes, which would tint the text on YUV) and
  // unhinted metrics, so widths scale with the frame height instead of snapping.
  cairo_font_options_t* opts = cairo_font_options_create();
  cairo_font_options_set_antialias(opts, CAIRO_ANTIALIAS_GRAY);
  cairo_font_options_set_hint_metrics(opts, CAIRO_HINT_METRICS_OFF);
  cairo_font_options_set_hint_style(opts, CAIRO_HINT_STYLE_SLIGHT);
  pango_cairo_context_set_font_options(impl_->context, opts);
  cairo_font_options_destroy(opts);
}

OverlayRenderer::~OverlayRenderer() {
  // The layouts hold the context: drop them first.
  impl_->layouts.clear();
  if (impl_->context) g_object_unref(impl_->context);
  if (impl_->font_map) g_object_unref(impl_->font_map);
}

size_t OverlayRenderer::drawn() const { return impl_->drawn; }
size_t OverlayRenderer::reused() const { return impl_->reused; }

int OverlayRenderer::unknown_glyphs(const std::string& text) {
  return pango_layout_get_unknown_glyphs_count(impl_->layout(sanitize(text), 32.0));
}

std::string overlay_line(const OverlayLabel& l, bool show_scores) {
  std::string t = sanitize(l.text);
  if (show_scores) {
    char buf[32];
    std::snprintf(buf, sizeof buf, " %.1f%%", l.score * 100.0);
    t += buf;
  }
  return t;
}

Box OverlayRenderer::results_box(int fw, int fh, const OverlayRegion& r, const OverlayStyle& s) {
  const int n = visible_lines(r, s);
  if (n <= 0 || fw <= 0 || fh <= 0) return {0, 0, 0, 0};
  const Metrics m = metrics_for(fh, s);
  int tw = 0;
  for (int i = 0; i < n; i++) {
    PangoRectangle logical;
    pango_layout_get_pixel_extents(impl_->layout(overlay_line(r.labels[i], s.show_scores), m.font_px), nullptr,
                                   &logical);
    tw = std::max(tw, logical.width);
  }
  int w = m.pad * 2 + tw + (m.bar_w ? m.bar_w + m.pad : 0);
  int h = m.pad * 2 + n * m.line_h;
  // The region, clipped to the frame.
  const int rx = std::clamp(r.x, 0, fw - 1), ry = std::clamp(r.y, 0, fh - 1);
  const int rw = std::clamp(r.w, 1, fw - rx), rh = std::clamp(r.h, 1, fh - ry);
  w = std::min(w, fw);
  h = std::min(h, fh);
  const bool right = s.position == Corner::TopRight || s.position == Corner::BottomRight;
  const bool bottom = s.position == Corner::BottomLeft || s.position == Corner::BottomRight;
  int x = right ? rx + rw - w : rx, y = bottom ? ry + rh - h : ry;
  if (s.placement == Placement::Beside) {
    const bool room_above = ry - h >= 0, room_below = ry + rh + h <= fh;
    if (bottom ? room_below : !room_above && room_below)
      y = ry + rh;
    else if (room_above)
      y = ry - h;
    else
      y = ry;  // a region as tall as the frame: inside, at its top
  }
  x = std::clamp(x, 0, fw - w);
  y = std::clamp(y, 0, fh - h);
  return {x, y, w, h};
}

std::vector<std::shared_ptr<const OverlayPicture>> OverlayRenderer::render(int fw, int fh, const OverlayRegion& r,
                                                                           const OverlayStyle& s) {
  std::vector<std::shared_ptr<const OverlayPicture>> out;
  const Box box = results_box(fw, fh, r, s);
  if (box.w <= 0 || box.h <= 0) return out;
  const Metrics m = metrics_for(fh, s);
  const int n = visible_lines(r, s);

  // What the picture shows, to the precision it shows it.
  std::vector<std::string> lines(n);
  std::vector<int> fills(n, 0);
  std::string key = std::to_string(box.x) + ',' + std::to_string(box.y) + ',' + std::to_string(box.w) + ',' +
                    std::to_string(box.h) + ',' + std::to_string(fh) + ',' + std::to_string(s.argb) + ',' +
                    std::to_string(s.font_scale) + (s.show_bars ? ",b" : ",-");
  for (int i = 0; i < n; i++) {
    lines[i] = overlay_line(r.labels[i], s.show_scores);
    // Scores come from any producer: NaN draws an empty bar.
    const float sc = std::isfinite(r.labels[i].score) ? std::clamp(r.labels[i].score, 0.f, 1.f)
                                                       : (r.labels[i].score > 0 ? 1.f : 0.f);
    if (m.bar_w) fills[i] = (int)std::lround((m.bar_w - 2) * sc);
    key += '\n' + std::to_string(fills[i]) + ' ' + lines[i];
  }
  if (auto* hit = impl_->pictures.find(key)) {
    impl_->reused++;
    out.push_back(*hit);
    return out;
  }

  auto pic = std::make_shared<OverlayPicture>();
  pic->at = box;
  pic->stride = cairo_format_stride_for_width(CAIRO_FORMAT_ARGB32, box.w);
  pic->pixels.assign((size_t)pic->stride * box.h, 0);
  cairo_surface_t* surface =
      cairo_image_surface_create_for_data(pic->pixels.data(), CAIRO_FORMAT_ARGB32, box.w, box.h, pic->stride);
  cairo_t* cr = cairo_create(surface);
  if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
    const std::string why = cairo_status_to_string(cairo_status(cr));
    cairo_destroy(cr);
    cairo_surface_destroy(surface);
    throw std::runtime_error("Cairo could not draw a " + std::to_string(box.w) + "x" + std::to_string(box.h) +
                             " picture: " + why);
  }
  const double ink_r = ((s.argb >> 16) & 0xFF) / 255.0, ink_g = ((s.argb >> 8) & 0xFF) / 255.0,
               ink_b = (s.argb & 0xFF) / 255.0;
  // Bars stay visible even with a fully transparent colour.
  const double bar_alpha = std::max(0.15, ((s.argb >> 24) & 0xFF) / 255.0);

  // A dark, mostly opaque background keeps the text legible on any picture.
  cairo_set_source_rgba(cr, 0, 0, 0, 0.7);
  cairo_paint(cr);
  for (int i = 0; i < n; i++) {
    const int top = m.pad + i * m.line_h;
    int x = m.pad;
    if (m.bar_w) {
      const int by = top + (m.line_h - m.bar_h) / 2;
      cairo_set_source_rgba(cr, ink_r, ink_g, ink_b, bar_alpha);
      cairo_rectangle(cr, x + 1, by + 1, fills[i], m.bar_h - 2);
      cairo_fill(cr);
      // A one-pixel outline on the pixel grid: the length of an empty bar still shows.
      cairo_set_source_rgb(cr, ink_r, ink_g, ink_b);
      cairo_set_line_width(cr, 1.0);
      cairo_rectangle(cr, x + 0.5, by + 0.5, m.bar_w - 1, m.bar_h - 1);
      cairo_stroke(cr);
      x += m.bar_w + m.pad;
    }
    PangoLayout* layout = impl_->layout(lines[i], m.font_px);
    PangoRectangle logical;
    pango_layout_get_pixel_extents(layout, nullptr, &logical);
    cairo_set_source_rgb(cr, ink_r, ink_g, ink_b);
    cairo_move_to(cr, x, top + (m.line_h - logical.height) / 2.0 - logical.y);
    pango_cairo_show_layout(cr, layout);
  }
  cairo_destroy(cr);
  cairo_surface_flush(surface);
  cairo_surface_destroy(surface);

  impl_->drawn++;
  std::shared_ptr<const OverlayPicture> done = std::move(pic);
  impl_->pictures.insert(key, done);
  out.push_back(std::move(done));
  return out;
}

std::vector<std::shared_ptr<const OverlayPicture>> OverlayRenderer::outline(int fw, int fh, const Box& region,
                                                                            int thickness, uint32_t argb) {
  std::vector<std::shared_ptr<const OverlayPicture>> out;
  // The region, clipped to the frame (in 64 bits: metas carry any guint).
  const long long x0 = std::clamp<long long>(region.x, 0, fw), y0 = std::clamp<long long>(region.y, 0, fh);
  const long long x1 = std::clamp<long long>((long long)region.x + region.w, 0, fw);
  const long long y1 = std::clamp<long long>((long long)region.y + region.h, 0, fh);
  if (x1 <= x0 || y1 <= y0) return out;
  const int x = (int)x0, y = (int)y0, w = (int)(x1 - x0), h = (int)(y1 - y0);
  const int t = std::max(1, std::min({thickness, (w + 1) / 2, (h + 1) / 2}));
  std::vector<Box> strips = {{x, y, w, t}, {x, y + h - t, w, t}};
  if (h - 2 * t > 0) {
    strips.push_back({x, y + t, t, h - 2 * t});
    strips.push_back({x + w - t, y + t, t, h - 2 * t});
  }
  if (h <= t) strips.resize(1);  // top and bottom are the same strip

  // Premultiplied, one native-endian word per pixel (Cairo's ARGB32).
  const uint32_t a = argb >> 24;
  const uint32_t word = (a << 24) | ((((argb >> 16) & 0xFF) * a / 255) << 16) |
                        ((((argb >> 8) & 0xFF) * a / 255) << 8) | ((argb & 0xFF) * a / 255);
  for (const Box& b : strips) {
    const std::string key = "edge " + std::to_string(b.x) + ',' + std::to_string(b.y) + ',' + std::to_string(b.w) +
                            ',' + std::to_string(b.h) + ',' + std::to_string(argb);
    if (auto* hit = impl_->pictures.find(key)) {
      impl_->reused++;
      out.push_back(*hit);
      continue;
    }
    auto pic = std::make_shared<OverlayPicture>();
    pic->at = b;
    pic->stride = b.w * 4;
    pic->pixels.resize((size_t)pic->stride * b.h);
    for (size_t i = 0; i < pic->pixels.size(); i += 4) std::memcpy(&pic->pixels[i], &word, 4);
    impl_->drawn++;
    std::shared_ptr<const OverlayPicture> done = std::move(pic);
    impl_->pictures.insert(key, done);
    out.push_back(std::move(done));
  }
  return out;
}

}  // namespace ta
