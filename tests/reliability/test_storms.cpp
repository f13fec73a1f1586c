// State and flow storms through torchclassify ! torchoverlay ! torchmetasink: 200
// NULL->PLAYING->NULL cycles, flushing seeks every few frames with frames in the model,
// renegotiation to other sizes and formats mid-stream, EOS while a batch waits, branches
// of a tee removed from (and added to) a running pipeline.
//
// Each test is bounded by a watchdog (a hang aborts the program, saying which test), and
// ends with the leaks tracer's list of live objects: this program runs with
// GST_TRACERS=leaks (tests/reliability/meson.build), and every buffer, event, caps, pad
// and element a test made must be gone when it is over.
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reliability_helpers.h"
#include "test_env.h"

using namespace ta_rel;

namespace {

// Fails the test when objects made during it are still alive at its end: buffers,
// events, caps, queries, messages, pads, elements. Without the leaks tracer (the program
// run by hand, without GST_TRACERS=leaks) it checks nothing, and says so.
class LeakCheck {
 public:
  LeakCheck() : tracer_(leaks_tracer()) {
    if (!tracer_) return;
    // What lives as long as the process is made first: the element classes (their pad
    // templates and template caps) and the system clock.
    for (const char* f : {"videotestsrc", "appsrc", "capsfilter", "queue", "tee", "fakesink", "torchclassify",
                          "torchoverlay", "torchmetasink"}) {
      GstElement* e = gst_element_factory_make(f, nullptr);
      if (e) gst_object_unref(e);
    }
    gst_object_unref(gst_system_clock_obtain());
    gst_task_cleanup_all();
    g_signal_emit_by_name(tracer_, "activity-start-tracking");
  }
  ~LeakCheck() {
    if (!tracer_) return;
    g_signal_emit_by_name(tracer_, "activity-stop-tracking");
    gst_object_unref(tracer_);
  }
  void check() {
    if (!tracer_) {
      std::printf("[leaks] GST_TRACERS=leaks is not set: live objects not checked\n");
      return;
    }
    // The streaming threads of pipelines set to NULL end after set_state returns, and
    // an address may be used again: count creations and removals per address.
    std::map<std::string, int> balance;
    std::map<std::string, std::string> type;
    size_t created = 0;
    std::map<std::string, int> alive;
    for (int attempt = 0; attempt < 50; attempt++) {
      gst_task_cleanup_all();
      const Checkpoint c = leaks_checkpoint(tracer_);
      created += c.created.size();
      for (const auto& o : c.created) {
        balance[o.first]++;
        type[o.first] = o.second;
      }
      for (const auto& o : c.removed) balance[o.first]--;
      alive.clear();
      for (const auto& kv : balance)
        if (kv.second > 0) alive[type[kv.first]] += kv.second;
      if (alive.empty()) break;
      g_usleep(100 * 1000);
    }
    std::string list;
    for (const auto& kv : alive) list += "\n  " + std::to_string(kv.second) + " x " + kv.first;
    std::printf("[leaks] %zu objects created during the test, %zu alive at its end\n", created,
                (size_t)std::count_if(balance.begin(), balance.end(), [](const auto& kv) { return kv.second > 0; }));
    EXPECT_TRUE(alive.empty()) << "objects made during the test are still alive (leaks tracer):" << list;
  }

