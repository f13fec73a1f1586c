// torchoverlay: what it draws and where, on every format, and that frames without
// results leave untouched. Results are attached with the meta API: no model needed.
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>
#include <pango/pangocairo.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "gsttorchclassificationmeta.h"

namespace {

struct Rect {
  int x0 = 1 << 30, y0 = 1 << 30, x1 = -1, y1 = -1;  // inclusive bounds of changed pixels
  bool empty() const { return x1 < 0; }
  int w() const { return x1 - x0 + 1; }
  int h() const { return y1 - y0 + 1; }
};

GstBuffer* make_frame(const GstVideoInfo& info) {
  GstBuffer* b = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
  GstMapInfo m;
  gst_buffer_map(b, &m, GST_MAP_WRITE);
  // Mid-grey with a gentle pattern, so a dark box and white text both change pixels.
  for (gsize i = 0; i < m.size; i++) m.data[i] = (guint8)(110 + (i % 37));
  gst_buffer_unmap(b, &m);
  return b;
}

void add_result(GstBuffer* b, guint x, guint y, guint w, guint h) {
  GstTorchClassificationMeta* m = gst_buffer_add_torch_classification_meta(b, "resnet50", x, y, w, h);
  gst_torch_classification_meta_add_label(m, 281, "tabby", 0.81f);
  gst_torch_classification_meta_add_label(m, 285, "Egyptian cat", 0.09f);
  gst_torch_classification_meta_add_label(m, 282, "tiger cat", 0.05f);
}

// Bounding box of the pixels of plane 0 that differ between a and b (in pixels).
Rect changed(const GstVideoInfo& info, GstBuffer* a, GstBuffer* b, size_t* outside_other_planes = nullptr) {
  GstVideoFrame fa, fb;
  EXPECT_TRUE(gst_video_frame_map(&fa, (GstVideoInfo*)&info, a, GST_MAP_READ));
  EXPECT_TRUE(gst_video_frame_map(&fb, (GstVideoInfo*)&info, b, GST_MAP_READ));
  Rect r;
  const int w = GST_VIDEO_INFO_WIDTH(&info), h = GST_VIDEO_INFO_HEIGHT(&info);
  const int ps = GST_VIDEO_FRAME_COMP_PSTRIDE(&fa, 0);
  for (int y = 0; y < h; y++) {
    const guint8* ra = (const guint8*)GST_VIDEO_FRAME_PLANE_DATA(&fa, 0) + y * GST_VIDEO_FRAME_PLANE_STRIDE(&fa, 0);
    const guint8* rb = (const guint8*)GST_VIDEO_FRAME_PLANE_DATA(&fb, 0) + y * GST_VIDEO_FRAME_PLANE_STRIDE(&fb, 0);
    for (int x = 0; x < w; x++)
      if (memcmp(ra + x * ps, rb + x * ps, ps) != 0) {
        r.x0 = std::min(r.x0, x);
        r.y0 = std::min(r.y0, y);
        r.x1 = std::max(r.x1, x);
        r.y1 = std::max(r.y1, y);
      }
  }
  if (outside_other_planes) {
    // Chroma samples changed outside the luma box (scaled to chroma resolution, +1 margin).
    *outside_other_planes = 0;
    for (guint p = 1; p < GST_VIDEO_FRAME_N_PLANES(&fa); p++) {
      const int cw = GST_VIDEO_FRAME_COMP_WIDTH(&fa, p), chh = GST_VIDEO_FRAME_COMP_HEIGHT(&fa, p);
      const int cps = GST_VIDEO_FRAME_COMP_PSTRIDE(&fa, p);
      for (int y = 0; y < chh; y++)
        for (int x = 0; x < cw; x++) {
          const guint8* pa = (const guint8*)GST_VIDEO_FRAME_PLANE_DATA(&fa, p) + y * GST_VIDEO_FRAME_PLANE_STRIDE(&fa, p) + x * cps;
          const guint8* pb = (const guint8*)GST_VIDEO_FRAME_PLANE_DATA(&fb, p) + y * GST_VIDEO_FRAME_PLANE_STRIDE(&fb, p) + x * cps;
          const bool inside = !r.empty() && x >= r.x0 / 2 - 1 && x <= r.x1 / 2 + 1 && y >= r.y0 / 2 - 1 && y <= r.y1 / 2 + 1;
          if (!inside && memcmp(pa, pb, cps) != 0) (*outside_other_planes)++;
        }
    }
  }
  gst_video_frame_unmap(&fa);
  gst_video_frame_unmap(&fb);
  return r;
}

// Whether the fonts installed here have a glyph for every character of `text` (the
// element lays text out in "Sans Bold" with fontconfig's fallback, as this does).
bool fonts_cover(const std::string& text) {
  PangoFontMap* fm = pango_cairo_font_map_new();
  PangoContext* ctx = pango_font_map_create_context(fm);
  PangoLayout* l = pango_layout_new(ctx);
  PangoFontDescription* d = pango_font_description_from_string("Sans Bold 20");
  pango_layout_set_font_description(l, d);
  pango_layout_set_text(l, text.c_str(), -1);
  const bool ok = pango_layout_get_unknown_glyphs_count(l) == 0;
  pango_font_description_free(d);
  g_object_unref(l);
  g_object_unref(ctx);
  g_object_unref(fm);
  return ok;
}

struct OverlayRun {
  GstVideoInfo info;
  GstBuffer* in = nullptr;
  GstBuffer* out = nullptr;
  ~OverlayRun() {
    if (in) gst_buffer_unref(in);
    if (out) gst_buffer_unref(out);
  }
};

// Pushes one frame (with a result at x,y,w,h unless w == 0) through torchoverlay.
// label: one result with that label only, instead of add_result's three.
// composes: the harness's sink says in the ALLOCATION query that it takes
// GstVideoOverlayCompositionMeta, as a sink that composes in hardware does.
void overlay(OverlayRun* r, const std::string& format, int width, int height, const std::string& props,
             guint x, guint y, guint w, guint h, const char* label = nullptr, bool composes = false) {
  GstHarness* hn = gst_harness_new_parse(("torchoverlay " + props).c_str());
  if (composes) gst_harness_add_propose_allocation_meta(hn, GST_VIDEO_OVERLAY_COMPOSITION_META_API_TYPE, nullptr);
  const std::string caps = "video/x-raw,format=" + format + ",width=" + std::to_string(width) +
                           ",height=" + std::to_string(height) + ",framerate=30/1";
  gst_harness_set_src_caps_str(hn, caps.c_str());
  gst_video_info_set_format(&r->info, gst_video_format_from_string(format.c_str()), width, height);
  GstBuffer* b = make_frame(r->info);
  if (w && label) {
    GstTorchClassificationMeta* m = gst_buffer_add_torch_classification_meta(b, "resnet50", x, y, w, h);
    gst_torch_classification_meta_add_label(m, 1, label, 0.5f);
  } else if (w) {
    add_result(b, x, y, w, h);
  }
  r->in = gst_buffer_copy_deep(b);
  r->out = gst_harness_push_and_pull(hn, b);
  ASSERT_TRUE(r->out);
  gst_harness_teardown(hn);
}

}  // namespace

