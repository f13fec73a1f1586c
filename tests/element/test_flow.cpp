// How frames leave torchclassify: results pushed as soon as they are ready (no further
// input needed), PTS-less frames with an interval, and upstream pools sized through the
// ALLOCATION query. The element runs in a GstHarness (a real element, pads and task) with
// the small fixture model.
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gsttorchclassificationmeta.h"
#include "test_env.h"

namespace {

const char* kCaps = "video/x-raw,format=RGB,width=64,height=48,framerate=30/1";

GstHarness* harness(const std::string& props) {
  GstHarness* h = gst_harness_new_parse(("torchclassify device=cpu " + props).c_str());
  gst_harness_set_src_caps_str(h, kCaps);
  return h;
}

GstBuffer* frame(guint8 seed, GstClockTime pts) {
  GstBuffer* b = gst_buffer_new_allocate(nullptr, 64 * 48 * 3, nullptr);
  gst_buffer_memset(b, 0, seed, 64 * 48 * 3);
  GST_BUFFER_PTS(b) = pts;
  return b;
}

// Waits up to `seconds` for a buffer out of the harness (the element's source-pad task).
GstBuffer* pull_within(GstHarness* h, double seconds) {
  const gint64 deadline = g_get_monotonic_time() + (gint64)(seconds * G_USEC_PER_SEC);
  while (g_get_monotonic_time() < deadline) {
    if (GstBuffer* b = gst_harness_try_pull(h)) return b;
    g_usleep(5000);
  }
  return nullptr;
}

}  // namespace

// One frame in a batch of two with batch-timeout=200 and then no input at all (a camera
// that stalls, a 1-fps source): its result is computed after the timeout and it must leave
// then, not when the next frame arrives. Before the source-pad task it never left.
struct TimeoutCase {
  const char* props;
  bool expect_result;  // false: it may leave with or without one (live mode, below)
};
class BatchTimeout : public ::testing::TestWithParam<TimeoutCase> {};

TEST_P(BatchTimeout, AReadyFrameLeavesWithoutFurtherInput) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  GstHarness* h = harness("model-location=" + model + " batch-size=2 batch-timeout=200 " + GetParam().props);
  ASSERT_EQ(gst_harness_push(h, frame(10, 0)), GST_FLOW_OK);
  // The bound is the timeout plus one model run; generous for a loaded 2-core machine.
  GstBuffer* out = pull_within(h, 20.0);
  ASSERT_TRUE(out) << "the frame is still held with its result ready (" << GetParam().props << ")";
  if (GetParam().expect_result) EXPECT_EQ(gst_buffer_get_n_torch_classification_metas(out), 1u);
  gst_buffer_unref(out);
  // A second frame after a gap: the same again.
  ASSERT_EQ(gst_harness_push(h, frame(20, GST_SECOND)), GST_FLOW_OK);
  out = pull_within(h, 20.0);
  ASSERT_TRUE(out);
  EXPECT_EQ(GST_BUFFER_PTS(out), GST_SECOND);
  gst_buffer_unref(out);
  gst_harness_teardown(h);
}

INSTANTIATE_TEST_SUITE_P(Modes, BatchTimeout,
                         ::testing::Values(TimeoutCase{"mode=sync", true},
                                           TimeoutCase{"mode=sync interval=3", true},
                                           // the default batch size: no wait for a batch at all
                                           TimeoutCase{"mode=sync batch-size=0 batch-timeout=0", true},
                                           // live frames never wait: the first leaves at once, with its
                                           // own result only if that was ready by then (a race the
                                           // tiny model sometimes wins: seen under ASan in CI)
                                           TimeoutCase{"mode=live", false}));

