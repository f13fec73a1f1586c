// The embedding application (pipelines/torchanalytics-app.cpp) and its Python twin
// (pipelines/torchanalytics-app.py), run as programs: on a file they print one line per
// frame and exit 0 at EOS; on the loopback RTSP server they print lines, survive the
// server going away and coming back, and stop cleanly on SIGTERM.
#include <signal.h>

#include <gst/gst.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pipeline_helpers.h"
#include "test_env.h"

using namespace ta_test;

namespace {

std::vector<std::string> app_argv(const std::string& model, std::vector<std::string> extra) {
  std::vector<std::string> argv = {env_or("TA_APP"), "--model-location=" + model, "--device=cpu"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

std::string python_app() { return env_or("TA_PIPELINES_DIR") + "/torchanalytics-app.py"; }

// Whether the system Python has GStreamer's introspection and our meta's typelib
// (GI_TYPELIB_PATH, tests/pipeline/meson.build); the reason when it does not.
std::string python_gst_missing() {
  const std::string py = env_or("TA_SYSTEM_PYTHON", "/usr/bin/python3");
  if (!file_exists(py)) return py + " does not exist";
  Child c;
  if (!c.start({py, "-c",
                "import gi; gi.require_version('Gst', '1.0'); from gi.repository import Gst"}))
    return "cannot run " + py;
  const int st = c.wait_exit(Seconds(30));
  if (!exited_with(st, 0))
    return py + " lacks gi / Gst (Debian: apt install python3-gst-1.0): " + c.stderr_text();
  Child t;
  if (!t.start({py, "-c",
                "import gi; gi.require_version('GstTorchAnalytics', '1.0')"}))
    return "cannot run " + py;
  if (!exited_with(t.wait_exit(Seconds(30)), 0))
    return "no GstTorchAnalytics-1.0 typelib (built with gobject-introspection and "
           "libgirepository1.0-dev): " + t.stderr_text();
  return "";
}

#define REQUIRE_PYTHON_GST()                                   \
  do {                                                         \
    const std::string why = python_gst_missing();              \
    if (!why.empty()) GTEST_SKIP() << why;                     \
  } while (0)

class AppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(env_or("TA_APP").empty()) << "TA_APP is not set (tests/pipeline/meson.build)";
  }
};

TEST_F(AppTest, FileEndsAtEosWithALinePerFrame) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  TempPath mp4(".mp4");
  ASSERT_EQ(make_mp4(mp4.path(), 45), "");
  Child app;
  ASSERT_TRUE(app.start(app_argv(model, {mp4.path()})));
  const int st = app.wait_exit(Seconds(120));
  ASSERT_TRUE(exited_with(st, 0)) << Child::describe(st) << "\n" << app.report();
  const auto lines = app.lines();
  EXPECT_EQ(lines.size(), 45u) << app.report();
  check_app_lines(lines);
  // A file runs in sync mode: every frame has its own result, no source-pts.
  for (const auto& l : lines) EXPECT_EQ(l.find("source-pts"), std::string::npos) << l;
}

TEST_F(AppTest, FileUriAndMaxFrames) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  TempPath mp4(".mp4");
  ASSERT_EQ(make_mp4(mp4.path(), 45), "");
  Child app;
  ASSERT_TRUE(app.start(app_argv(model, {"--max-frames", "10", "--top-k", "3", "file://" + mp4.path()})));
  const int st = app.wait_exit(Seconds(120));
  ASSERT_TRUE(exited_with(st, 0)) << Child::describe(st) << "\n" << app.report();
  EXPECT_EQ(app.n_lines(), 10u) << app.report();
  check_app_lines(app.lines());
}

TEST_F(AppTest, BadModelIsFatal_n) {
  TempPath mp4(".mp4");
  ASSERT_EQ(make_mp4(mp4.path(), 5), "");
  Child app;
  ASSERT_TRUE(app.start(app_argv("/nonexistent/model.ts", {mp4.path()})));
  const int st = app.wait_exit(Seconds(60));
  ASSERT_TRUE(exited_with(st, 1)) << Child::describe(st) << "\n" << app.report();
  EXPECT_EQ(app.n_lines(), 0u);
  EXPECT_NE(app.stderr_text().find("model-location"), std::string::npos) << app.stderr_text();
}

