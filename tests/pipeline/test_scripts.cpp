// The scripts of pipelines/, run as a user runs them (with the test's GST_PLUGIN_PATH):
// classify-file.sh on an MP4, rtsp-camera.sh and rtsp-restream.sh on the loopback RTSP
// server; camera.sh and the MQTT branch of rtsp-camera.sh (no camera, no broker here) as
// dry runs whose pipelines must parse.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <gst/gst.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include <atomic>
#include <string>
#include <vector>

#include "mosquitto_broker.h"
#include "net_helpers.h"
#include "pipeline_helpers.h"
#include "test_env.h"

using namespace ta_test;

namespace {

std::string script(const char* name) { return env_or("TA_PIPELINES_DIR") + "/" + name; }

// Frames of a video file, decoded to the end (-1: it did not decode).
int count_frames(const std::string& path) {
  const std::string desc = "filesrc location=\"" + path + "\" ! decodebin ! fakesink name=sink";
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &err);
  if (!p || err) {
    g_clear_error(&err);
    if (p) gst_object_unref(p);
    return -1;
  }
  std::atomic<int> n{0};
  count_sink_buffers(p, &n);
  gst_element_set_state(p, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(p);
  GstMessage* m = gst_bus_timed_pop_filtered(bus, 60 * GST_SECOND,
      static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  const bool eos = m && GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS;
  if (m) gst_message_unref(m);
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  return eos ? n.load() : -1;
}

// Runs a script with GST_LAUNCH=echo and returns the pipeline it would launch ("" when it
// failed, with a test failure).
std::string dry_run(const char* name, const std::vector<std::string>& env) {
  std::vector<std::string> e = env;
  e.push_back("GST_LAUNCH=echo");
  Child c;
  if (!c.start({script(name)}, e)) return "";
  const int st = c.wait_exit(Seconds(30));
  if (!exited_with(st, 0)) {
    ADD_FAILURE() << name << ": " << Child::describe(st) << "\n" << c.report();
    return "";
  }
  const auto lines = c.lines();
  if (lines.size() != 1u) {
    ADD_FAILURE() << name << " printed " << lines.size() << " lines\n" << c.report();
    return "";
  }
  return lines[0];
}

// The description parses into a pipeline: every element exists, every property is known.
::testing::AssertionResult parses(const std::string& desc) {
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &err);
  std::string e = err ? err->message : "";
  g_clear_error(&err);
  if (p) gst_object_unref(p);
  if (!p || !e.empty()) return ::testing::AssertionFailure() << "'" << desc << "': " << e;
  return ::testing::AssertionSuccess();
}

// Polls a file until it has `n` lines (bounded); returns whether it did.
bool wait_file_lines(const std::string& path, size_t n, Seconds timeout) {
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout);
  while (Clock::now() < deadline) {
    if (read_file_lines(path).size() >= n) return true;
    g_usleep(100 * 1000);
  }
  return read_file_lines(path).size() >= n;
}

TEST(Scripts, ClassifyFileWritesAnnotatedMp4AndJsonLines) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  TempPath in(".mp4");
  ASSERT_EQ(make_mp4(in.path(), 45), "");
  const std::string out = in.sibling("annotated.mp4"), json = in.sibling("results.jsonl");
  Child c;
  ASSERT_TRUE(c.start({script("classify-file.sh")},
                      {"INPUT=" + in.path(), "OUTPUT=" + out, "JSON=" + json, "STREAM=clip",
                       "MODEL=" + model, "TORCH_DEVICE=cpu"}));
  const int st = c.wait_exit(Seconds(180));
  ASSERT_TRUE(exited_with(st, 0)) << Child::describe(st) << "\n" << c.report();
  const auto lines = read_file_lines(json);
  EXPECT_EQ(lines.size(), 45u);
  EXPECT_EQ(check_metasink_lines(lines, 320, 240, "clip", false), lines.size());
  EXPECT_EQ(count_frames(out), 45) << "the annotated MP4 does not hold the 45 frames";
}

TEST(Scripts, ClassifyFileDefaultsNextToTheInput) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  TempPath in(".mp4");  // .../file.mp4: outputs file-annotated.mp4 and file.jsonl
  ASSERT_EQ(make_mp4(in.path(), 10), "");
  Child c;
  ASSERT_TRUE(c.start({script("classify-file.sh")},
                      {"INPUT=" + in.path(), "MODEL=" + model, "TORCH_DEVICE=cpu"}));
  const int st = c.wait_exit(Seconds(180));
  ASSERT_TRUE(exited_with(st, 0)) << Child::describe(st) << "\n" << c.report();
  EXPECT_EQ(read_file_lines(in.sibling("file.jsonl")).size(), 10u);
  EXPECT_EQ(count_frames(in.sibling("file-annotated.mp4")), 10);
}

