// RTSP camera analysis: a loopback gst-rtsp-server (H.264 from videotestsrc) read by
// rtspsrc ! decodebin ! videoconvert ! torchclassify ! torchmetasink, and the JSON lines
// checked: count, strictly increasing pts, tiny.ts's labels, the DESIGN.md schema.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "pipeline_helpers.h"
#include "test_env.h"

using namespace ta_test;

namespace {

constexpr int kFrames = 30;

struct Case {
  const char* protocols;  // rtspsrc protocols; "" its default (UDP first)
  const char* mode;       // torchclassify mode
};

class RtspToMetasink : public ::testing::TestWithParam<Case> {};

// rtspsrc ! decodebin ! videoconvert ! torchclassify ! torchmetasink: at least kFrames
// lines, pts increasing, tiny.ts's labels. mode=sync: every frame its own result;
// mode=auto on this live source is live mode: results of earlier frames, marked.
TEST_P(RtspToMetasink, JsonLinesOfTheStream) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  RtspServer server;
  ASSERT_TRUE(server.start());
  TempPath out(".jsonl");

  const Case c = GetParam();
  const std::string protocols = c.protocols;
  const std::string desc =
      "rtspsrc location=" + server.url() + " latency=100" +
      (protocols.empty() ? "" : " protocols=" + protocols) +
      " ! decodebin ! videoconvert ! torchclassify model-location=\"" + model +
      "\" device=cpu mode=" + c.mode +
      " ! torchmetasink name=sink stream-name=cam0 location=\"" + out.path() + "\"";
  int buffers = 0;
  const std::string err = run_until_buffers(desc, kFrames, Seconds(60), &buffers);
  ASSERT_EQ(err, "") << desc;

  const auto lines = read_file_lines(out.path());
  // Every buffer that reached the sink is a line; a few more may have come before EOS.
  EXPECT_GE(lines.size(), static_cast<size_t>(kFrames));
  EXPECT_EQ(lines.size(), static_cast<size_t>(buffers));
  const bool live = std::string(c.mode) != "sync";
  const size_t classified = check_metasink_lines(lines, 320, 240, "cam0", live);
  if (live) {
    EXPECT_GE(classified, lines.size() / 2) << "most frames should have a result";
  } else {
    EXPECT_EQ(classified, lines.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Transport, RtspToMetasink,
                         ::testing::Values(Case{"", "sync"}, Case{"tcp", "sync"}, Case{"", "auto"},
                                           Case{"tcp", "auto"}),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return std::string(*i.param.protocols ? i.param.protocols : "udp") +
                                  "_" + i.param.mode;
                         });

// mode=sync with the leaky one-frame queue that docs/guides/rtsp.md suggests when every
// frame must wait for its own result: the meta still reaches the sink on every frame
// that got through, and the lines stay well formed.
TEST(RtspPipeline, SyncModeBehindALeakyQueue) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  RtspServer server;
  ASSERT_TRUE(server.start());
  TempPath out(".jsonl");
  const std::string desc =
      "rtspsrc location=" + server.url() + " latency=100 ! decodebin ! videoconvert ! "
      "queue max-size-buffers=1 max-size-bytes=0 max-size-time=0 leaky=downstream ! "
      "torchclassify model-location=\"" + model + "\" device=cpu mode=sync ! "
      "torchmetasink name=sink stream-name=cam0 location=\"" + out.path() + "\"";
  int buffers = 0;
  ASSERT_EQ(run_until_buffers(desc, kFrames, Seconds(60), &buffers), "") << desc;
  const auto lines = read_file_lines(out.path());
  EXPECT_GE(lines.size(), static_cast<size_t>(kFrames));
  EXPECT_EQ(check_metasink_lines(lines, 320, 240, "cam0", false), lines.size());
}

// The server refuses nothing and serves several clients at once (it is shared), as the
// tests of the app and the scripts rely on.
TEST(RtspTestServer, ServesTwoClientsAtOnce) {
  RtspServer server;
  ASSERT_TRUE(server.start());
  const std::string desc = "rtspsrc location=" + server.url() +
                           " latency=100 ! decodebin ! videoconvert ! fakesink name=sink";
  std::string err2;
  int b2 = 0;
  std::thread other([&] { err2 = run_until_buffers(desc, 20, Seconds(30), &b2); });
  int b1 = 0;
  EXPECT_EQ(run_until_buffers(desc, 20, Seconds(30), &b1), "");
  other.join();
  EXPECT_EQ(err2, "");
  EXPECT_GE(b1, 20);
  EXPECT_GE(b2, 20);
}


// The camera dies mid-stream (SIGKILL: no TEARDOWN, the socket just goes). rtspsrc finds
// out within a bounded time and says so on the bus: over TCP the connection closes and
// rtspsrc ends the stream (EOS; torchclassify then drains its batch, so every frame that
// was on its way gets its line); over UDP it is an error from rtspsrc (no packet, a retry
// over TCP refused). Either way what the sink rendered is all in the file, one whole valid
// line a frame. (Rebuilding the source, as the embedding app does on both, is tested in
// test_app.cpp.)
class RtspServerKilled : public ::testing::TestWithParam<const char*> {};