TEST(TorchOverlay, DrawsInsideTheBoxOnlyOnEveryFormat) {
  for (const char* fmt : {"RGB", "BGR", "RGBA", "BGRA", "RGBx", "BGRx", "xRGB", "xBGR", "ARGB", "ABGR", "I420", "NV12"}) {
    SCOPED_TRACE(fmt);
    OverlayRun r;
    overlay(&r, fmt, 640, 360, "", 0, 0, 640, 360);
    size_t chroma_outside = 0;
    Rect c = changed(r.info, r.in, r.out, &chroma_outside);
    ASSERT_FALSE(c.empty()) << "nothing drawn";
    // Top-left of the frame, a box of three lines whose height follows the frame height.
    EXPECT_EQ(c.x0, 0);
    EXPECT_EQ(c.y0, 0);
    EXPECT_LT(c.w(), 640 / 2);
    EXPECT_GT(c.w(), 100);
    EXPECT_GT(c.h(), 3 * 360 / 22 - 2);
    EXPECT_LT(c.h(), 3 * 360 / 22 + 360 / 22);
    EXPECT_EQ(chroma_outside, 0u);
    // Text is drawn: the box is not one flat colour (bright text on a dark box).
    GstVideoFrame f;
    ASSERT_TRUE(gst_video_frame_map(&f, &r.info, r.out, GST_MAP_READ));
    int bright = 0, dark = 0;
    const int ps = GST_VIDEO_FRAME_COMP_PSTRIDE(&f, 0);
    const int comp = GST_VIDEO_FORMAT_INFO_IS_YUV(r.info.finfo) ? 0 : GST_VIDEO_FRAME_COMP_OFFSET(&f, 1);  // G or Y
    for (int y = c.y0; y <= c.y1; y++)
      for (int x = c.x0; x <= c.x1; x++) {
        const guint8 v = ((const guint8*)GST_VIDEO_FRAME_PLANE_DATA(&f, 0))[y * GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0) + x * ps + comp];
        bright += v > 200;
        dark += v < 90;
      }
    gst_video_frame_unmap(&f);
    EXPECT_GT(bright, 200) << "no text";
    EXPECT_GT(dark, c.w() * c.h() / 3) << "no dark box";
  }
}

TEST(TorchOverlay, FramesWithoutResultsAreByteIdentical) {
  for (const char* fmt : {"RGB", "BGRA", "I420", "NV12"}) {
    OverlayRun r;
    overlay(&r, fmt, 320, 240, "", 0, 0, 0, 0);
    GstMapInfo a, b;
    gst_buffer_map(r.in, &a, GST_MAP_READ);
    gst_buffer_map(r.out, &b, GST_MAP_READ);
    ASSERT_EQ(a.size, b.size);
    EXPECT_EQ(memcmp(a.data, b.data, a.size), 0) << fmt;
    gst_buffer_unmap(r.in, &a);
    gst_buffer_unmap(r.out, &b);
  }
}

