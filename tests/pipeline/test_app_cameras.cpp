// The application with many cameras (pipelines/app/): cameras from files and loopback RTSP
// servers in one process sharing one model, its Prometheus metrics scraped by a real
// Prometheus server while a camera is killed and restarted, and the control endpoints.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "app_helpers.h"
#include "test_env.h"

using namespace ta_test;
using nlohmann::json;

namespace {

std::vector<std::string> app_argv(const std::string& model, std::vector<std::string> extra) {
  std::vector<std::string> argv = {env_or("TA_APP"), "--model-location=" + model, "--device=cpu"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

std::string base(int port) { return "http://127.0.0.1:" + std::to_string(port); }

// The app's own /metrics, parsed (empty when it does not answer).
std::vector<Sample> scrape(int port) {
  const HttpReply r = http_get(base(port) + "/metrics");
  return r.status == 200 ? parse_exposition(r.body) : std::vector<Sample>{};
}

double frames(const std::vector<Sample>& s, const std::string& cam) {
  return sample_value(s, "torchanalytics_camera_frames_total", {{"camera", cam}});
}

// The lines of camera `cam` ("cam: frame N ..."), without the prefix.
std::vector<std::string> camera_lines(const std::vector<std::string>& lines, const std::string& cam) {
  std::vector<std::string> out;
  const std::string prefix = cam + ": ";
  for (const auto& l : lines)
    if (l.rfind(prefix, 0) == 0) out.push_back(l.substr(prefix.size()));
  return out;
}

class AppCameras : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(env_or("TA_APP").empty()) << "TA_APP is not set (tests/pipeline/meson.build)";
  }
};

// Two files, one shared model batching frames of both (batch-size 2, sync mode): every
// frame of each camera gets its own result, numbered per camera; the app ends at the
// end of both with status 0.
TEST_F(AppCameras, TwoFilesShareOneModel) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  TempPath a(".mp4"), b(".mp4");
  ASSERT_EQ(make_mp4(a.path(), 30), "");
  ASSERT_EQ(make_mp4(b.path(), 20), "");
  Child app;
  ASSERT_TRUE(app.start(app_argv(model, {"--batch-size", "2", "--batch-timeout", "50",
                                         "--camera", "left=" + a.path(), "--camera",
                                         "right=file://" + b.path()})));
  const int st = app.wait_exit(Seconds(120));
  ASSERT_TRUE(exited_with(st, 0)) << Child::describe(st) << "\n" << app.report();
  const auto lines = app.lines();
  const auto left = camera_lines(lines, "left"), right = camera_lines(lines, "right");
  EXPECT_EQ(left.size(), 30u) << app.report();
  EXPECT_EQ(right.size(), 20u) << app.report();
  EXPECT_EQ(left.size() + right.size(), lines.size()) << "lines of no camera\n" << app.report();
  check_app_lines(left);
  check_app_lines(right);
  for (const auto& l : lines) EXPECT_EQ(l.find("source-pts"), std::string::npos) << l;
}

TEST_F(AppCameras, BadCameraArguments_n) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--camera", "noequals"}, {"--camera", "=rtsp://x/y"},
        {"--camera", "a=rtsp://127.0.0.1:1/x", "some.mp4"}, {"--metrics-port", "70000", "x.mp4"}}) {
    Child app;
    std::vector<std::string> argv = {env_or("TA_APP")};
    argv.insert(argv.end(), args.begin(), args.end());
    ASSERT_TRUE(app.start(argv));
    EXPECT_TRUE(exited_with(app.wait_exit(Seconds(30)), 2)) << args[0] << " " << args[1] << "\n"
                                                            << app.report();
  }
  // A name taken twice, a name with a space: the registry refuses, the app exits 1.
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--camera", "a=rtsp://127.0.0.1:1/x", "--camera", "a=rtsp://127.0.0.1:1/y"},
        {"--camera", "a b=rtsp://127.0.0.1:1/x"}}) {
    Child app;
    ASSERT_TRUE(app.start(app_argv(model, args)));
    EXPECT_TRUE(exited_with(app.wait_exit(Seconds(60)), 1)) << app.report();
    EXPECT_NE(app.stderr_text().find("camera"), std::string::npos) << app.stderr_text();
  }
}