TEST_P(RtspServerKilled, ErrorNamesTheSourceAndEveryLineStays) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  RtspServer server;
  ASSERT_TRUE(server.start());
  TempPath out(".jsonl");
  const std::string desc = "rtspsrc name=cam location=" + server.url() + " latency=100 protocols=" + GetParam() +
                           " timeout=2000000 tcp-timeout=3000000 ! decodebin ! videoconvert ! "
                           "torchclassify model-location=\"" + model + "\" device=cpu mode=sync batch-size=4 ! "
                           "torchmetasink name=sink stream-name=cam0 location=\"" + out.path() + "\"";
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &err);
  ASSERT_TRUE(p && !err) << desc << ": " << (err ? err->message : "");
  // What the sink was given and what it rendered. The pad probe records the pts of every
  // buffer that enters the sink's pad; GstBaseSink's stats count the buffers rendered (as
  // render() returns; the stats are cleared when the sink leaves PLAYING, so they are read
  // while it plays). A buffer can enter the pad while the pipeline is being stopped and be
  // dropped there, never rendered: that is no lost line. A line is lost when a buffer
  // rendered has none, or when the lines are not the buffers that entered, in order.
  struct Entered {
    std::mutex mu;
    std::vector<long long> pts;
  } entered;
  GstElement* sink = gst_bin_get_by_name(GST_BIN(p), "sink");
  ASSERT_NE(sink, nullptr);
  {
    GstPad* pad = gst_element_get_static_pad(sink, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER,
        [](GstPad*, GstPadProbeInfo* info, gpointer e) {
          auto* en = static_cast<Entered*>(e);
          std::lock_guard<std::mutex> lock(en->mu);
          en->pts.push_back(static_cast<long long>(GST_BUFFER_PTS(GST_PAD_PROBE_INFO_BUFFER(info))));
          return GST_PAD_PROBE_OK;
        }, &entered, nullptr);
    gst_object_unref(pad);
  }
  const auto rendered = [sink]() -> long long {
    GstStructure* st = nullptr;
    g_object_get(sink, "stats", &st, nullptr);
    guint64 n = 0;
    const bool ok = st && gst_structure_get_uint64(st, "rendered", &n);
    if (st) gst_structure_free(st);
    return ok ? static_cast<long long>(n) : -1;
  };
  GstBus* bus = gst_element_get_bus(p);
  ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);

  // Running: 30 frames through.
  const auto until = [&](Seconds limit, const std::function<bool()>& done) -> GstMessage* {
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(limit);
    while (!done() && Clock::now() < deadline) {
      GstMessage* m = gst_bus_timed_pop_filtered(bus, 50 * GST_MSECOND,
                                                 static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_EOS));
      if (m) return m;
    }
    return nullptr;
  };
  GstMessage* early = until(Seconds(60), [&] { return rendered() >= 30; });
  ASSERT_EQ(early, nullptr) << "the stream ended before the server was killed";
  ASSERT_GE(rendered(), 30);

  server.crash();
  const auto killed = Clock::now();
  const long long at_kill = rendered();  // all of these are lines, whatever comes next
  GstMessage* m = until(Seconds(45), [] { return false; });
  const double took = std::chrono::duration<double>(Clock::now() - killed).count();
  ASSERT_NE(m, nullptr) << "nothing on the bus 45 s after the server was killed";
  const bool tcp = std::string(GetParam()) == "tcp";
  EXPECT_EQ(GST_MESSAGE_TYPE(m), tcp ? GST_MESSAGE_EOS : GST_MESSAGE_ERROR)
      << "rtspsrc 1.22 ends a TCP stream whose server went away with EOS, and fails a UDP one";
  if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS) {
    std::printf("%s: EOS %.1f s after the server was killed\n", GetParam(), took);
  } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
    GError* e = nullptr;
    gchar* dbg = nullptr;
    gst_message_parse_error(m, &e, &dbg);
    gchar* path = gst_object_get_path_string(GST_MESSAGE_SRC(m));
    EXPECT_NE(std::string(path).find("cam"), std::string::npos) << "error from " << path << ": " << e->message;
    std::printf("%s: error from %s after %.1f s: %s\n", GetParam(), path, took, e->message);
    g_free(path);
    g_clear_error(&e);
    g_free(dbg);
  }
  const bool eos = GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS;
  gst_message_unref(m);
  // Rendered so far, the sink still PLAYING: each of these must have its line.
  const long long before_stop = rendered();
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(bus);
  gst_object_unref(p);

  const auto lines = read_file_lines(out.path());
  const std::vector<long long> in = entered.pts;  // the pipeline is gone: no more writers
  ASSERT_GE(before_stop, 0) << "no 'rendered' in the sink's stats";
  EXPECT_GE(at_kill, 30);
  EXPECT_GE(before_stop, at_kill);
  // Every buffer rendered before the stop has its line, and no line comes from nowhere.
  EXPECT_GE(lines.size(), static_cast<size_t>(before_stop)) << in.size() << " buffers entered the sink";
  ASSERT_LE(lines.size(), in.size());
  // The lines are the buffers that entered, in order, none skipped: line i has the pts of
  // the i-th buffer.
  for (size_t i = 0; i < lines.size(); i++) {
    const auto j = nlohmann::json::parse(lines[i], nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("pts")) << "line " << i << ": " << lines[i];
    ASSERT_EQ(j["pts"].get<long long>(), in[i]) << "line " << i << " is not the " << i << "-th buffer";
  }
  // After EOS every buffer that entered was rendered; after an error and the stop, only
  // the last one (the sink's stream lock lets one in at a time) may have been dropped.
  EXPECT_LE(in.size() - lines.size(), eos ? 0u : 1u) << lines.size() << " lines";
  std::printf("%s: %zu buffers entered the sink, %lld rendered before the stop, %zu lines\n", GetParam(),
              in.size(), before_stop, lines.size());
  // Every line whole, classified, pts increasing.
  EXPECT_EQ(check_metasink_lines(lines, 320, 240, "cam0", false), lines.size());
}

INSTANTIATE_TEST_SUITE_P(Transport, RtspServerKilled, ::testing::Values("tcp", "udp"),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

}  // namespace