TEST(TorchOverlay, BoxSizeFollowsTheFrameHeight) {
  OverlayRun small, big;
  overlay(&small, "NV12", 320, 240, "", 0, 0, 320, 240);
  overlay(&big, "NV12", 3840, 2160, "", 0, 0, 3840, 2160);
  Rect s = changed(small.info, small.in, small.out), b = changed(big.info, big.in, big.out);
  ASSERT_FALSE(s.empty());
  ASSERT_FALSE(b.empty());
  const double ratio = (double)b.h() / s.h();
  EXPECT_GT(ratio, 9.0 * 0.85);
  EXPECT_LT(ratio, 9.0 * 1.15);
  EXPECT_GT((double)b.w() / s.w(), 9.0 * 0.8);
  // At 240p a line is still tall enough to read (>= 10 px).
  EXPECT_GE(s.h(), 3 * 10);
}

TEST(TorchOverlay, RegionCornerAndPosition) {
  OverlayRun r;
  overlay(&r, "RGBx", 640, 480, "position=bottom-right top-k=2", 100, 50, 400, 300);
  Rect c = changed(r.info, r.in, r.out);
  ASSERT_FALSE(c.empty());
  EXPECT_EQ(c.x1, 100 + 400 - 1);  // flush with the region's bottom-right corner
  EXPECT_EQ(c.y1, 50 + 300 - 1);
  EXPECT_GE(c.x0, 100);
  EXPECT_GE(c.y0, 50);
  // Two lines, not three.
  EXPECT_LT(c.h(), 3 * 480 / 22);

  OverlayRun tl;
  overlay(&tl, "RGBx", 640, 480, "", 100, 50, 400, 300);
  Rect d = changed(tl.info, tl.in, tl.out);
  EXPECT_EQ(d.x0, 100);
  EXPECT_EQ(d.y0, 50);
}

TEST(TorchOverlay, OptionsChangeWhatIsDrawn) {
  OverlayRun full, no_bars, no_scores, big;
  overlay(&full, "BGR", 640, 480, "", 0, 0, 640, 480);
  overlay(&no_bars, "BGR", 640, 480, "show-bars=false", 0, 0, 640, 480);
  overlay(&no_scores, "BGR", 640, 480, "show-scores=false", 0, 0, 640, 480);
  overlay(&big, "BGR", 640, 480, "font-scale=2.0", 0, 0, 640, 480);
  Rect f = changed(full.info, full.in, full.out), nb = changed(no_bars.info, no_bars.in, no_bars.out),
       ns = changed(no_scores.info, no_scores.in, no_scores.out), bg = changed(big.info, big.in, big.out);
  EXPECT_LT(nb.w(), f.w());
  EXPECT_LT(ns.w(), f.w());
  EXPECT_GT(bg.h(), f.h() * 17 / 10);
}

TEST(TorchOverlay, ColorIsTheTextColour) {
  OverlayRun r;
  overlay(&r, "RGB", 640, 480, "color=0xFFFF0000 show-bars=false", 0, 0, 640, 480);
  Rect c = changed(r.info, r.in, r.out);
  GstVideoFrame f;
  ASSERT_TRUE(gst_video_frame_map(&f, &r.info, r.out, GST_MAP_READ));
  int red = 0, other_bright = 0;
  for (int y = c.y0; y <= c.y1; y++)
    for (int x = c.x0; x <= c.x1; x++) {
      const guint8* p = (const guint8*)GST_VIDEO_FRAME_PLANE_DATA(&f, 0) + y * GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0) + x * 3;
      red += p[0] > 200 && p[1] < 80 && p[2] < 80;
      other_bright += p[1] > 200 || p[2] > 200;
    }
  gst_video_frame_unmap(&f);
  EXPECT_GT(red, 100);
  EXPECT_EQ(other_bright, 0);
}