// On a live stream a bad model is fatal too: it is not a source to reconnect.
TEST_F(AppTest, BadModelOnRtspIsFatal_n) {
  RtspServer server;
  ASSERT_TRUE(server.start());
  Child app;
  ASSERT_TRUE(app.start(app_argv("/nonexistent/model.ts", {server.url()})));
  const int st = app.wait_exit(Seconds(60));
  ASSERT_TRUE(exited_with(st, 1)) << Child::describe(st) << "\n" << app.report();
  EXPECT_NE(app.stderr_text().find("model-location"), std::string::npos) << app.stderr_text();
}

TEST_F(AppTest, BadArgumentsExit2_n) {
  Child app;
  ASSERT_TRUE(app.start({env_or("TA_APP"), "--mode=fast", "video.mp4"}));
  EXPECT_TRUE(exited_with(app.wait_exit(Seconds(30)), 2)) << app.report();
  Child none;
  ASSERT_TRUE(none.start({env_or("TA_APP")}));
  EXPECT_TRUE(exited_with(none.wait_exit(Seconds(30)), 2)) << none.report();
}

// The camera goes away (killed, no goodbye) and comes back on the same port 2 s later:
// the app keeps running, reconnects with its backoff and prints lines again, numbered on;
// SIGTERM then stops it with status 0.
TEST_F(AppTest, RtspSurvivesServerRestart) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  RtspServer server;
  ASSERT_TRUE(server.start());
  const int port = server.port();
  Child app;
  ASSERT_TRUE(app.start(app_argv(model, {"--latency", "100", "--reconnect-max-backoff", "2", server.url()})));
  ASSERT_TRUE(app.wait_lines(30, Seconds(60))) << app.report();

  server.crash();
  g_usleep(2 * G_USEC_PER_SEC);
  ASSERT_TRUE(app.running()) << "the app exited when the server went away\n" << app.report();
  const size_t before = app.n_lines();
  RtspServer again;
  ASSERT_TRUE(again.start(port));
  // Lines again, well after the restart (the app may have printed a few frames that were
  // still in flight when the server died).
  ASSERT_TRUE(app.wait_lines(before + 30, Seconds(45)))
      << "no new lines after the server came back\n" << app.report();
  ASSERT_TRUE(app.running()) << app.report();

  app.send(SIGTERM);
  const int st = app.wait_exit(Seconds(20));
  ASSERT_TRUE(exited_with(st, 0)) << Child::describe(st) << "\n" << app.report();
  const auto lines = app.lines();
  check_app_lines(lines);  // numbering and pts go on across the reconnection
  EXPECT_NE(app.stderr_text().find("reconnecting"), std::string::npos) << app.stderr_text();
}

// A camera that hangs, its connection open but no more frames: the app's watchdog
// (--stall-timeout) rebuilds the source; the new connection waits for the camera
// (--connect-timeout, 30 s, before the next rebuild), and the frames come back once the
// camera goes on.
TEST_F(AppTest, RtspSurvivesAStalledServer) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  RtspServer server;
  ASSERT_TRUE(server.start());
  Child app;
  ASSERT_TRUE(app.start(app_argv(model, {"--latency", "100", "--stall-timeout", "2",
                                         "--reconnect-max-backoff", "1", server.url()})));
  ASSERT_TRUE(app.wait_lines(20, Seconds(60))) << app.report();
  server.signal(SIGSTOP);
  g_usleep(6 * G_USEC_PER_SEC);
  server.signal(SIGCONT);
  ASSERT_TRUE(app.running()) << app.report();
  const size_t before = app.n_lines();
  ASSERT_TRUE(app.wait_lines(before + 30, Seconds(45)))
      << "no new lines after the server went on\n" << app.report();
  app.send(SIGTERM);
  const int st = app.wait_exit(Seconds(20));
  ASSERT_TRUE(exited_with(st, 0)) << Child::describe(st) << "\n" << app.report();
  check_app_lines(app.lines());
  EXPECT_NE(app.stderr_text().find("no frames"), std::string::npos) << app.stderr_text();
}

