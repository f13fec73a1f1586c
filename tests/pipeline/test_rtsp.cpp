// RTSP camera analysis: a loopback gst-rtsp-server (H.264 from videotestsrc) read by
// rtspsrc ! decodebin ! videoconvert ! torchclassify ! torchmetasink, and the JSON lines
// checked: count, strictly increasing pts, tiny.ts's labels, the DESIGN.md schema.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <string>

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
// over TCP refused). Either way what reached the sink is all in the file, one whole valid
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
  std::atomic<int> count{0};
  ASSERT_TRUE(count_sink_buffers(p, &count));
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
  GstMessage* early = until(Seconds(60), [&] { return count.load() >= 30; });
  ASSERT_EQ(early, nullptr) << "the stream ended before the server was killed";
  ASSERT_GE(count.load(), 30);

  server.crash();
  const auto killed = Clock::now();
  const int at_kill = count.load();
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
  gst_message_unref(m);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(p);

  // Every frame that reached the sink is a whole line, classified, pts increasing.
  const auto lines = read_file_lines(out.path());
  EXPECT_EQ(lines.size(), static_cast<size_t>(count.load()));
  EXPECT_GE(lines.size(), static_cast<size_t>(at_kill));
  EXPECT_EQ(check_metasink_lines(lines, 320, 240, "cam0", false), lines.size());
}

INSTANTIATE_TEST_SUITE_P(Transport, RtspServerKilled, ::testing::Values("tcp", "udp"),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

}  // namespace