// UTF-8 labels are drawn as their own glyphs. The old Hershey font drew every byte of a
// non-ASCII character as '?': each label is compared with that rendering, which must differ
// where the text is, and the text must be there (bright pixels right of the padding).
TEST(TorchOverlay, NonAsciiLabelsAreDrawn) {
  struct Case {
    const char* label;
    const char* as_question_marks;
  };
  for (const Case& c : {Case{"Egyptian cat", nullptr}, Case{"Straßenbahn", "Stra??enbahn"}, Case{"猫", "???"}}) {
    SCOPED_TRACE(c.label);
    // The CJK case comes last: skipping it skips nothing else.
    if (!fonts_cover(c.label)) {
      GTEST_SKIP() << "no installed font has a glyph for every character of \"" << c.label
                   << "\" (Debian: fonts-droid-fallback or fonts-noto-cjk for CJK)";
    }
    OverlayRun r;
    overlay(&r, "RGB", 640, 480, "show-bars=false show-scores=false top-k=1", 0, 0, 640, 480, c.label);
    Rect box = changed(r.info, r.in, r.out);
    ASSERT_FALSE(box.empty()) << "nothing drawn";
    const int line_h = 480 / 22, pad = line_h / 4;
    // Text pixels: white on the dark box, inside the padding.
    GstVideoFrame f;
    ASSERT_TRUE(gst_video_frame_map(&f, &r.info, r.out, GST_MAP_READ));
    int bright = 0;
    Rect text;
    for (int y = box.y0; y <= box.y1; y++)
      for (int x = box.x0; x <= box.x1; x++) {
        const guint8* p = (const guint8*)GST_VIDEO_FRAME_PLANE_DATA(&f, 0) + y * GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0) + x * 3;
        if (p[0] > 200 && p[1] > 200 && p[2] > 200) {
          bright++;
          text.x0 = std::min(text.x0, x);
          text.y0 = std::min(text.y0, y);
          text.x1 = std::max(text.x1, x);
          text.y1 = std::max(text.y1, y);
        }
      }
    gst_video_frame_unmap(&f);
    EXPECT_GT(bright, 20) << "no text";
    ASSERT_FALSE(text.empty());
    EXPECT_GE(text.x0, pad - 1);
    EXPECT_LE(text.x1, box.x1 - pad + 1);
    EXPECT_GT(text.h(), line_h / 3) << "glyphs are a line tall, not a dot";
    // One glyph of the CJK label is at least half a line wide (a '?' is narrower).
    EXPECT_GT(text.w(), line_h / 2);
    if (!c.as_question_marks) continue;
    OverlayRun q;
    overlay(&q, "RGB", 640, 480, "show-bars=false show-scores=false top-k=1", 0, 0, 640, 480, c.as_question_marks);
    GstMapInfo a, b;
    gst_buffer_map(r.out, &a, GST_MAP_READ);
    gst_buffer_map(q.out, &b, GST_MAP_READ);
    EXPECT_NE(memcmp(a.data, b.data, a.size), 0) << "drawn like its question marks";
    gst_buffer_unmap(r.out, &a);
    gst_buffer_unmap(q.out, &b);
  }
}

// A downstream that composes (says so in the ALLOCATION query) gets the pixels untouched
// and the composition attached; blending that composition gives what torchoverlay blends
// for a downstream that does not.
TEST(TorchOverlay, AttachesTheCompositionWhenDownstreamComposes) {
  for (const char* fmt : {"BGRx", "RGB", "I420", "NV12"}) {
    SCOPED_TRACE(fmt);
    OverlayRun attached, blended;
    overlay(&attached, fmt, 640, 360, "", 0, 0, 640, 360, nullptr, true);
    overlay(&blended, fmt, 640, 360, "", 0, 0, 640, 360, nullptr, false);
    EXPECT_TRUE(changed(attached.info, attached.in, attached.out).empty()) << "pixels touched";
    GstVideoOverlayCompositionMeta* m = gst_buffer_get_video_overlay_composition_meta(attached.out);
    ASSERT_NE(m, nullptr) << "no composition attached";
    ASSERT_GE(gst_video_overlay_composition_n_rectangles(m->overlay), 1u);
    EXPECT_EQ(gst_buffer_get_video_overlay_composition_meta(blended.out), nullptr);
    gint x, y;
    guint w, h;
    gst_video_overlay_rectangle_get_render_rectangle(gst_video_overlay_composition_get_rectangle(m->overlay, 0), &x, &y,
                                                     &w, &h);
    EXPECT_EQ(x, 0);
    EXPECT_EQ(y, 0);
    Rect c = changed(blended.info, blended.in, blended.out);
    EXPECT_EQ((int)w, c.w());
    EXPECT_EQ((int)h, c.h());

    // What the sink would show, composed here on the CPU.
    GstBuffer* composed = gst_buffer_copy_deep(attached.out);
    GstVideoFrame f;
    ASSERT_TRUE(gst_video_frame_map(&f, &attached.info, composed, GST_MAP_READWRITE));
    ASSERT_TRUE(gst_video_overlay_composition_blend(m->overlay, &f));
    gst_video_frame_unmap(&f);
    GstMapInfo a, b;
    gst_buffer_map(composed, &a, GST_MAP_READ);
    gst_buffer_map(blended.out, &b, GST_MAP_READ);
    ASSERT_EQ(a.size, b.size);
    int worst = 0;
    for (gsize i = 0; i < a.size; i++) worst = std::max(worst, std::abs((int)a.data[i] - (int)b.data[i]));
    EXPECT_EQ(worst, 0);
    gst_buffer_unmap(composed, &a);
    gst_buffer_unmap(blended.out, &b);
    gst_buffer_unref(composed);
  }
}