// Sync mode, interval=3, batch-size=2, buffers without PTS (the bug: borrowers were taken
// for own frames, outputs came in bursts and frames stayed held). Frames 0, 3, 6, 9 are
// classified; 0 and 3 form a batch, so frames 0..3 leave once frame 3 is in; 4 and 5 borrow
// a finished result and leave at once; 6..8 wait for 9.
TEST(Flow, PtsLessFramesWithAnIntervalLeaveAsSoonAsTheirResultIsThere) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  GstHarness* h = harness("model-location=" + model + " mode=sync interval=3 batch-size=2");
  // After pushing frame i, frames up to expected[i] (exclusive) must have left.
  const std::vector<int> expected = {0, 0, 0, 4, 5, 6, 6, 6, 6, 10, 11, 12};
  int out = 0;
  for (int i = 0; i < (int)expected.size(); i++) {
    ASSERT_EQ(gst_harness_push(h, frame((guint8)i, GST_CLOCK_TIME_NONE)), GST_FLOW_OK);
    while (out < expected[i]) {
      GstBuffer* b = pull_within(h, 20.0);
      ASSERT_TRUE(b) << "frame " << out << " did not leave after frame " << i << " was pushed";
      EXPECT_EQ(gst_buffer_get_n_torch_classification_metas(b), 1u) << "frame " << out;
      gst_buffer_unref(b);
      out++;
    }
    // Nothing more may come out (a frame with no result yet must wait).
    GstBuffer* extra = pull_within(h, 0.05);
    EXPECT_FALSE(extra) << "a frame left before its result after frame " << i;
    if (extra) {
      gst_buffer_unref(extra);
      out++;
    }
  }
  EXPECT_EQ(out, 12);
  gst_harness_teardown(h);
}

// The ALLOCATION query: torchclassify adds the frames it may hold (batch-size x interval,
// plus the one it pushes) to what downstream asks for, so that an upstream pool with a hard
// maximum sized from the answer never runs dry. The stream then runs to the end with pool
// buffers, batch-size 8 x interval 2, without a stall.
TEST(Flow, AllocationQueryCountsHeldFramesAndAFixedPoolDoesNotStall) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  GstHarness* h = harness("model-location=" + model + " mode=sync batch-size=8 interval=2");
  GstCaps* caps = gst_caps_from_string(kCaps);
  GstQuery* q = gst_query_new_allocation(caps, TRUE);
  ASSERT_TRUE(gst_pad_peer_query(h->srcpad, q)) << "the ALLOCATION query was not answered";
  guint min = 0, max = 0, size = 0;
  GstBufferPool* proposed = nullptr;
  ASSERT_GE(gst_query_get_n_allocation_pools(q), 1u);
  gst_query_parse_nth_allocation_pool(q, 0, &proposed, &size, &min, &max);
  if (proposed) gst_object_unref(proposed);
  gst_query_unref(q);
  EXPECT_GE(min, 8u * 2u + 1u) << "upstream is not told about the frames a batch holds";

  // A pool with exactly that many buffers, no more.
  GstBufferPool* pool = gst_buffer_pool_new();
  GstStructure* cfg = gst_buffer_pool_get_config(pool);
  gst_buffer_pool_config_set_params(cfg, caps, 64 * 48 * 3, min, min);
  ASSERT_TRUE(gst_buffer_pool_set_config(pool, cfg));
  ASSERT_TRUE(gst_buffer_pool_set_active(pool, TRUE));
  gst_caps_unref(caps);

  const int n = 60;
  int pulled = 0;
  GstBufferPoolAcquireParams params = {};
  params.flags = GST_BUFFER_POOL_ACQUIRE_FLAG_DONTWAIT;
  for (int i = 0; i < n; i++) {
    GstBuffer* b = nullptr;
    const gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    // While the pool is empty, what left the element is taken (and so returned to the pool).
    while (gst_buffer_pool_acquire_buffer(pool, &b, &params) != GST_FLOW_OK) {
      ASSERT_LT(g_get_monotonic_time(), deadline) << "the pool of " << min << " ran dry at frame " << i;
      if (GstBuffer* out = gst_harness_try_pull(h)) {
        gst_buffer_unref(out);
        pulled++;
      } else {
        g_usleep(2000);
      }
    }
    gst_buffer_memset(b, 0, (guint8)i, 64 * 48 * 3);
    GST_BUFFER_PTS(b) = i * GST_SECOND / 30;
    ASSERT_EQ(gst_harness_push(h, b), GST_FLOW_OK);
  }
  ASSERT_TRUE(gst_harness_push_event(h, gst_event_new_eos()));
  while (pulled < n) {
    GstBuffer* out = pull_within(h, 30.0);
    ASSERT_TRUE(out) << pulled << " of " << n << " frames came out";
    gst_buffer_unref(out);
    pulled++;
  }
  gst_harness_teardown(h);
  gst_buffer_pool_set_active(pool, FALSE);
  gst_object_unref(pool);
}

