// torchoverlay: what it draws and where, on every format, and that frames without
// results leave untouched. Results are attached with the meta API: no model needed.
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <algorithm>
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
void overlay(OverlayRun* r, const std::string& format, int width, int height, const std::string& props,
             guint x, guint y, guint w, guint h) {
  GstHarness* hn = gst_harness_new_parse(("torchoverlay " + props).c_str());
  const std::string caps = "video/x-raw,format=" + format + ",width=" + std::to_string(width) +
                           ",height=" + std::to_string(height) + ",framerate=30/1";
  gst_harness_set_src_caps_str(hn, caps.c_str());
  gst_video_info_set_format(&r->info, gst_video_format_from_string(format.c_str()), width, height);
  GstBuffer* b = make_frame(r->info);
  if (w) add_result(b, x, y, w, h);
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
