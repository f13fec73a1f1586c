// RTSP camera analysis: a loopback gst-rtsp-server (H.264 from videotestsrc) read by
// rtspsrc ! decodebin ! videoconvert ! torchclassify ! torchmetasink, and the JSON lines
// checked: count, strictly increasing pts, tiny.ts's labels, the DESIGN.md schema.
#include <gst/gst.h>
#include <gtest/gtest.h>

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

}  // namespace