// Something upstream attached its own composition (a subtitle): ours is added to it.
TEST(TorchOverlay, KeepsACompositionAttachedUpstream) {
  GstHarness* hn = gst_harness_new("torchoverlay");
  gst_harness_add_propose_allocation_meta(hn, GST_VIDEO_OVERLAY_COMPOSITION_META_API_TYPE, nullptr);
  gst_harness_set_src_caps_str(hn, "video/x-raw,format=RGBA,width=320,height=240,framerate=30/1");
  GstVideoInfo info;
  gst_video_info_set_format(&info, GST_VIDEO_FORMAT_RGBA, 320, 240);
  GstBuffer* b = make_frame(info);
  add_result(b, 0, 0, 320, 240);
  GstBuffer* px = gst_buffer_new_allocate(nullptr, 16 * 16 * 4, nullptr);
  gst_buffer_memset(px, 0, 0xFF, 16 * 16 * 4);
  gst_buffer_add_video_meta(px, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_OVERLAY_COMPOSITION_FORMAT_RGB, 16, 16);
  GstVideoOverlayRectangle* sub = gst_video_overlay_rectangle_new_raw(px, 100, 200, 16, 16, GST_VIDEO_OVERLAY_FORMAT_FLAG_NONE);
  GstVideoOverlayComposition* comp = gst_video_overlay_composition_new(sub);
  gst_buffer_add_video_overlay_composition_meta(b, comp);
  GstBuffer* out = gst_harness_push_and_pull(hn, b);
  ASSERT_TRUE(out);
  GstVideoOverlayCompositionMeta* m = gst_buffer_get_video_overlay_composition_meta(out);
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(gst_video_overlay_composition_n_rectangles(m->overlay), 2u);
  // The upstream rectangle (a copy: the composition was copied to add ours) comes first.
  gint x, y;
  guint w, h;
  gst_video_overlay_rectangle_get_render_rectangle(gst_video_overlay_composition_get_rectangle(m->overlay, 0), &x, &y, &w, &h);
  EXPECT_EQ(x, 100);
  EXPECT_EQ(y, 200);
  EXPECT_EQ(w, 16u);
  gst_video_overlay_rectangle_get_render_rectangle(gst_video_overlay_composition_get_rectangle(m->overlay, 1), &x, &y, &w, &h);
  EXPECT_EQ(x, 0);
  EXPECT_EQ(y, 0);
  EXPECT_GT(w, 100u);
  gst_buffer_unref(out);
  gst_video_overlay_composition_unref(comp);
  gst_video_overlay_rectangle_unref(sub);
  gst_buffer_unref(px);
  gst_harness_teardown(hn);
}

// A still scene: the same results on every frame are drawn once and reused, and the
// output stays what a fresh element draws.
TEST(TorchOverlay, RepeatedResultsDrawTheSame) {
  GstHarness* hn = gst_harness_new("torchoverlay");
  gst_harness_set_src_caps_str(hn, "video/x-raw,format=I420,width=640,height=360,framerate=30/1");
  GstVideoInfo info;
  gst_video_info_set_format(&info, GST_VIDEO_FORMAT_I420, 640, 360);
  std::vector<GstBuffer*> outs;
  for (int i = 0; i < 4; i++) {
    GstBuffer* b = make_frame(info);
    if (i == 2) {  // other scores in between
      GstTorchClassificationMeta* m = gst_buffer_add_torch_classification_meta(b, "resnet50", 0, 0, 640, 360);
      gst_torch_classification_meta_add_label(m, 1, "tabby", 0.33f);
    } else {
      add_result(b, 0, 0, 640, 360);
    }
    outs.push_back(gst_harness_push_and_pull(hn, b));
    ASSERT_TRUE(outs.back());
  }
  GstMapInfo m0, m1, m2, m3;
  gst_buffer_map(outs[0], &m0, GST_MAP_READ);
  gst_buffer_map(outs[1], &m1, GST_MAP_READ);
  gst_buffer_map(outs[2], &m2, GST_MAP_READ);
  gst_buffer_map(outs[3], &m3, GST_MAP_READ);
  EXPECT_EQ(memcmp(m0.data, m1.data, m0.size), 0);
  EXPECT_NE(memcmp(m0.data, m2.data, m0.size), 0);
  EXPECT_EQ(memcmp(m0.data, m3.data, m0.size), 0);
  gst_buffer_unmap(outs[0], &m0);
  gst_buffer_unmap(outs[1], &m1);
  gst_buffer_unmap(outs[2], &m2);
  gst_buffer_unmap(outs[3], &m3);
  for (GstBuffer* o : outs) gst_buffer_unref(o);
  gst_harness_teardown(hn);
}

// ---- Regions of interest ----