 private:
  GstTracer* tracer_;
};

// Counts the buffers that reach a pad.
struct Counter {
  std::atomic<int> n{0};
  static GstPadProbeReturn probe(GstPad*, GstPadProbeInfo*, gpointer c) {
    static_cast<Counter*>(c)->n++;
    return GST_PAD_PROBE_OK;
  }
  void attach(GstElement* bin, const char* element) {
    GstElement* e = gst_bin_get_by_name(GST_BIN(bin), element);
    GstPad* pad = gst_element_get_static_pad(e, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, probe, this, nullptr);
    gst_object_unref(pad);
    gst_object_unref(e);
  }
  bool wait_for(int target, int timeout_s) const {
    const gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * slowdown() * G_USEC_PER_SEC;
    while (n < target && g_get_monotonic_time() < deadline) g_usleep(2000);
    return n >= target;
  }
};

// Every line is one JSON object with one classification of 5 labels whose region is the
// frame; returns the frames' sizes, in order.
std::vector<std::pair<int, int>> check_lines(const std::vector<std::string>& lines, const std::string& what) {
  std::vector<std::pair<int, int>> sizes;
  for (size_t i = 0; i < lines.size(); i++) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(lines[i]);
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << ": line " << i << " is not JSON (" << e.what() << "): " << lines[i];
      continue;
    }
    if (j["classifications"].size() != 1u) {
      ADD_FAILURE() << what << ": line " << i << " has no result: " << lines[i];
      continue;
    }
    const auto& c = j["classifications"][0];
    EXPECT_EQ(c["labels"].size(), 5u) << what << ": " << lines[i];
    EXPECT_EQ(c["roi"]["w"], j["width"]) << what << ": the region is not the frame: " << lines[i];
    EXPECT_EQ(c["roi"]["h"], j["height"]) << what << ": the region is not the frame: " << lines[i];
    sizes.push_back({j["width"].get<int>(), j["height"].get<int>()});
  }
  return sizes;
}

GstElement* parse(const std::string& launch) {
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(launch.c_str(), &err);
  EXPECT_TRUE(p && !err) << launch << ": " << (err ? err->message : "");
  g_clear_error(&err);
  return p;
}

// The first error or warning on the bus right now, without waiting ("" when none).
std::string pop_error(GstElement* p) {
  GstBus* bus = gst_element_get_bus(p);
  std::string out;
  while (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
    GError* e = nullptr;
    gchar* dbg = nullptr;
    gst_message_parse_error(m, &e, &dbg);
    if (out.empty()) out = std::string(e->message) + " (" + (dbg ? dbg : "") + ")";
    g_error_free(e);
    g_free(dbg);
    gst_message_unref(m);
  }
  gst_object_unref(bus);
  return out;
}

}  // namespace

TEST(Storm, TwoHundredNullPlayingNullCycles) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  LeakCheck leaks;
  TempFile json(".jsonl");
  {
    Watchdog dog(600, "200 NULL->PLAYING->NULL cycles");
    GstElement* p = parse("videotestsrc ! video/x-raw,width=64,height=48,framerate=30/1 ! torchclassify device=cpu "
                          "model-location=" + model + " ! torchoverlay ! torchmetasink name=sink sync=false location=" + json.path());
    ASSERT_TRUE(p);
    Counter frames;
    frames.attach(p, "sink");
    const gint64 t0 = g_get_monotonic_time();
    int with_frames = 0;
    for (int cycle = 0; cycle < 200; cycle++) {
      const int before = frames.n;
      ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE) << "cycle " << cycle;
      // Every fourth cycle goes back to NULL at once, racing the first frame; the others
      // wait for frames to reach the sink.
      if (cycle % 4 != 3) {
        // Three frames at the sink's pad: the second one's render (one streaming thread)
        // is over.
        ASSERT_TRUE(frames.wait_for(before + 3, 20)) << "cycle " << cycle << ": no frames. " << pop_error(p);
        with_frames++;
      }
      ASSERT_EQ(gst_element_set_state(p, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS) << "cycle " << cycle;
      const std::string err = pop_error(p);
      ASSERT_EQ(err, "") << "cycle " << cycle;
      if (cycle % 4 != 3) {
        // The sink wrote (and flushed) a complete line for every frame it got.
        const auto lines = read_lines(json.path());
        ASSERT_GE(lines.size(), 2u) << "cycle " << cycle;
        check_lines(lines, "cycle " + std::to_string(cycle));
      }
    }
    std::printf("[storm] 200 cycles (%d with frames, %d frames) in %.1f s\n", with_frames, frames.n.load(),
                (g_get_monotonic_time() - t0) / 1e6);
    gst_object_unref(p);
  }
  leaks.check();
}