// The metrics port is taken, or asked for on two addresses: the app says so and exits 1.
TEST_F(AppCameras, MetricsPortTaken_n) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  RtspServer server;
  ASSERT_TRUE(server.start());
  Child app;
  ASSERT_TRUE(app.start(app_argv(model, {"--metrics-port", std::to_string(server.port()),
                                         "--camera", "a=" + server.url()})));
  EXPECT_TRUE(exited_with(app.wait_exit(Seconds(60)), 1)) << app.report();
  EXPECT_NE(app.stderr_text().find("--metrics-port"), std::string::npos) << app.stderr_text();
  // One port for metrics and control, but on two addresses: refused, control is not
  // opened to the network because metrics is.
  const int port = free_port();
  Child both;
  ASSERT_TRUE(both.start(app_argv(model, {"--metrics-port", std::to_string(port),
                                          "--metrics-address", "0.0.0.0", "--control-port",
                                          std::to_string(port), "--camera", "a=" + server.url()})));
  EXPECT_TRUE(exited_with(both.wait_exit(Seconds(60)), 1)) << both.report();
  EXPECT_NE(both.stderr_text().find("same address"), std::string::npos) << both.stderr_text();
}

// Two loopback RTSP cameras; Prometheus scrapes the app every second. Camera "a" is
// killed and comes back on the same port: through Prometheus's own query API, its up
// gauge drops to 0 and returns to 1 and its reconnects are counted, while camera "b"'s
// frame counter rises between every two scrapes all along.
TEST_F(AppCameras, PrometheusSeesACameraGoAndComeBack) {
  if (Prometheus::program().empty())
    GTEST_SKIP() << "prometheus not found (Debian: apt install prometheus)";
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  RtspServer cam_a, cam_b;
  ASSERT_TRUE(cam_a.start());
  ASSERT_TRUE(cam_b.start());
  const int port = free_port();
  Child app;
  ASSERT_TRUE(app.start(app_argv(model, {"--quiet", "--latency", "100", "--stall-timeout", "2",
                                         "--reconnect-max-backoff", "1", "--metrics-port",
                                         std::to_string(port), "--camera", "a=" + cam_a.url(),
                                         "--camera", "b=" + cam_b.url()})));
  Prometheus prom;
  ASSERT_TRUE(prom.start({"127.0.0.1:" + std::to_string(port)})) << prom.report();
  const auto t0 = Clock::now();

  auto up = [&](const char* cam) {
    return prom.value(std::string("torchanalytics_camera_up{camera=\"") + cam + "\"}");
  };
  ASSERT_TRUE(poll_until([&] { return up("a") == 1 && up("b") == 1; }, Seconds(45)))
      << "up: a=" << up("a") << " b=" << up("b") << "\n" << app.report() << "\n" << prom.report();
  // The series are there, labelled by camera.
  for (const char* series : {"torchanalytics_camera_frames_total", "torchanalytics_camera_fps",
                             "torchanalytics_camera_results_total",
                             "torchanalytics_camera_reconnects_total",
                             "torchanalytics_camera_dropped_results_total",
                             "torchanalytics_camera_latency_seconds_count"}) {
    const json res = prom.query(series);
    ASSERT_TRUE(res.is_array()) << series;
    EXPECT_EQ(res.size(), 2u) << series << ": " << res.dump();
  }
  EXPECT_EQ(prom.value("torchanalytics_cameras"), 2);
  // The model's SHA-256 (of tiny.ts) as a label, and its name once torchclassify told it
  // (with the first result: in live mode under ASan the first frames leave without one, and
  // Prometheus drops a label that is still empty).
  json info;
  EXPECT_TRUE(poll_until([&] {
    info = prom.query("torchanalytics_camera_model_info{camera=\"b\"}");
    return info.is_array() && info.size() == 1u && info[0]["metric"].value("model", "") == "tiny";
  }, Seconds(30))) << info.dump();
  ASSERT_TRUE(info.is_array() && info.size() == 1u) << info.dump();
  EXPECT_EQ(info[0]["metric"].value("model", ""), "tiny");
  EXPECT_EQ(info[0]["metric"].value("sha256", "").size(), 64u) << info.dump();
  EXPECT_TRUE(poll_until([&] { return prom.value("torchanalytics_camera_fps{camera=\"b\"}") > 1; },
                         Seconds(15)));
  EXPECT_TRUE(poll_until([&] {
    return prom.value("torchanalytics_camera_latency_seconds{camera=\"b\",quantile=\"0.5\"}") > 0;
  }, Seconds(15)));

  const int port_a = cam_a.port();
  cam_a.crash();
  ASSERT_TRUE(poll_until([&] { return up("a") == 0; }, Seconds(30)))
      << "camera a's up gauge did not drop\n" << app.report();
  // Down for a few scrapes (a camera rebooting), then back on the same port.
  g_usleep(3 * G_USEC_PER_SEC);
  RtspServer again;
  ASSERT_TRUE(again.start(port_a));
  ASSERT_TRUE(poll_until([&] { return up("a") == 1; }, Seconds(45)))
      << "camera a's up gauge did not come back\n" << app.report();
  EXPECT_GE(prom.value("torchanalytics_camera_reconnects_total{camera=\"a\"}"), 1);
  EXPECT_EQ(prom.value("torchanalytics_camera_reconnects_total{camera=\"b\"}"), 0);
  // Two more scrapes with a back up, then b's raw samples over the whole run.
  g_usleep(2500 * 1000);
  const int span = static_cast<int>(std::chrono::duration<double>(Clock::now() - t0).count()) + 5;
  auto samples = [&](const char* cam) {
    return prom.query(std::string("torchanalytics_camera_frames_total{camera=\"") + cam + "\"}[" +
                      std::to_string(span) + "s]");
  };
  const json b = samples("b"), a = samples("a");
  ASSERT_TRUE(b.is_array() && b.size() == 1u) << b.dump();
  ASSERT_TRUE(a.is_array() && a.size() == 1u) << a.dump();
  const json& bv = b[0]["values"];
  ASSERT_GE(bv.size(), 5u) << "too few scrapes: " << bv.dump();
  // From its first frames on, b rises between every two scrapes.
  size_t first = 0;
  while (first < bv.size() && std::atof(bv[first][1].get<std::string>().c_str()) == 0) first++;
  for (size_t i = first + 1; i < bv.size(); i++)
    EXPECT_GT(std::atof(bv[i][1].get<std::string>().c_str()),
              std::atof(bv[i - 1][1].get<std::string>().c_str()))
        << "camera b's frame counter stalled between the scrapes at " << bv[i - 1][0] << " and "
        << bv[i][0] << ": " << bv.dump();
  // The same check sees a's outage: its counter stood still between some two scrapes
  // (the camera was away for more than 3 s).
  const json& av = a[0]["values"];
  bool a_stood = false;
  for (size_t i = 1; i < av.size(); i++)
    a_stood = a_stood || av[i][1] == av[i - 1][1];
  EXPECT_TRUE(a_stood) << av.dump();

  app.send(SIGTERM);
  EXPECT_TRUE(exited_with(app.wait_exit(Seconds(20)), 0)) << app.report();
}