// The default batch size (0, auto) batches what is queued; each frame's result must equal
// the one it gets in a batch of one: the same classes, scores within float rounding.
TEST(Flow, TheDefaultBatchingGivesTheResultsOfBatchOne) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  auto run = [&](const std::string& props) {
    GstHarness* h = harness("model-location=" + model + " mode=sync " + props);
    std::vector<std::vector<std::pair<int, float>>> results;
    const int n = 21;
    for (int i = 0; i < n; i++) {
      GstBuffer* b = gst_buffer_new_allocate(nullptr, 64 * 48 * 3, nullptr);
      GstMapInfo m;
      gst_buffer_map(b, &m, GST_MAP_WRITE);
      for (gsize k = 0; k < m.size; k++) m.data[k] = (guint8)(k * (i + 3) + i * 31 + k / 191);
      gst_buffer_unmap(b, &m);
      GST_BUFFER_PTS(b) = i * GST_SECOND / 30;
      EXPECT_EQ(gst_harness_push(h, b), GST_FLOW_OK);
    }
    EXPECT_TRUE(gst_harness_push_event(h, gst_event_new_eos()));
    for (int i = 0; i < n; i++) {
      GstBuffer* out = pull_within(h, 30.0);
      if (!out) {
        ADD_FAILURE() << props << ": frame " << i << " missing";
        break;
      }
      EXPECT_EQ(GST_BUFFER_PTS(out), (GstClockTime)(i * GST_SECOND / 30));
      std::vector<std::pair<int, float>> r;
      if (GstTorchClassificationMeta* meta = gst_buffer_get_torch_classification_meta(out))
        for (guint k = 0; k < meta->n_labels; k++) r.push_back({meta->labels[k].class_id, meta->labels[k].score});
      results.push_back(r);
      gst_buffer_unref(out);
    }
    gst_harness_teardown(h);
    return results;
  };
  const auto one = run("batch-size=1");
  const auto dflt = run("");
  ASSERT_EQ(one.size(), dflt.size());
  for (size_t i = 0; i < one.size(); i++) {
    ASSERT_EQ(one[i].size(), dflt[i].size()) << "frame " << i;
    ASSERT_FALSE(one[i].empty());
    for (size_t k = 0; k < one[i].size(); k++) {
      EXPECT_EQ(one[i][k].first, dflt[i][k].first) << "frame " << i << " rank " << k;
      EXPECT_NEAR(one[i][k].second, dflt[i][k].second, 1e-4) << "frame " << i << " rank " << k;
    }
  }
}

#include "cpu_features.h"

// precision=bf16 on the CPU: a warning that says it will be slow exactly where the CPU has
// no native bfloat16 (this machine's /proc/cpuinfo decides which case runs here).
TEST(Flow, Bf16OnTheCpuWarnsOnlyWithoutNativeSupport) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  GstElement* p = gst_parse_launch(("videotestsrc num-buffers=2 ! video/x-raw,width=64,height=48 ! "
                                    "torchclassify device=cpu precision=bf16 model-location=" + model +
                                    " ! fakesink").c_str(), nullptr);
  ASSERT_TRUE(p);
  GstBus* bus = gst_element_get_bus(p);
  gst_element_set_state(p, GST_STATE_PLAYING);
  bool warned = false, done = false;
  while (!done) {
    GstMessage* m = gst_bus_timed_pop_filtered(bus, 60 * GST_SECOND,
        (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING));
    ASSERT_TRUE(m) << "timeout";
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING) {
      GError* e = nullptr;
      gst_message_parse_warning(m, &e, nullptr);
      if (std::string(e->message).find("native bfloat16") != std::string::npos) warned = true;
      g_error_free(e);
    } else {
      EXPECT_EQ(GST_MESSAGE_TYPE(m), GST_MESSAGE_EOS);
      done = true;
    }
    gst_message_unref(m);
  }
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(p);
  EXPECT_EQ(warned, !ta::cpu_has_native_bf16()) << (ta::cpu_has_native_bf16() ? "this CPU has native bf16" : "this CPU has none");
}