TEST(Storm, FlushingSeeksEveryFewFramesLoseNoResult) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  LeakCheck leaks;
  for (const char* props : {"mode=sync batch-size=3", "mode=sync batch-size=1 interval=2", "mode=live"}) {
    SCOPED_TRACE(props);
    TempFile json(".jsonl");
    Watchdog dog(300, std::string("seeks with ") + props);
    GstElement* p = parse("videotestsrc ! video/x-raw,width=96,height=64,framerate=30/1 ! "
                          "torchclassify device=cpu " + std::string(props) + " model-location=" + model +
                          " ! torchoverlay ! torchmetasink name=sink location=" + json.path());
    ASSERT_TRUE(p);
    Counter frames;
    frames.attach(p, "sink");
    gst_element_set_state(p, GST_STATE_PAUSED);
    ASSERT_NE(gst_element_get_state(p, nullptr, nullptr, 20 * GST_SECOND * slowdown()), GST_STATE_CHANGE_FAILURE);
    gst_element_set_state(p, GST_STATE_PLAYING);
    int seeks = 0;
    BusLog r;
    GstBus* bus = gst_element_get_bus(p);
    const gint64 deadline = g_get_monotonic_time() + 120 * slowdown() * G_USEC_PER_SEC;
    while (!r.eos && !r.error && g_get_monotonic_time() < deadline) {
      if (seeks <= 40) {
        // Every 3 frames, a flushing seek to somewhere in the first 10 s (300 frames);
        // the last one with a stop 100 frames later, which ends the stream.
        const int at = frames.n;
        frames.wait_for(at + 3, 10);
        const gint64 pos = ((seeks * 7919) % 300) * GST_SECOND / 30;
        const bool last = seeks == 40;
        ASSERT_TRUE(gst_element_seek(p, 1.0, GST_FORMAT_TIME, (GstSeekFlags)(GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE),
                                     GST_SEEK_TYPE_SET, pos, last ? GST_SEEK_TYPE_SET : GST_SEEK_TYPE_NONE,
                                     last ? pos + 100 * GST_SECOND / 30 : (gint64)GST_CLOCK_TIME_NONE))
            << "seek " << seeks;
        seeks++;
      }
      GstMessage* m = gst_bus_timed_pop_filtered(bus, 5 * GST_MSECOND,
                                                 (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
      if (!m) continue;
      if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS) r.eos = true;
      if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) gst_message_parse_error(m, &r.error, nullptr);
      gst_message_unref(m);
    }
    gst_object_unref(bus);
    gst_element_set_state(p, GST_STATE_NULL);
    gst_object_unref(p);
    EXPECT_EQ(seeks, 41);
    ASSERT_FALSE(r.error) << r.describe();
    ASSERT_TRUE(r.eos) << "no EOS after the seeks";
    // A frame the sink holds when a flush comes is dropped, not written: the pad probe
    // counts it, so the lines are at most the frames counted.
    const auto lines = read_lines(json.path());
    EXPECT_LE((int)lines.size(), frames.n.load());
    EXPECT_GE(lines.size(), 100u);
    if (std::string(props).find("live") == std::string::npos) {
      // sync: every frame that left torchclassify carried a result, across every flush.
      const auto sizes = check_lines(lines, props);
      EXPECT_EQ(sizes.size(), lines.size());
    }
    std::printf("[storm] %s: %d seeks, %zu frames written\n", props, seeks, lines.size());
  }
  leaks.check();
}

