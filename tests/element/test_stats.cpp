// torchclassify's `stats` property and its stats-interval messages, checked against
// what a pipeline of known length did: N frames in, interval I, batch size B.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <string>

#include "sha256.h"
#include "test_env.h"

namespace {

struct StatsRun {
  GstStructure* stats = nullptr;  // read after EOS, before NULL
  int messages = 0;               // torchclassify-stats element messages
  GstStructure* last_message = nullptr;
  ~StatsRun() {
    if (stats) gst_structure_free(stats);
    if (last_message) gst_structure_free(last_message);
  }
};

// videotestsrc num-buffers=n ! torchclassify <props> ! fakesink, to EOS.
void run(const std::string& src_props, int n, const std::string& props, StatsRun* r) {
  const std::string desc = "videotestsrc num-buffers=" + std::to_string(n) + " " + src_props +
                           " ! video/x-raw,format=RGB,width=64,height=48,framerate=30/1 ! torchclassify name=tc "
                           "device=cpu crop-size=32 resize-size=36 " + props + " ! fakesink sync=false";
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &err);
  ASSERT_TRUE(p) << (err ? err->message : "");
  GstElement* tc = gst_bin_get_by_name(GST_BIN(p), "tc");
  GstBus* bus = gst_element_get_bus(p);
  ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  bool done = false;
  while (!done) {
    GstMessage* m = gst_bus_timed_pop(bus, 120 * GST_SECOND);
    ASSERT_TRUE(m) << "no EOS within 120 s";
    switch (GST_MESSAGE_TYPE(m)) {
      case GST_MESSAGE_EOS: done = true; break;
      case GST_MESSAGE_ERROR: {
        GError* e = nullptr;
        gst_message_parse_error(m, &e, nullptr);
        ADD_FAILURE() << e->message;
        g_error_free(e);
        done = true;
        break;
      }
      case GST_MESSAGE_ELEMENT:
        if (gst_message_has_name(m, "torchclassify-stats")) {
          r->messages++;
          if (r->last_message) gst_structure_free(r->last_message);
          r->last_message = gst_structure_copy(gst_message_get_structure(m));
        }
        break;
      default: break;
    }
    gst_message_unref(m);
  }
  g_object_get(tc, "stats", &r->stats, NULL);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(tc);
  gst_object_unref(p);
}

guint64 u64(const GstStructure* s, const char* f) {
  guint64 v = G_MAXUINT64;
  EXPECT_TRUE(gst_structure_get_uint64(s, f, &v)) << f;
  return v;
}

}  // namespace

