// Soak: 20,000 frames through torchclassify ! torchoverlay ! torchmetasink. Resident
// memory after frame 2,000 (LibTorch's caches and the allocator's pools are warm by then)
// grows by less than 5 MB, and every frame's JSON line is written, in order, with its
// result. Not in the default run: `scripts/test --soak` (meson suite `soak`).
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reliability_helpers.h"
#include "test_env.h"

using namespace ta_rel;

namespace {

constexpr int kFrames = 20000;
constexpr int kWarm = 2000;
constexpr long kMaxGrowthKb = 5 * 1024;

struct Samples {
  std::atomic<int> n{0};
  std::mutex mu;
  std::vector<std::pair<int, long>> rss;  // (frame, kB), every 1000 frames from kWarm
};

GstPadProbeReturn sample(GstPad*, GstPadProbeInfo*, gpointer data) {
  Samples* s = static_cast<Samples*>(data);
  const int i = s->n++;
  if (i >= kWarm && i % 1000 == 0) {
    std::lock_guard<std::mutex> l(s->mu);
    s->rss.push_back({i, rss_kb()});
  }
  return GST_PAD_PROBE_OK;
}

}  // namespace

class Soak : public ::testing::TestWithParam<const char*> {};

TEST_P(Soak, TwentyThousandFramesFlatMemoryEveryLineWritten) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  const std::string props = GetParam();
  const bool live = props.find("live") != std::string::npos;
  Watchdog dog(1200, "the soak test with " + props);
  TempFile json(".jsonl");
  const std::string launch = "videotestsrc num-buffers=" + std::to_string(kFrames) +
                             " pattern=ball ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 ! "
                             "torchclassify device=cpu " + props + " model-location=" + model +
                             " ! torchoverlay ! torchmetasink name=sink sync=false location=" + json.path();
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(launch.c_str(), &err);
  ASSERT_TRUE(p && !err) << (err ? err->message : "");
  Samples s;
  GstElement* sink = gst_bin_get_by_name(GST_BIN(p), "sink");
  GstPad* pad = gst_element_get_static_pad(sink, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, sample, &s, nullptr);
  gst_object_unref(pad);
  gst_object_unref(sink);

  const gint64 t0 = g_get_monotonic_time();
  gst_element_set_state(p, GST_STATE_PLAYING);
  BusLog r;
  collect(p, &r, 1100);
  const double secs = (g_get_monotonic_time() - t0) / 1e6;
  const long rss_end = rss_kb();
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  ASSERT_FALSE(r.error) << r.describe();
  ASSERT_TRUE(r.eos) << r.describe();
  ASSERT_EQ(s.n.load(), kFrames);

  ASSERT_FALSE(s.rss.empty());
  const long base = s.rss.front().second;
  long peak = base;
  std::string trace;
  for (const auto& fr : s.rss) {
    peak = std::max(peak, fr.second);
    trace += " " + std::to_string(fr.first) + ":" + std::to_string(fr.second / 1024) + "MB";
  }
  std::printf("[soak] %s: %d frames in %.1f s (%.0f fps); RSS at frame %d: %ld kB, at the end: %ld kB "
              "(%+ld kB), peak %+ld kB\n[soak] RSS samples:%s\n",
              props.c_str(), kFrames, secs, kFrames / secs, kWarm, base, rss_end, rss_end - base, peak - base, trace.c_str());
  EXPECT_LT(rss_end - base, kMaxGrowthKb) << "memory grows:" << trace;
  EXPECT_LT(peak - base, kMaxGrowthKb) << "memory grows:" << trace;

  // Every frame's line, complete, in order, with its own result.
  const auto lines = read_lines(json.path());
  ASSERT_EQ((int)lines.size(), kFrames);
  int bad = 0;
  for (int i = 0; i < kFrames; i++) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(lines[i]);
    } catch (const std::exception&) {
      if (bad++ < 5) ADD_FAILURE() << "line " << i << " is not JSON: " << lines[i];
      continue;
    }
    // sync: each frame with its own result; live: frames do not wait, and a result (of
    // this frame or an earlier one) is attached when one is ready.
    const auto& c = j["classifications"];
    const bool result_ok = live ? c.size() <= 1u && (c.empty() || c[0]["labels"].size() == 5u)
                                : c.size() == 1u && c[0]["labels"].size() == 5u && !c[0].contains("source-pts");
    const bool ok = j["frame"] == i && j["pts"] == (guint64)i * GST_SECOND / 30 && result_ok;
    if (!ok && bad++ < 5) ADD_FAILURE() << "line " << i << ": " << lines[i];
  }
  EXPECT_EQ(bad, 0);
}

// sync (every frame waits for its own result), batches of 4, and live (frames never wait).
INSTANTIATE_TEST_SUITE_P(Modes, Soak, ::testing::Values("mode=sync", "mode=sync batch-size=4", "mode=live"),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           return std::string(i.index == 0 ? "Sync" : i.index == 1 ? "SyncBatch4" : "Live");
                         });