TEST(Storm, RenegotiationToOtherSizesAndFormatsMidStream) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  LeakCheck leaks;
  struct Step {
    const char* format;
    int w, h, frames;
  } steps[] = {{"RGB", 64, 48, 7}, {"I420", 97, 33, 5}, {"NV12", 320, 240, 6}, {"BGRx", 1, 1, 3},
               {"RGBA", 1280, 720, 2}, {"I420", 2, 2, 4}, {"RGB", 64, 48, 5}};
  for (const char* props : {"mode=sync batch-size=4", "mode=sync batch-size=1", "mode=live"}) {
    SCOPED_TRACE(props);
    Watchdog dog(300, std::string("renegotiation with ") + props);
    TempFile json(".jsonl");
    GstElement* p = parse("appsrc name=src format=time ! torchclassify device=cpu " + std::string(props) +
                          " model-location=" + model + " ! torchoverlay ! torchmetasink name=sink location=" +
                          json.path());
    ASSERT_TRUE(p);
    GstElement* src = gst_bin_get_by_name(GST_BIN(p), "src");
    gst_element_set_state(p, GST_STATE_PLAYING);
    std::vector<std::pair<int, int>> expected;
    int n = 0;
    for (const Step& s : steps) {
      GstVideoInfo info;
      gst_video_info_set_format(&info, gst_video_format_from_string(s.format), s.w, s.h);
      info.fps_n = 30;
      info.fps_d = 1;
      GstCaps* caps = gst_video_info_to_caps(&info);
      gst_app_src_set_caps(GST_APP_SRC(src), caps);
      gst_caps_unref(caps);
      for (int i = 0; i < s.frames; i++, n++) {
        GstBuffer* b = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
        gst_buffer_memset(b, 0, (guint8)(n * 37), GST_VIDEO_INFO_SIZE(&info));
        GST_BUFFER_PTS(b) = n * GST_SECOND / 30;
        GST_BUFFER_DURATION(b) = GST_SECOND / 30;
        ASSERT_EQ(gst_app_src_push_buffer(GST_APP_SRC(src), b), GST_FLOW_OK);
        expected.push_back({s.w, s.h});
      }
    }
    gst_app_src_end_of_stream(GST_APP_SRC(src));
    BusLog r;
    collect(p, &r, 120);
    gst_element_set_state(p, GST_STATE_NULL);
    gst_object_unref(src);
    gst_object_unref(p);
    ASSERT_FALSE(r.error) << r.describe();
    ASSERT_TRUE(r.eos) << r.describe();
    const auto lines = read_lines(json.path());
    ASSERT_EQ(lines.size(), expected.size());
    if (std::string(props).find("live") != std::string::npos) {
      // live: a frame may leave before any result, or with an older frame's; the region
      // of an attached result is the frame it is attached to.
      for (const auto& l : lines) {
        const auto j = nlohmann::json::parse(l);
        for (const auto& c : j["classifications"]) {
          EXPECT_EQ(c["roi"]["w"], j["width"]) << l;
          EXPECT_EQ(c["roi"]["h"], j["height"]) << l;
        }
      }
    } else {
      EXPECT_EQ(check_lines(lines, props), expected) << "each frame with its own size, in order";
    }
  }
  leaks.check();
}

TEST(Storm, CapsfilterChangedWhileVideotestsrcRuns) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  LeakCheck leaks;
  Watchdog dog(300, "capsfilter renegotiation");
  TempFile json(".jsonl");
  GstElement* p = parse("videotestsrc ! capsfilter name=cf caps=video/x-raw,format=RGB,width=64,height=48 ! "
                        "torchclassify device=cpu mode=sync batch-size=2 model-location=" + model +
                        " ! torchoverlay ! torchmetasink name=sink location=" + json.path());
  ASSERT_TRUE(p);
  GstElement* cf = gst_bin_get_by_name(GST_BIN(p), "cf");
  Counter frames;
  frames.attach(p, "sink");
  gst_element_set_state(p, GST_STATE_PLAYING);
  const char* caps[] = {"video/x-raw,format=I420,width=121,height=77", "video/x-raw,format=NV12,width=8,height=6",
                        "video/x-raw,format=BGRA,width=640,height=360", "video/x-raw,format=RGB,width=64,height=48"};
  for (const char* c : caps) {
    ASSERT_TRUE(frames.wait_for(frames.n + 6, 30)) << pop_error(p);
    GstCaps* nc = gst_caps_from_string(c);
    g_object_set(cf, "caps", nc, nullptr);
    gst_caps_unref(nc);
  }
  ASSERT_TRUE(frames.wait_for(frames.n + 6, 30)) << pop_error(p);
  gst_element_send_event(p, gst_event_new_eos());
  BusLog r;
  collect(p, &r, 60);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(cf);
  gst_object_unref(p);
  ASSERT_FALSE(r.error) << r.describe();
  ASSERT_TRUE(r.eos) << r.describe();
  const auto sizes = check_lines(read_lines(json.path()), "capsfilter");
  std::vector<std::pair<int, int>> distinct;
  for (const auto& s : sizes)
    if (distinct.empty() || distinct.back() != s) distinct.push_back(s);
  const std::vector<std::pair<int, int>> want = {{64, 48}, {121, 77}, {8, 6}, {640, 360}, {64, 48}};
  EXPECT_EQ(distinct, want);
  leaks.check();
}