// Sync mode, 30 frames, interval 3, batch-size 2: 10 frames classified in 5 full batches,
// 20 borrowing from the interval, all 30 out.
TEST(Stats, SyncModeCountsMatchAPipelineOfKnownLength) {
  TA_REQUIRE_FIXTURE(tiny, "tiny.ts");
  StatsRun r;
  run("", 30, "mode=sync interval=3 batch-size=2 stats-interval=20 model-location=" + tiny, &r);
  ASSERT_TRUE(r.stats);
  EXPECT_TRUE(gst_structure_has_name(r.stats, "torchclassify-stats"));
  EXPECT_EQ(u64(r.stats, "frames-in"), 30u);
  EXPECT_EQ(u64(r.stats, "frames-out"), 30u);
  EXPECT_EQ(u64(r.stats, "frames-classified"), 10u);
  EXPECT_EQ(u64(r.stats, "results-borrowed-interval"), 20u);
  EXPECT_EQ(u64(r.stats, "results-borrowed-live"), 0u);
  EXPECT_EQ(u64(r.stats, "frames-without-result"), 0u);
  EXPECT_EQ(u64(r.stats, "regions-classified"), 0u);
  EXPECT_EQ(u64(r.stats, "regions-skipped"), 0u);
  EXPECT_EQ(u64(r.stats, "batches"), 5u);
  double fill = 0, frames = 0;
  EXPECT_TRUE(gst_structure_get_double(r.stats, "mean-batch-fill", &fill));
  EXPECT_TRUE(gst_structure_get_double(r.stats, "mean-batch-frames", &frames));
  EXPECT_DOUBLE_EQ(fill, 1.0);
  EXPECT_DOUBLE_EQ(frames, 2.0);
  guint depth = 99;
  EXPECT_TRUE(gst_structure_get_uint(r.stats, "queue-depth", &depth));
  EXPECT_EQ(depth, 0u);  // after EOS everything has left
  const guint64 m50 = u64(r.stats, "model-time-p50");
  const guint64 m99 = u64(r.stats, "model-time-p99");
  const guint64 l50 = u64(r.stats, "latency-p50");
  const guint64 l99 = u64(r.stats, "latency-p99");
  EXPECT_GT(m50, 0u);
  EXPECT_GE(m99, m50);
  // A frame's latency includes its batch's forward: at least the shortest one.
  EXPECT_GT(l50, 0u);
  EXPECT_GE(l99, l50);
  EXPECT_STREQ(gst_structure_get_string(r.stats, "model-sha256"), ta::sha256_file(tiny).c_str());
  EXPECT_STREQ(gst_structure_get_string(r.stats, "model"), "tiny");
  EXPECT_STREQ(gst_structure_get_string(r.stats, "device"), "cpu");
  EXPECT_STREQ(gst_structure_get_string(r.stats, "precision"), "fp32");
  EXPECT_EQ(u64(r.stats, "model-swaps"), 0u);
  // The periodic message is the same structure (as many as the run lasted 20 ms periods;
  // the count itself is timing, so only its form is checked when one came).
  if (r.last_message) {
    EXPECT_TRUE(gst_structure_has_field(r.last_message, "latency-p99"));
    EXPECT_LE(u64(r.last_message, "frames-out"), 30u);
  }
}

// Live mode: every frame leaves, each either classified or borrowing the newest result
// (or none before the first): the counts add up to the frames in.
TEST(Stats, LiveModeCountsAddUp) {
  TA_REQUIRE_FIXTURE(tiny, "tiny.ts");
  StatsRun r;
  run("is-live=true", 20, "mode=live model-location=" + tiny, &r);
  ASSERT_TRUE(r.stats);
  EXPECT_EQ(u64(r.stats, "frames-in"), 20u);
  EXPECT_EQ(u64(r.stats, "frames-out"), 20u);
  const guint64 classified = u64(r.stats, "frames-classified");
  EXPECT_GE(classified, 1u);
  // Live frames never wait for their own result: each leaves with the newest one, or none.
  EXPECT_EQ(u64(r.stats, "results-borrowed-live") + u64(r.stats, "frames-without-result"), 20u);
  EXPECT_EQ(u64(r.stats, "results-borrowed-interval"), 0u);
  // One frame in the model at a time; the last may still be running after EOS.
  EXPECT_LE(u64(r.stats, "batches"), classified);
  EXPECT_GE(u64(r.stats, "batches") + 1, classified);
  EXPECT_GT(u64(r.stats, "latency-p50"), 0u);
}

// stats-interval posts the structure while the stream runs; 0 posts nothing.
TEST(Stats, IntervalMessagesArePostedOnlyWhenAsked) {
  TA_REQUIRE_FIXTURE(tiny, "tiny.ts");
  StatsRun on, off;
  // A live source at 30 fps: 15 frames last half a second, many 20 ms periods.
  run("is-live=true", 15, "mode=live stats-interval=20 model-location=" + tiny, &on);
  run("is-live=true", 15, "mode=live model-location=" + tiny, &off);
  EXPECT_GE(on.messages, 3);
  EXPECT_EQ(off.messages, 0);
  ASSERT_TRUE(on.last_message);
  EXPECT_STREQ(gst_structure_get_string(on.last_message, "model-sha256"), ta::sha256_file(tiny).c_str());
}
