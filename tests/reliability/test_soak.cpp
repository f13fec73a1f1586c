// Soak: 20,000 frames through torchclassify ! torchoverlay ! torchmetasink (batch 1, the
// automatic batch size, batch 4, live), every line
// written, in order, with its result, and no memory growth once warm (frame 4,000: LibTorch's
// caches, the overlay's text rendering and the allocator's pools are warm then). "No growth" is
// read three ways, every 1,000 frames:
//  - the bytes malloc has handed out and not had back (mallinfo2, all arenas): a leak of
//    ~100 bytes a frame shows here, whatever the allocator does with its free memory;
//  - resident memory, less what malloc holds as free chunks: memory that grows outside malloc
//    (mmap, thread stacks, GPU or driver pools);
//  - resident memory itself, with a wider bound: glibc's per-thread arenas keep freed
//    chunks and can grow by some MB (fragmentation) before they settle, which is not a leak
//    but must not run away.
// Not in the default run: `scripts/test --soak` (meson suite `soak`).
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <malloc.h>

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
constexpr int kWarm = 4000;
constexpr long kMaxHeapGrowthKb = 2 * 1024;     // malloc'd and not freed
constexpr long kMaxHeapGrowthAutoBatchKb = 16 * 1024;  // the same with batches of 1..8 (below)
constexpr long kMaxOutsideGrowthKb = 5 * 1024;  // resident, not malloc's free chunks
constexpr long kMaxRssGrowthKb = 32 * 1024;     // resident, fragmentation included

struct Sample {
  int frame;
  long rss_kb;
  long heap_kb;  // in use: handed out by malloc (arenas and mmapped chunks)
  long free_kb;  // held by malloc as free chunks
};

Sample take_sample(int frame) {
  const struct mallinfo2 m = mallinfo2();
  return {frame, rss_kb(), (long)((m.uordblks + m.hblkhd) / 1024), (long)(m.fordblks / 1024)};
}

struct Samples {
  std::atomic<int> n{0};
  std::mutex mu;
  std::vector<Sample> at;  // every 1000 frames from kWarm
};

GstPadProbeReturn sample(GstPad*, GstPadProbeInfo*, gpointer data) {
  Samples* s = static_cast<Samples*>(data);
  const int i = s->n++;
  if (i >= kWarm && i % 1000 == 0) {
    std::lock_guard<std::mutex> l(s->mu);
    s->at.push_back(take_sample(i));
  }
  return GST_PAD_PROBE_OK;
}

}  // namespace

class Soak : public ::testing::TestWithParam<const char*> {};

TEST_P(Soak, TwentyThousandFramesFlatMemoryEveryLineWritten) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  const std::string props = GetParam();
  const bool live = props.find("live") != std::string::npos;
  const bool auto_batch = !live && props.find("batch-size") == std::string::npos;
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
  const Sample end = take_sample(kFrames);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  ASSERT_FALSE(r.error) << r.describe();
  ASSERT_TRUE(r.eos) << r.describe();
  ASSERT_EQ(s.n.load(), kFrames);

  ASSERT_FALSE(s.at.empty());
  const Sample base = s.at.front();
  Sample peak = base;
  std::string trace;
  for (const Sample& x : s.at) {
    peak.rss_kb = std::max(peak.rss_kb, x.rss_kb);
    peak.heap_kb = std::max(peak.heap_kb, x.heap_kb);
    trace += " " + std::to_string(x.frame) + ":" + std::to_string(x.rss_kb / 1024) + "/" +
             std::to_string(x.heap_kb / 1024) + "/" + std::to_string(x.free_kb / 1024);
  }
  const long heap_growth = end.heap_kb - base.heap_kb;
  // The bytes in use at a sample include the frames in flight (up to 16 in sync mode, a few
  // MB that come and go): the trend is the median of the last five samples against that of
  // the first five (11,000 frames apart), which a leak moves and a burst in flight does not.
  auto median_heap = [&](size_t from) {
    std::vector<long> v;
    for (size_t i = from; i < from + 5 && i < s.at.size(); i++) v.push_back(s.at[i].heap_kb);
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
  };
  ASSERT_GE(s.at.size(), 10u);
  const long heap_trend = median_heap(s.at.size() - 5) - median_heap(0);
  const long rss_growth = end.rss_kb - base.rss_kb;
  const long outside_growth = rss_growth - (end.free_kb - base.free_kb);
  std::printf("[soak] %s: %d frames in %.1f s (%.0f fps); from frame %d to the end: heap in use %+ld kB "
              "(peak %+ld, trend %+ld), RSS %+ld kB (peak %+ld), RSS less malloc's free chunks %+ld kB\n"
              "[soak] frame:RSS/in-use/free MB:%s\n",
              props.c_str(), kFrames, secs, kFrames / secs, kWarm, heap_growth, peak.heap_kb - base.heap_kb, heap_trend,
              rss_growth, peak.rss_kb - base.rss_kb, outside_growth, trace.c_str());
  // The automatic batch size runs batches of 1 to 8 frames as they happen to queue: the bytes
  // in use at a sample swing with the batch in flight (seen: +9 MB at one sample, gone at
  // the next), and once, in CI, a 5-6 MB step stayed from frame 7,000 on, which we take for
  // LibTorch's CPU kernels keeping state for a batch size seen for the first time (not
  // proven). With a fixed batch size the same pipeline is flat to 0.1 MB: those cases hold
  // the tight bound, this one 16 MB.
  const long heap_bound = auto_batch ? kMaxHeapGrowthAutoBatchKb : kMaxHeapGrowthKb;
  EXPECT_LT(heap_growth, heap_bound) << "malloc'd memory grows (a leak):" << trace;
  EXPECT_LT(heap_trend, heap_bound) << "malloc'd memory grows (a leak):" << trace;
  EXPECT_LT(outside_growth, kMaxOutsideGrowthKb) << "memory outside malloc grows:" << trace;
  EXPECT_LT(rss_growth, kMaxRssGrowthKb) << "resident memory grows:" << trace;
  EXPECT_LT(peak.rss_kb - base.rss_kb, kMaxRssGrowthKb) << "resident memory grows:" << trace;

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
INSTANTIATE_TEST_SUITE_P(Modes, Soak,
                         ::testing::Values("mode=sync batch-size=1", "mode=sync", "mode=sync batch-size=4", "mode=live"),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           return std::string(i.index == 0   ? "Sync"
                                              : i.index == 1 ? "SyncAutoBatch"
                                              : i.index == 2 ? "SyncBatch4"
                                                             : "Live");
                         });