// Live mode keeps one frame in the model at a time: with batch-size=4 on a model of its
// own the batch would never fill, and no frame would ever get a result (it did not, before).
TEST(Flow, LiveModeWithABatchSizeOnAPrivateModelStillGetsResults) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  GstHarness* h = harness("model-location=" + model + " mode=live batch-size=4");
  bool got = false;
  for (int i = 0; i < 400 && !got; i++) {
    ASSERT_EQ(gst_harness_push(h, frame((guint8)i, i * GST_SECOND / 30)), GST_FLOW_OK);
    GstBuffer* out = pull_within(h, 20.0);
    ASSERT_TRUE(out) << "a live frame was held";
    got = gst_buffer_get_n_torch_classification_metas(out) == 1;
    gst_buffer_unref(out);
    g_usleep(10000);
  }
  EXPECT_TRUE(got) << "no live frame got a result in 400 frames";
  gst_harness_teardown(h);
}

// No frame is copied between torchclassify's input and torchoverlay's output: torchclassify
// lets go of a frame's mapping before it pushes it (the CPU path preprocesses at submit; the
// GPU path copies the planes into its staging block at submit, see EngineStaging), so the
// buffer it pushes is the one it got, writable, and torchoverlay draws into the same memory.
// Before, the GPU path held the mapping until the batch ran: in live mode every buffer was
// copied by gst_buffer_make_writable and its memory again by the overlay's write map. Each
// output's memory is compared with the memory pushed for that timestamp; at least a third
// of the frames must carry a drawn result, so the overlay did write.
class NoCopies : public ::testing::TestWithParam<const char*> {};

TEST_P(NoCopies, TheOverlayDrawsIntoTheMemoryThatCameIn) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  GstHarness* h = gst_harness_new_parse(
      ("torchclassify device=cpu model-location=" + model + " " + GetParam() + " ! torchoverlay").c_str());
  gst_harness_set_src_caps_str(h, kCaps);
  constexpr int kFrames = 24;
  // The address of each frame's pixels (a shallow buffer copy shares them; a deep copy,
  // e.g. a write map of shared memory, does not).
  auto pixels = [](GstBuffer* b) {
    GstMapInfo m;
    if (!gst_buffer_map(b, &m, GST_MAP_READ)) return (const guint8*)nullptr;
    const guint8* at = m.data;
    gst_buffer_unmap(b, &m);
    return at;
  };
  std::vector<const guint8*> in(kFrames);
  for (int i = 0; i < kFrames; i++) {
    GstBuffer* b = frame((guint8)(i * 9), i * GST_SECOND / 30);
    in[i] = pixels(b);  // compared by address only
    ASSERT_EQ(gst_harness_push(h, b), GST_FLOW_OK);
    g_usleep(20000);
  }
  ASSERT_TRUE(gst_harness_push_event(h, gst_event_new_eos()));
  int copied = 0, drawn = 0;
  for (int i = 0; i < kFrames; i++) {
    GstBuffer* out = pull_within(h, 20.0);
    ASSERT_TRUE(out) << "frame " << i << " did not come out";
    const int k = (int)((GST_BUFFER_PTS(out) * 30 + GST_SECOND / 2) / GST_SECOND);
    ASSERT_TRUE(k >= 0 && k < kFrames);
    if (pixels(out) != in[k]) copied++;
    if (gst_buffer_get_n_torch_classification_metas(out) > 0) drawn++;
    gst_buffer_unref(out);
  }
  EXPECT_EQ(copied, 0) << copied << " of " << kFrames << " frames were copied (" << GetParam() << ")";
  EXPECT_GE(drawn, kFrames / 3) << "too few frames had a result for the overlay to draw";
  gst_harness_teardown(h);
}

INSTANTIATE_TEST_SUITE_P(Modes, NoCopies, ::testing::Values("mode=sync", "mode=live", "mode=sync batch-size=4"),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           return std::string(i.index == 0 ? "Sync" : i.index == 1 ? "Live" : "SyncBatch4");
                         });