TEST(Scripts, ClassifyFileWithoutInput_n) {
  Child c;
  ASSERT_TRUE(c.start({script("classify-file.sh")}, {"INPUT="}));
  const int st = c.wait_exit(Seconds(30));
  EXPECT_TRUE(exited_with(st, 2)) << Child::describe(st);
  EXPECT_NE(c.stderr_text().find("INPUT"), std::string::npos) << c.stderr_text();
}

// Without the plugin anywhere the scripts say how to get it, before gst-launch fails.
TEST(Scripts, MissingPluginIsExplained_n) {
  TempPath reg(".bin");
  gchar* empty = g_path_get_dirname(reg.path().c_str());
  Child c;
  ASSERT_TRUE(c.start({script("rtsp-camera.sh")},
                      {"URL=rtsp://127.0.0.1:1/x", std::string("GST_PLUGIN_PATH=") + empty,
                       "GST_REGISTRY=" + reg.path(), "GST_PLUGIN_SYSTEM_PATH=" + std::string(empty),
                       "BUILD_DIR=/nonexistent"}));
  g_free(empty);
  const int st = c.wait_exit(Seconds(60));
  EXPECT_TRUE(exited_with(st, 2)) << Child::describe(st) << "\n" << c.report();
  EXPECT_NE(c.stderr_text().find("does not find torchclassify"), std::string::npos) << c.stderr_text();
}

// rtsp-camera.sh, headless (SINK=fakesink) with its JSON Lines branch, over TCP.
TEST(Scripts, RtspCameraWritesJsonLines) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  RtspServer server;
  ASSERT_TRUE(server.start());
  TempPath json(".jsonl");
  Child c;
  ASSERT_TRUE(c.start({script("rtsp-camera.sh")},
                      {"URL=" + server.url(), "LATENCY=100", "PROTOCOLS=tcp", "SINK=fakesink",
                       "JSON=" + json.path(), "STREAM=door", "MODEL=" + model,
                       "TORCH_DEVICE=cpu"}));
  ASSERT_TRUE(wait_file_lines(json.path(), 30, Seconds(60))) << c.report();
  c.send(SIGINT);  // gst-launch-1.0 stops on Ctrl-C
  const int st = c.wait_exit(Seconds(20));
  EXPECT_TRUE(exited_with(st, 0)) << Child::describe(st) << "\n" << c.report();
  const auto lines = read_file_lines(json.path());
  // A live source: torchclassify's mode=auto runs live, results marked with source-pts.
  // Frames never wait for a result there, so how many carry one depends on the model's
  // speed: half of them, a quarter under the sanitizers (14 of 29 once under ASan in CI).
  const size_t want = std::getenv("TA_SANITIZE") ? lines.size() / 4 : lines.size() / 2;
  EXPECT_GE(check_metasink_lines(lines, 320, 240, "door", true), want);
}

// rtsp-camera.sh with MQTT_HOST: the results reach a real mosquitto broker on loopback,
// on torchmetasink's default topic torchanalytics/<stream>, one JSON object a message.
TEST(Scripts, RtspCameraPublishesToMqtt) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  const std::string sub_exe = find_program("mosquitto_sub", "/usr/bin/mosquitto_sub");
  if (mosquitto_path().empty() || sub_exe.empty())
    GTEST_SKIP() << "mosquitto / mosquitto_sub not found (Debian: mosquitto mosquitto-clients)";
  {
    GstElementFactory* f = gst_element_factory_find("torchmetasink");
    ASSERT_NE(f, nullptr);
    GstElement* sink = gst_element_factory_create(f, nullptr);
    gst_object_unref(f);
    const bool has_mqtt = g_object_class_find_property(G_OBJECT_GET_CLASS(sink), "mqtt-host");
    gst_object_unref(sink);
    if (!has_mqtt) GTEST_SKIP() << "torchmetasink has no mqtt-host property";
  }

  MosquittoBroker broker("allow_anonymous true\n");
  std::string why;
  ASSERT_TRUE(broker.start(&why)) << why;
  const int port = broker.port();

  Child sub;
  ASSERT_TRUE(sub.start({sub_exe, "-h", "127.0.0.1", "-p", std::to_string(port), "-t",
                         "torchanalytics/door", "-C", "20"}));
  g_usleep(300 * 1000);  // let it subscribe: the camera publishes on and on, nothing is missed for long

  RtspServer server;
  ASSERT_TRUE(server.start());
  Child cam;
  ASSERT_TRUE(cam.start({script("rtsp-camera.sh")},
                        {"URL=" + server.url(), "LATENCY=100", "SINK=fakesink", "STREAM=door",
                         "MQTT_HOST=127.0.0.1", "MQTT_PORT=" + std::to_string(port),
                         "MODEL=" + model, "TORCH_DEVICE=cpu"}));
  ASSERT_TRUE(sub.wait_lines(20, Seconds(60))) << sub.report() << "\n" << cam.report();
  cam.send(SIGINT);
  EXPECT_TRUE(exited_with(cam.wait_exit(Seconds(20)), 0)) << cam.report();
  const auto lines = sub.lines();
  // Messages are whole lines of the schema, in order (frame numbers increase by one from
  // where the subscriber came in).
  std::vector<std::string> objects(lines.begin(), lines.begin() + 20);
  long long first = -1;
  for (size_t i = 0; i < objects.size(); i++) {
    SCOPED_TRACE(objects[i]);
    nlohmann::json j;
    ASSERT_NO_THROW(j = nlohmann::json::parse(objects[i]));
    EXPECT_EQ(j["stream"].get<std::string>(), "door");
    if (i == 0) first = j["frame"].get<long long>();
    EXPECT_EQ(j["frame"].get<long long>(), first + static_cast<long long>(i));
    EXPECT_EQ(j["width"].get<int>(), 320);
  }
}