// Control: a camera added and one removed at run time, each without touching the other;
// bad requests get clear errors.
TEST_F(AppCameras, ControlAddsAndRemovesCameras) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  RtspServer cam_a, cam_b;
  ASSERT_TRUE(cam_a.start());
  ASSERT_TRUE(cam_b.start());
  const auto ports = free_ports(2);
  ASSERT_EQ(ports.size(), 2u);
  const int mport = ports[0], cport = ports[1];
  Child app;
  ASSERT_TRUE(app.start(app_argv(model, {"--quiet", "--latency", "100", "--metrics-port",
                                         std::to_string(mport), "--control-port",
                                         std::to_string(cport), "--camera", "a=" + cam_a.url()})));
  const std::string ctl = base(cport) + "/control";
  ASSERT_TRUE(poll_until([&] { return frames(scrape(mport), "a") > 10; }, Seconds(45)))
      << app.report();

  HttpReply r = http_post(ctl + "/cameras/add",
                          json({{"name", "b"}, {"uri", cam_b.url()}, {"latency-ms", 100}}).dump());
  ASSERT_EQ(r.status, 201) << r.body << r.error << "\n" << app.report();
  EXPECT_EQ(json::parse(r.body)["name"], "b");
  const double a_at_add = frames(scrape(mport), "a");
  ASSERT_TRUE(poll_until([&] { return frames(scrape(mport), "b") > 10; }, Seconds(45)))
      << "the added camera gave no frames\n" << app.report();
  EXPECT_GT(frames(scrape(mport), "a"), a_at_add) << "camera a stopped when b was added";

  r = http_get(ctl + "/cameras");
  ASSERT_EQ(r.status, 200) << r.body;
  const json list = json::parse(r.body);
  ASSERT_EQ(list.size(), 2u) << r.body;
  EXPECT_EQ(list[0]["name"], "a");
  EXPECT_EQ(list[1]["name"], "b");
  EXPECT_EQ(list[1]["state"], "up");

  // Errors: a name taken, no such camera, not JSON, no uri, a bad URI, the wrong method.
  EXPECT_EQ(http_post(ctl + "/cameras/add", json({{"name", "b"}, {"uri", cam_b.url()}}).dump()).status, 409);
  EXPECT_EQ(http_post(ctl + "/cameras/remove", json({{"name", "nope"}}).dump()).status, 404);
  r = http_post(ctl + "/cameras/add", "{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("not JSON"), std::string::npos) << r.body;
  r = http_post(ctl + "/cameras/add", json({{"name", "c"}}).dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("uri"), std::string::npos) << r.body;
  EXPECT_EQ(http_post(ctl + "/cameras/add", json({{"name", "c"}, {"uri", "not a uri"}}).dump()).status, 400);
  EXPECT_EQ(http_post(ctl + "/cameras/add", json({{"name", "c d"}, {"uri", cam_b.url()}}).dump()).status, 400);
  EXPECT_EQ(http_get(ctl + "/cameras/add").status, 405);
  r = http_post(ctl + "/model", json({{"model-location", "/nonexistent/m.ts"}}).dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("/nonexistent/m.ts"), std::string::npos) << r.body;

  r = http_post(ctl + "/cameras/remove", json({{"name", "a"}}).dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const auto after = scrape(mport);
  EXPECT_TRUE(std::isnan(frames(after, "a"))) << "camera a still in the metrics";
  const double b_at_remove = frames(after, "b");
  ASSERT_TRUE(poll_until([&] { return frames(scrape(mport), "b") > b_at_remove + 10; }, Seconds(30)))
      << "camera b stopped when a was removed\n" << app.report();
  EXPECT_EQ(json::parse(http_get(ctl + "/cameras").body).size(), 1u);
  ASSERT_TRUE(app.running()) << app.report();

  app.send(SIGTERM);
  EXPECT_TRUE(exited_with(app.wait_exit(Seconds(20)), 0)) << app.report();
}

// Swapping the model through control: where torchclassify can change its model while
// PLAYING (the property is GST_PARAM_MUTABLE_PLAYING) the camera's results switch to the
// new files without a stop (the labels of labels10.txt instead of tiny's "class N"), else
// the request is refused and nothing changes.
TEST_F(AppCameras, ControlSwapsTheModel) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  TA_REQUIRE_FIXTURE(labels, "labels10.txt");
  TempPath copy(".ts");
  {
    // The new model file: a copy of tiny.ts (the only small TorchScript fixture); the new
    // labels make the swap visible in the results.
    gchar* data = nullptr;
    gsize n = 0;
    ASSERT_TRUE(g_file_get_contents(model.c_str(), &data, &n, nullptr));
    ASSERT_TRUE(g_file_set_contents(copy.path().c_str(), data, static_cast<gssize>(n), nullptr));
    g_free(data);
  }
  const std::vector<std::string> fruit = read_file_lines(labels);
  RtspServer cam;
  ASSERT_TRUE(cam.start());
  const int port = free_port();
  Child app;
  ASSERT_TRUE(app.start(app_argv(model, {"--latency", "100", "--metrics-port",
                                         std::to_string(port), "--control-port",
                                         std::to_string(port), "--camera", "a=" + cam.url()})));
  ASSERT_TRUE(poll_until([&] { return frames(scrape(port), "a") > 10; }, Seconds(45))) << app.report();

  auto top1 = [](const std::string& line) {
    AppLine a;
    return line.rfind("a: ", 0) == 0 && parse_app_line(line.substr(3), &a) ? a.label : std::string();
  };
  const size_t before_lines = app.n_lines();
  const HttpReply r = http_post(base(port) + "/control/model",
                                json({{"model-location", copy.path()}, {"labels-location", labels}}).dump());
  const double before = frames(scrape(port), "a");
  if (torchclassify_mutable_playing("model-location")) {
    ASSERT_EQ(r.status, 202) << r.body;
    const long i = app.wait_line([&](const std::string& l) {
      const std::string t = top1(l);
      return std::find(fruit.begin(), fruit.end(), t) != fruit.end();
    }, Seconds(45), before_lines);
    EXPECT_GE(i, 0) << "no result with the new labels after the swap\n" << app.report();
  } else {
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find("while PLAYING"), std::string::npos) << r.body;
  }
  EXPECT_TRUE(poll_until([&] { return frames(scrape(port), "a") > before + 10; }, Seconds(30)))
      << "the camera stopped after the model request\n" << app.report();
  // Every line is a result, tiny's labels or the new ones.
  for (const auto& l : app.lines()) {
    const std::string t = top1(l);
    EXPECT_TRUE(t.rfind("class ", 0) == 0 || std::find(fruit.begin(), fruit.end(), t) != fruit.end())
        << l;
  }
  app.send(SIGTERM);
  EXPECT_TRUE(exited_with(app.wait_exit(Seconds(20)), 0)) << app.report();
}