// A camera that accepts the connection but answers only seconds later (a camera booting, or
// a loaded machine): longer than --stall-timeout, within --connect-timeout. The app waits
// for the first frame instead of rebuilding the source every --stall-timeout, which never
// let such a camera come up.
TEST_F(AppTest, RtspSlowFirstFrameIsWaitedFor) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  RtspServer server;
  ASSERT_TRUE(server.start());
  server.signal(SIGSTOP);  // the kernel still accepts the TCP connection
  Child app;
  ASSERT_TRUE(app.start(app_argv(model, {"--latency", "100", "--stall-timeout", "1",
                                         "--connect-timeout", "20", "--reconnect-max-backoff", "1",
                                         server.url()})));
  g_usleep(5 * G_USEC_PER_SEC);
  server.signal(SIGCONT);
  ASSERT_TRUE(app.wait_lines(10, Seconds(60))) << app.report();
  app.send(SIGTERM);
  const int st = app.wait_exit(Seconds(20));
  ASSERT_TRUE(exited_with(st, 0)) << Child::describe(st) << "\n" << app.report();
  check_app_lines(app.lines());
  EXPECT_EQ(app.stderr_text().find("source lost"), std::string::npos)
      << "the source was rebuilt while it connected\n" << app.stderr_text();
}

// A camera that is not there yet when the app starts is waited for, not given up on.
TEST_F(AppTest, RtspServerDownAtStart) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  // A port that was free a moment ago: take one from a server, then stop it.
  int port = 0;
  {
    RtspServer probe;
    ASSERT_TRUE(probe.start());
    port = probe.port();
    probe.crash();
  }
  const std::string url = "rtsp://127.0.0.1:" + std::to_string(port) + "/test";
  Child app;
  ASSERT_TRUE(app.start(app_argv(model, {"--reconnect-max-backoff", "2", url})));
  g_usleep(3 * G_USEC_PER_SEC);
  ASSERT_TRUE(app.running()) << "the app gave up on a server that is not up yet\n" << app.report();
  EXPECT_EQ(app.n_lines(), 0u);
  RtspServer server;
  ASSERT_TRUE(server.start(port));
  ASSERT_TRUE(app.wait_lines(20, Seconds(45))) << app.report();
  app.send(SIGINT);
  const int st = app.wait_exit(Seconds(20));
  ASSERT_TRUE(exited_with(st, 0)) << Child::describe(st) << "\n" << app.report();
  check_app_lines(app.lines());
}

// The Python example: the meta in a buffer probe, through the GstTorchAnalytics typelib.
TEST(PythonApp, FileEndsAtEosWithALinePerFrame) {
  REQUIRE_PYTHON_GST();
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  TempPath mp4(".mp4");
  ASSERT_EQ(make_mp4(mp4.path(), 45), "");
  Child app;
  ASSERT_TRUE(app.start({env_or("TA_SYSTEM_PYTHON", "/usr/bin/python3"), python_app(),
                         "--model-location=" + model, "--device=cpu", mp4.path()}));
  const int st = app.wait_exit(Seconds(120));
  ASSERT_TRUE(exited_with(st, 0)) << Child::describe(st) << "\n" << app.report();
  EXPECT_EQ(app.n_lines(), 45u) << app.report();
  check_app_lines(app.lines());
}

TEST(PythonApp, RtspStream) {
  REQUIRE_PYTHON_GST();
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  RtspServer server;
  ASSERT_TRUE(server.start());
  Child app;
  ASSERT_TRUE(app.start({env_or("TA_SYSTEM_PYTHON", "/usr/bin/python3"), python_app(),
                         "--model-location=" + model, "--device=cpu", "--latency=100",
                         server.url()}));
  ASSERT_TRUE(app.wait_lines(30, Seconds(60))) << app.report();
  app.send(SIGTERM);
  const int st = app.wait_exit(Seconds(20));
  ASSERT_TRUE(exited_with(st, 0)) << Child::describe(st) << "\n" << app.report();
  const auto lines = app.lines();
  check_app_lines(lines);
  // Live mode (mode=auto on RTSP): results come from earlier frames and say which.
  size_t marked = 0;
  for (const auto& l : lines) marked += l.find(" source-pts=") != std::string::npos;
  EXPECT_EQ(marked, lines.size());
}

TEST(PythonApp, BadModelIsFatal_n) {
  REQUIRE_PYTHON_GST();
  TempPath mp4(".mp4");
  ASSERT_EQ(make_mp4(mp4.path(), 5), "");
  Child app;
  ASSERT_TRUE(app.start({env_or("TA_SYSTEM_PYTHON", "/usr/bin/python3"), python_app(),
                         "--model-location=/nonexistent/model.ts", mp4.path()}));
  const int st = app.wait_exit(Seconds(60));
  ASSERT_TRUE(exited_with(st, 1)) << Child::describe(st) << "\n" << app.report();
  EXPECT_NE(app.stderr_text().find("model-location"), std::string::npos) << app.stderr_text();
}

}  // namespace