namespace {

// One RGB frame through torchoverlay with the metas `setup` attaches; the rectangles of
// the composition when `composes`.
struct RoiRun : OverlayRun {
  std::vector<std::array<int, 4>> rects;  // x, y, w, h of each overlay rectangle (composes)
};

template <typename Setup>
void overlay_rois(RoiRun* r, int width, int height, const std::string& props, Setup setup, bool composes = false) {
  GstHarness* hn = gst_harness_new_parse(("torchoverlay " + props).c_str());
  if (composes) gst_harness_add_propose_allocation_meta(hn, GST_VIDEO_OVERLAY_COMPOSITION_META_API_TYPE, nullptr);
  gst_harness_set_src_caps_str(hn, ("video/x-raw,format=RGB,width=" + std::to_string(width) +
                                    ",height=" + std::to_string(height) + ",framerate=30/1").c_str());
  gst_video_info_set_format(&r->info, GST_VIDEO_FORMAT_RGB, width, height);
  GstBuffer* b = make_frame(r->info);
  setup(b);
  r->in = gst_buffer_copy_deep(b);
  r->out = gst_harness_push_and_pull(hn, b);
  ASSERT_TRUE(r->out);
  if (GstVideoOverlayCompositionMeta* m = gst_buffer_get_video_overlay_composition_meta(r->out)) {
    for (guint i = 0; i < gst_video_overlay_composition_n_rectangles(m->overlay); i++) {
      gint x, y;
      guint w, h;
      gst_video_overlay_rectangle_get_render_rectangle(gst_video_overlay_composition_get_rectangle(m->overlay, i), &x,
                                                       &y, &w, &h);
      r->rects.push_back({x, y, (int)w, (int)h});
    }
  }
  gst_harness_teardown(hn);
}

GstTorchClassificationMeta* add_region_result(GstBuffer* b, guint x, guint y, guint w, guint h, gint id,
                                              const char* type = "face") {
  GstTorchClassificationMeta* m = gst_buffer_add_torch_classification_meta(b, "resnet50", x, y, w, h);
  gst_torch_classification_meta_add_label(m, 281, "tabby", 0.81f);
  gst_torch_classification_meta_add_label(m, 285, "Egyptian cat", 0.09f);
  gst_torch_classification_meta_set_roi(m, g_quark_from_string(type), id);
  return m;
}

GstVideoRegionOfInterestMeta* add_roi(GstBuffer* b, const char* type, guint x, guint y, guint w, guint h, gint id) {
  GstVideoRegionOfInterestMeta* m = gst_buffer_add_video_region_of_interest_meta(b, type, x, y, w, h);
  m->id = id;
  return m;
}

const guint8* px(GstVideoFrame* f, int x, int y) {
  return (const guint8*)GST_VIDEO_FRAME_PLANE_DATA(f, 0) + y * GST_VIDEO_FRAME_PLANE_STRIDE(f, 0) + x * 3;
}

// Changed pixels in [x0, x1) x [y0, y1) and how many of them are of colour rgb.
struct Count {
  int changed = 0, of_colour = 0;
};
Count count(const RoiRun& r, int x0, int y0, int x1, int y1, guint32 rgb) {
  GstVideoFrame a, b;
  Count c;
  EXPECT_TRUE(gst_video_frame_map(&a, (GstVideoInfo*)&r.info, r.in, GST_MAP_READ));
  EXPECT_TRUE(gst_video_frame_map(&b, (GstVideoInfo*)&r.info, r.out, GST_MAP_READ));
  for (int y = std::max(0, y0); y < std::min(y1, GST_VIDEO_INFO_HEIGHT(&r.info)); y++)
    for (int x = std::max(0, x0); x < std::min(x1, GST_VIDEO_INFO_WIDTH(&r.info)); x++) {
      const guint8 *p = px(&a, x, y), *q = px(&b, x, y);
      if (memcmp(p, q, 3) == 0) continue;
      c.changed++;
      c.of_colour += q[0] == ((rgb >> 16) & 0xFF) && q[1] == ((rgb >> 8) & 0xFF) && q[2] == (rgb & 0xFF);
    }
  gst_video_frame_unmap(&a);
  gst_video_frame_unmap(&b);
  return c;
}

const guint32 kBox = 0x00E000, kRoi = 0xFFB000;  // the default box-color and roi-color

}  // namespace

// A classified region: its outline in box-color, its labels beside (above) the box, and
// the pixels inside the box untouched, so the object stays visible.
TEST(TorchOverlay, RegionBoxWithLabelsBesideIt) {
  RoiRun r;
  overlay_rois(&r, 640, 480, "", [](GstBuffer* b) { add_region_result(b, 200, 200, 160, 120, 0); });
  const int t = std::max(2, 480 / 240);
  // The outline: every pixel of the edges, nothing of the inside.
  const Count top = count(r, 200, 200, 360, 200 + t, kBox), left = count(r, 200, 200, 200 + t, 320, kBox);
  EXPECT_EQ(top.of_colour, 160 * t);
  EXPECT_EQ(left.of_colour, 120 * t);
  EXPECT_EQ(count(r, 200, 320 - t, 360, 320, kBox).of_colour, 160 * t) << "bottom edge";
  EXPECT_EQ(count(r, 360 - t, 200, 360, 320, kBox).of_colour, 120 * t) << "right edge";
  EXPECT_EQ(count(r, 200 + t, 200 + t, 360 - t, 320 - t, kBox).changed, 0) << "inside the box";
  // The labels: a box of two lines right above the region, starting at its left edge.
  const Rect all = changed(r.info, r.in, r.out);
  EXPECT_EQ(all.x0, 200);
  EXPECT_LT(all.y0, 200);
  EXPECT_GE(all.y0, 200 - 2 * 480 / 22 - 480 / 22);
  const Count above = count(r, 0, 0, 640, 200, 0);
  EXPECT_GT(above.changed, 2 * 480 / 22 * 100) << "no labels above the box";
  EXPECT_EQ(count(r, 0, 320, 640, 480, 0).changed, 0) << "nothing below the box";
  // position=bottom-left puts them below.
  RoiRun below;
  overlay_rois(&below, 640, 480, "position=bottom-left", [](GstBuffer* b) { add_region_result(b, 200, 200, 160, 120, 0); });
  EXPECT_EQ(count(below, 0, 0, 640, 200, 0).changed, 0);
  EXPECT_GT(count(below, 0, 320, 640, 480, 0).changed, 2 * 480 / 22 * 100);
}