TEST(Storm, EosDuringABatchPushesEveryFrameWithItsResult) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  LeakCheck leaks;
  Watchdog dog(120, "EOS during a batch");
  for (int frames : {5, 1, 8, 13}) {
    SCOPED_TRACE(frames);
    TempFile json(".jsonl");
    BusLog r;
    run_launch("videotestsrc num-buffers=" + std::to_string(frames) +
                   " ! video/x-raw,width=80,height=60 ! torchclassify device=cpu mode=sync batch-size=8 model-location=" +
                   model + " ! torchoverlay ! torchmetasink location=" + json.path(),
               &r, 60);
    ASSERT_FALSE(r.error) << r.describe();
    ASSERT_TRUE(r.eos) << r.describe();
    const auto lines = read_lines(json.path());
    ASSERT_EQ((int)lines.size(), frames);
    EXPECT_EQ((int)check_lines(lines, "EOS").size(), frames);
    for (int i = 0; i < frames; i++) EXPECT_EQ(nlohmann::json::parse(lines[i])["frame"], i);
  }
  leaks.check();
}

namespace {

// tee ! queue ! torchclassify (sharing the main branch's model) ! torchmetasink, added to
// and removed from a running pipeline.
struct Branch {
  GstElement* queue = nullptr;
  GstElement* classify = nullptr;
  GstElement* overlay = nullptr;
  GstElement* sink = nullptr;
  GstPad* tee_pad = nullptr;
  TempFile json{".jsonl"};
  Counter frames;
};

void add_branch(GstElement* pipeline, GstElement* tee, const std::string& model, Branch* b) {
  b->queue = gst_element_factory_make("queue", nullptr);
  b->classify = gst_element_factory_make("torchclassify", nullptr);
  b->overlay = gst_element_factory_make("torchoverlay", nullptr);
  b->sink = gst_element_factory_make("torchmetasink", nullptr);
  g_object_set(b->classify, "device", "cpu", "model-location", model.c_str(), "model-instance-id", "storm-shared",
               nullptr);
  gst_util_set_object_arg(G_OBJECT(b->classify), "mode", "sync");
  g_object_set(b->sink, "location", b->json.path().c_str(), "sync", FALSE, nullptr);
  gst_bin_add_many(GST_BIN(pipeline), b->queue, b->classify, b->overlay, b->sink, nullptr);
  ASSERT_TRUE(gst_element_link_many(b->queue, b->classify, b->overlay, b->sink, nullptr));
  GstPad* pad = gst_element_get_static_pad(b->sink, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, Counter::probe, &b->frames, nullptr);
  gst_object_unref(pad);
  for (GstElement* e : {b->sink, b->overlay, b->classify, b->queue}) ASSERT_TRUE(gst_element_sync_state_with_parent(e));
  b->tee_pad = gst_element_request_pad_simple(tee, "src_%u");
  GstPad* qsink = gst_element_get_static_pad(b->queue, "sink");
  ASSERT_EQ(gst_pad_link(b->tee_pad, qsink), GST_PAD_LINK_OK);
  gst_object_unref(qsink);
}

// Blocks the tee's pad when it is idle, unlinks the branch, and sends it EOS so that its
// sink finishes its file; then stops the branch's elements and takes them out.
void remove_branch(GstElement* pipeline, GstElement* tee, Branch* b) {
  struct Ctx {
    GMutex mu;
    GCond cond;
    bool unlinked = false;
  } ctx;
  g_mutex_init(&ctx.mu);
  g_cond_init(&ctx.cond);
  gst_pad_add_probe(
      b->tee_pad, GST_PAD_PROBE_TYPE_IDLE,
      [](GstPad* pad, GstPadProbeInfo*, gpointer data) {
        Ctx* c = static_cast<Ctx*>(data);
        GstPad* peer = gst_pad_get_peer(pad);
        if (peer) {
          gst_pad_unlink(pad, peer);
          gst_pad_send_event(peer, gst_event_new_eos());
          gst_object_unref(peer);
        }
        g_mutex_lock(&c->mu);
        c->unlinked = true;
        g_cond_signal(&c->cond);
        g_mutex_unlock(&c->mu);
        return GST_PAD_PROBE_REMOVE;
      },
      &ctx, nullptr);
  g_mutex_lock(&ctx.mu);
  const gint64 end = g_get_monotonic_time() + 10 * slowdown() * G_USEC_PER_SEC;
  while (!ctx.unlinked)
    if (!g_cond_wait_until(&ctx.cond, &ctx.mu, end)) break;
  const bool unlinked = ctx.unlinked;
  g_mutex_unlock(&ctx.mu);
  ASSERT_TRUE(unlinked) << "the tee pad never went idle";
  // The branch's EOS reaches its sink (bounded), then the elements stop.
  GstPad* sinkpad = gst_element_get_static_pad(b->sink, "sink");
  const gint64 eos_end = g_get_monotonic_time() + 10 * slowdown() * G_USEC_PER_SEC;
  while (!GST_PAD_IS_EOS(sinkpad) && g_get_monotonic_time() < eos_end) g_usleep(2000);
  EXPECT_TRUE(GST_PAD_IS_EOS(sinkpad)) << "the removed branch did not drain";
  gst_object_unref(sinkpad);
  for (GstElement* e : {b->queue, b->classify, b->overlay, b->sink}) {
    EXPECT_EQ(gst_element_set_state(e, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    gst_bin_remove(GST_BIN(pipeline), e);
  }
  gst_element_release_request_pad(tee, b->tee_pad);
  gst_object_unref(b->tee_pad);
  b->tee_pad = nullptr;
}

}  // namespace

TEST(Storm, BranchesRemovedFromARunningPipeline) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  LeakCheck leaks;
  {
    Watchdog dog(300, "branches removed from a running pipeline");
    TempFile main_json(".jsonl");
    GstElement* p = parse("videotestsrc is-live=true ! video/x-raw,width=64,height=48,framerate=60/1 ! tee name=t "
                          "t. ! queue ! torchclassify device=cpu mode=sync model-instance-id=storm-shared "
                          "model-location=" + model + " ! torchoverlay ! torchmetasink name=main sync=false location=" +
                          main_json.path());
    ASSERT_TRUE(p);
    GstElement* tee = gst_bin_get_by_name(GST_BIN(p), "t");
    Counter main_frames;
    main_frames.attach(p, "main");
    ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    ASSERT_TRUE(main_frames.wait_for(5, 30)) << pop_error(p);
    for (int round = 0; round < 6; round++) {
      SCOPED_TRACE("round " + std::to_string(round));
      Branch b;
      add_branch(p, tee, model, &b);
      ASSERT_TRUE(b.frames.wait_for(8, 30)) << "the new branch got no frames. " << pop_error(p);
      const int main_before = main_frames.n;
      remove_branch(p, tee, &b);
      // The main branch went on while the other was removed, and goes on after.
      ASSERT_TRUE(main_frames.wait_for(main_before + 5, 30)) << pop_error(p);
      ASSERT_EQ(pop_error(p), "");
      const auto lines = read_lines(b.json.path());
      EXPECT_EQ((int)lines.size(), b.frames.n.load()) << "the removed branch lost lines";
      check_lines(lines, "removed branch");
    }
    gst_element_send_event(p, gst_event_new_eos());
    BusLog r;
    collect(p, &r, 30);
    gst_element_set_state(p, GST_STATE_NULL);
    gst_object_unref(tee);
    gst_object_unref(p);
    ASSERT_FALSE(r.error) << r.describe();
    ASSERT_TRUE(r.eos) << r.describe();
    const auto lines = read_lines(main_json.path());
    EXPECT_EQ((int)lines.size(), main_frames.n.load());
    check_lines(lines, "main branch");
    for (size_t i = 0; i < lines.size(); i++)
      EXPECT_EQ(nlohmann::json::parse(lines[i])["frame"], i) << "a gap in the main branch";
  }
  leaks.check();
}