// Without --control-port there are no control endpoints; with it they are on the control
// port only, and /metrics only on the metrics port.
TEST_F(AppCameras, ControlOnlyWithControlPort_n) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  TempPath mp4(".mp4");
  ASSERT_EQ(make_mp4(mp4.path(), 30), "");
  RtspServer cam;
  ASSERT_TRUE(cam.start());
  const std::string add = json({{"name", "x"}, {"uri", cam.url()}}).dump();
  {
    const int mport = free_port();
    Child app;
    ASSERT_TRUE(app.start(app_argv(model, {"--quiet", "--metrics-port", std::to_string(mport),
                                           "--camera", "a=" + cam.url()})));
    ASSERT_TRUE(poll_until([&] { return frames(scrape(mport), "a") > 0; }, Seconds(45))) << app.report();
    EXPECT_EQ(http_post(base(mport) + "/control/cameras/add", add).status, 404);
    EXPECT_EQ(http_get(base(mport) + "/control/cameras").status, 404);
    EXPECT_TRUE(std::isnan(frames(scrape(mport), "x")));
  }
  {
    const auto ports = free_ports(2);
    ASSERT_EQ(ports.size(), 2u);
    const int mport = ports[0], cport = ports[1];
    Child app;
    ASSERT_TRUE(app.start(app_argv(model, {"--quiet", "--metrics-port", std::to_string(mport),
                                           "--control-port", std::to_string(cport),
                                           "--camera", "a=" + cam.url()})));
    ASSERT_TRUE(poll_until([&] { return frames(scrape(mport), "a") > 0; }, Seconds(45))) << app.report();
    EXPECT_EQ(http_post(base(mport) + "/control/cameras/add", add).status, 404);
    EXPECT_EQ(http_get(base(cport) + "/metrics").status, 404);
    EXPECT_EQ(http_get(base(cport) + "/control/cameras").status, 200);
  }
}

}  // namespace