// Boxes at the borders: the labels move to the side with room and stay whole inside the
// frame (the composition's rectangles all lie in it, the labels as wide as in the middle).
TEST(TorchOverlay, RegionLabelsStayInsideTheFrame) {
  auto label_width = [](const RoiRun& r) {
    int w = 0;
    for (const auto& a : r.rects) w = std::max(w, a[2] > 40 && a[3] > 10 ? a[2] : 0);
    return w;
  };
  RoiRun middle;
  overlay_rois(&middle, 640, 480, "", [](GstBuffer* b) { add_region_result(b, 300, 200, 40, 40, 0); }, true);
  const int want = label_width(middle);
  ASSERT_GT(want, 60);
  struct Case {
    guint x, y, w, h;
  };
  for (const Case& c : {Case{0, 0, 40, 40}, Case{600, 0, 40, 40}, Case{600, 440, 40, 40}, Case{0, 440, 40, 40},
                        Case{0, 0, 640, 480}, Case{630, 470, 100, 100}}) {
    SCOPED_TRACE(std::to_string(c.x) + "," + std::to_string(c.y) + "," + std::to_string(c.w) + "," + std::to_string(c.h));
    RoiRun r;
    overlay_rois(&r, 640, 480, "", [&](GstBuffer* b) { add_region_result(b, c.x, c.y, c.w, c.h, 3); }, true);
    ASSERT_GE(r.rects.size(), 3u);
    for (const auto& a : r.rects) {
      EXPECT_GE(a[0], 0);
      EXPECT_GE(a[1], 0);
      EXPECT_LE(a[0] + a[2], 640);
      EXPECT_LE(a[1] + a[3], 480);
    }
    EXPECT_EQ(label_width(r), want) << "labels cut";
    // Blended, the labels are there too.
    RoiRun blended;
    overlay_rois(&blended, 640, 480, "", [&](GstBuffer* b) { add_region_result(b, c.x, c.y, c.w, c.h, 3); });
    EXPECT_GE(changed(blended.info, blended.in, blended.out).w(), std::min<int>(want, 640));
  }
}

// ROI metas without a result (skipped regions, other types): thin outlines in roi-color
// with their type as a caption; none with show-rois=false. A classified ROI is drawn once,
// as a result.
TEST(TorchOverlay, UnclassifiedRoisArePlainBoxes) {
  RoiRun r;
  overlay_rois(&r, 640, 480, "", [](GstBuffer* b) {
    add_roi(b, "face", 100, 100, 80, 80, 0);                 // classified below
    add_region_result(b, 100, 100, 80, 80, 0);
    add_roi(b, "car", 300, 300, 120, 60, 1);                 // no result
  });
  const int thin = std::max(1, 480 / 480);
  EXPECT_EQ(count(r, 300, 300, 420, 300 + thin, kRoi).of_colour, 120 * thin) << "plain box top edge";
  EXPECT_EQ(count(r, 300, 300, 300 + thin, 360, kRoi).of_colour, 60 * thin) << "plain box left edge";
  EXPECT_EQ(count(r, 300 + thin, 300 + thin, 420 - thin, 360 - thin, 0).changed, 0) << "inside the plain box";
  // Its caption: a small box above it, in roi-color text.
  const Count caption = count(r, 300, 260, 420, 300, kRoi);
  EXPECT_GT(caption.changed, 100);
  EXPECT_LT(caption.changed, 120 * 40);
  // The classified ROI: green, no amber.
  EXPECT_EQ(count(r, 100, 100, 180, 102, kBox).of_colour, 160);
  EXPECT_EQ(count(r, 80, 60, 200, 200, kRoi).of_colour, 0) << "a classified ROI drawn as a plain one too";

  // Only ROI metas, no result at all: still drawn.
  RoiRun only;
  overlay_rois(&only, 320, 240, "roi-color=0xFF0000FF", [](GstBuffer* b) { add_roi(b, "person", 10, 10, 50, 100, 4); });
  EXPECT_EQ(count(only, 10, 10, 60, 11, 0x0000FF).of_colour, 50);
  // A ROI that torchclassify marked with its classification param counts as classified.
  RoiRun marked;
  overlay_rois(&marked, 320, 240, "", [](GstBuffer* b) {
    GstVideoRegionOfInterestMeta* m = add_roi(b, "person", 10, 10, 50, 100, 4);
    gst_video_region_of_interest_meta_add_param(m, gst_structure_new("classification", "label", G_TYPE_STRING, "x", nullptr));
  });
  EXPECT_EQ(count(marked, 0, 0, 320, 240, 0).changed, 0);

  RoiRun off;
  overlay_rois(&off, 320, 240, "show-rois=false", [](GstBuffer* b) { add_roi(b, "person", 10, 10, 50, 100, 4); });
  GstMapInfo a, b;
  gst_buffer_map(off.in, &a, GST_MAP_READ);
  gst_buffer_map(off.out, &b, GST_MAP_READ);
  EXPECT_EQ(memcmp(a.data, b.data, a.size), 0) << "show-rois=false drew";
  gst_buffer_unmap(off.in, &a);
  gst_buffer_unmap(off.out, &b);
}