// rtsp-restream.sh serves the annotated stream; an RTSP client reads it.
TEST(Scripts, RtspRestreamServesTheAnnotatedStream) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  const std::string py = env_or("TA_SYSTEM_PYTHON", "/usr/bin/python3");
  {
    Child probe;
    ASSERT_TRUE(probe.start({py, "-c",
                             "import gi; gi.require_version('GstRtspServer', '1.0'); "
                             "from gi.repository import GstRtspServer"}));
    if (!exited_with(probe.wait_exit(Seconds(30)), 0))
      GTEST_SKIP() << py << " lacks GstRtspServer (Debian: gir1.2-gst-rtsp-server-1.0)";
  }
  RtspServer camera;
  ASSERT_TRUE(camera.start());
  Child restream;
  ASSERT_TRUE(restream.start({script("rtsp-restream.sh")},
                             {"URL=" + camera.url(), "PORT=0", "ADDRESS=127.0.0.1",
                              "LATENCY=100", "MODEL=" + model, "TORCH_DEVICE=cpu",
                              "PYTHON=" + py}));
  const long i = restream.wait_line([](const std::string& l) { return l.rfind("READY ", 0) == 0; },
                                    Seconds(30));
  ASSERT_GE(i, 0) << restream.report();
  const std::string url = restream.lines()[static_cast<size_t>(i)].substr(6);
  EXPECT_NE(url.find("/annotated"), std::string::npos) << url;

  int frames = 0;
  const std::string desc = "rtspsrc location=" + url +
                           " latency=100 ! decodebin ! videoconvert ! "
                           "video/x-raw,width=320,height=240 ! fakesink name=sink";
  EXPECT_EQ(run_until_buffers(desc, 30, Seconds(90), &frames), "") << restream.report();
  EXPECT_GE(frames, 30);
  restream.send(SIGTERM);
  EXPECT_TRUE(exited_with(restream.wait_exit(Seconds(20)), 0)) << restream.report();
}

TEST(Scripts, CameraPipelineParses) {
  const std::string desc = dry_run("camera.sh", {"DEVICE=/dev/null", "MODEL=tiny.ts",
                                                 "TORCH_DEVICE=cpu", "JSON=out.jsonl",
                                                 "CAPS=video/x-raw,width=640,height=480"});
  ASSERT_FALSE(desc.empty());
  EXPECT_NE(desc.find("v4l2src device=/dev/null"), std::string::npos) << desc;
  EXPECT_TRUE(parses(desc));
}

TEST(Scripts, RtspCameraMqttPipelineParses) {
  GstElementFactory* f = gst_element_factory_find("torchmetasink");
  ASSERT_NE(f, nullptr);
  GstElement* sink = gst_element_factory_create(f, nullptr);
  gst_object_unref(f);
  const bool has_mqtt = g_object_class_find_property(G_OBJECT_GET_CLASS(sink), "mqtt-host");
  gst_object_unref(sink);
  if (!has_mqtt) GTEST_SKIP() << "torchmetasink has no mqtt-host property yet";
  const std::string desc = dry_run("rtsp-camera.sh", {"URL=rtsp://127.0.0.1:8554/x",
                                                      "MQTT_HOST=localhost", "MQTT_PORT=1884",
                                                      "MQTT_TOPIC=cams/door", "MODEL=tiny.ts"});
  ASSERT_FALSE(desc.empty());
  EXPECT_NE(desc.find("mqtt-host=localhost"), std::string::npos) << desc;
  EXPECT_TRUE(parses(desc));
}

TEST(Scripts, ScriptsHaveAHeaderSayingWhatToSet) {
  for (const char* s : {"classify-file.sh", "camera.sh", "rtsp-camera.sh", "rtsp-restream.sh"}) {
    SCOPED_TRACE(s);
    const auto lines = read_file_lines(script(s));
    ASSERT_GE(lines.size(), 3u);
    EXPECT_EQ(lines[0], "#!/usr/bin/env bash");
    EXPECT_EQ(lines[1].rfind(std::string("# ") + s + ": ", 0), 0u) << lines[1];
    bool variables = false;
    for (const auto& l : lines) variables |= l.rfind("# Variables (defaults in brackets):", 0) == 0;
    EXPECT_TRUE(variables);
    EXPECT_EQ(access(script(s).c_str(), X_OK), 0) << "not executable";
  }
}

}  // namespace