// Regions of absurd coordinates and sizes: clipped, nothing crashes.
TEST(TorchOverlay, RegionsOutsideOrHuge) {
  RoiRun r;
  overlay_rois(&r, 320, 240, "", [](GstBuffer* b) {
    add_region_result(b, 5000, 5000, 10, 10, 0);
    add_region_result(b, 0, 0, G_MAXUINT, G_MAXUINT, 1);
    add_region_result(b, 100, 100, 0, 0, 2);
    add_roi(b, "face", G_MAXUINT - 5, 3, 100, 100, 3);
    add_roi(b, "", 10, 10, 1, 1, 4);
  }, true);
  for (const auto& a : r.rects) {
    EXPECT_GE(a[0], 0);
    EXPECT_GE(a[1], 0);
    EXPECT_LE(a[0] + a[2], 320);
    EXPECT_LE(a[1] + a[3], 240);
  }
  // A ROI that starts left of the frame (x wrapped from -10): clipped, drawn from x = 0.
  RoiRun left;
  overlay_rois(&left, 320, 240, "", [](GstBuffer* b) { add_roi(b, "car", (guint)-10, 50, 60, 40, 0); });
  EXPECT_EQ(count(left, 0, 50, 50, 51, kRoi).of_colour, 50);
  EXPECT_EQ(count(left, 49, 50, 50, 90, kRoi).of_colour, 40) << "right edge at x = 49";
  // The whole-frame region's outline runs along the frame's edges.
  RoiRun full;
  overlay_rois(&full, 320, 240, "", [](GstBuffer* b) { add_region_result(b, 0, 0, G_MAXUINT, G_MAXUINT, 1); });
  EXPECT_EQ(count(full, 0, 239, 320, 240, kBox).of_colour, 320);
}

// A flood of ROI metas (10,000 on one frame, none classified): drawn in bounded time, the
// first 256 only; a classified region among them is still drawn.
TEST(TorchOverlay, FloodOfRoisIsBounded) {
  RoiRun r;
  const gint64 t0 = g_get_monotonic_time();
  overlay_rois(&r, 640, 480, "", [](GstBuffer* b) {
    for (int i = 0; i < 10000; i++) add_roi(b, "spam", (guint)(i % 600), (guint)(i % 440), 40, 40, i);
    add_roi(b, "face", 500, 300, 60, 60, 10000);
    add_region_result(b, 500, 300, 60, 60, 10000);
  }, true);
  const double seconds = (g_get_monotonic_time() - t0) / 1e6;
  // 256 boxes of up to 4 edges and a caption each, plus the region's outline and labels.
  EXPECT_LE(r.rects.size(), 256u * 5 + 5);
  EXPECT_GE(r.rects.size(), 256u * 4);
  bool face = false;
  for (const auto& a : r.rects) face |= a[0] == 500 && a[1] == 300 && a[2] == 60;
  EXPECT_TRUE(face) << "the classified region's box is missing";
  EXPECT_LT(seconds, 60.0);  // a bound against a hang, not a speed measure
}

// Two regions side by side: the second one's labels go below its box instead of covering
// the first one's.
TEST(TorchOverlay, LabelsOfNeighbouringRegionsDoNotOverlap) {
  RoiRun r;
  overlay_rois(&r, 640, 480, "", [](GstBuffer* b) {
    add_region_result(b, 100, 200, 60, 60, 0);
    add_region_result(b, 180, 210, 60, 60, 1);
  }, true);
  std::vector<std::array<int, 4>> labels;
  for (const auto& a : r.rects)
    if (a[2] > 40 && a[3] > 10) labels.push_back(a);
  ASSERT_EQ(labels.size(), 2u);
  const auto &a = labels[0], &b = labels[1];
  EXPECT_LE(a[1] + a[3], 200) << "the first labels are above their box";
  EXPECT_GE(b[1], 210 + 60) << "the second labels are below their box";
  EXPECT_FALSE(a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3]);
}
