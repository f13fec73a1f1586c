// The camera API of the application (pipelines/app/camera.h), used in-process as the web
// page module uses it: the registry's events, a branch on a camera's tee (JPEG out of an
// appsink), per-frame result subscriptions, the latest result and the stats.
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "camera.h"
#include "pipeline_helpers.h"
#include "test_env.h"

using namespace ta_test;
using nlohmann::json;

namespace {

// Runs the default main context until `cond` holds or `timeout` passes.
bool run_until(const std::function<bool()>& cond, Seconds timeout) {
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout);
  while (!cond()) {
    if (Clock::now() > deadline) return false;
    while (g_main_context_iteration(nullptr, FALSE)) {
    }
    g_usleep(10 * 1000);
  }
  return true;
}

struct Jpegs {
  std::atomic<int> n{0};
  std::atomic<bool> jpeg_caps{false};
};

GstFlowReturn on_sample(GstAppSink* sink, gpointer user_data) {
  Jpegs* j = static_cast<Jpegs*>(user_data);
  GstSample* s = gst_app_sink_pull_sample(sink);
  if (s) {
    GstCaps* caps = gst_sample_get_caps(s);
    if (caps && gst_structure_has_name(gst_caps_get_structure(caps, 0), "image/jpeg"))
      j->jpeg_caps.store(true);
    gst_sample_unref(s);
    j->n.fetch_add(1);
  }
  return GST_FLOW_OK;
}

TEST(CameraApi, BranchSubscriptionLatestResultAndStats) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  RtspServer server;
  ASSERT_TRUE(server.start());

  ta_app::ModelSettings ms;
  ms.model_location = model;
  ms.device = "cpu";
  ms.instance_id = "camera-api-test";
  ta_app::CameraRegistry registry(ms);
  std::vector<std::string> events;
  registry.watch([&](const std::shared_ptr<ta_app::Camera>& c, ta_app::CameraRegistry::Event e) {
    events.push_back((e == ta_app::CameraRegistry::Event::kAdded ? "added " : "removed ") + c->name());
  });

  ta_app::CameraConfig cfg;
  cfg.name = "door";
  cfg.uri = server.url();
  cfg.latency_ms = 100;
  std::string error;
  std::shared_ptr<ta_app::Camera> cam = registry.add(cfg, &error);
  ASSERT_NE(cam, nullptr) << error;
  EXPECT_EQ(events, std::vector<std::string>{"added door"});
  EXPECT_EQ(registry.find("door"), cam);
  EXPECT_EQ(cam->latest_result_json(), "");

  // What the web page links: a JPEG encoder into an appsink, at a low rate.
  GError* err = nullptr;
  GstElement* branch = gst_parse_bin_from_description(
      "torchoverlay ! videorate drop-only=true ! video/x-raw,framerate=5/1 ! videoconvert ! "
      "jpegenc ! appsink name=jpeg sync=false max-buffers=2 drop=true", TRUE, &err);
  ASSERT_NE(branch, nullptr) << (err ? err->message : "");
  GstElement* sink = gst_bin_get_by_name(GST_BIN(branch), "jpeg");
  Jpegs jpegs;
  GstAppSinkCallbacks cbs{};
  cbs.new_sample = on_sample;
  gst_app_sink_set_callbacks(GST_APP_SINK(sink), &cbs, &jpegs, nullptr);
  gst_object_unref(sink);
  ASSERT_TRUE(cam->add_branch(branch));

  std::mutex mu;
  std::vector<json> results;
  const uint64_t sub = cam->subscribe([&](const ta_app::CameraResult& r) {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(r.camera, "door");
    EXPECT_NE(r.buffer, nullptr);
    results.push_back(json::parse(r.json));
    EXPECT_EQ(results.back()["frame"].get<long long>(), r.frame);
  });

  auto n_results = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return results.size();
  };
  ASSERT_TRUE(run_until([&] { return n_results() >= 30 && jpegs.n.load() >= 3; }, Seconds(60)))
      << n_results() << " results, " << jpegs.n.load() << " JPEGs";
  EXPECT_TRUE(jpegs.jpeg_caps.load());
  EXPECT_EQ(cam->state(), ta_app::CameraState::kUp);
  {
    std::lock_guard<std::mutex> lock(mu);
    // Frame numbers count on from the first, each result has tiny's one classification.
    for (size_t i = 1; i < results.size(); i++)
      EXPECT_EQ(results[i]["frame"].get<long long>(), results[i - 1]["frame"].get<long long>() + 1);
    const json& last = results.back();
    EXPECT_EQ(last["stream"], "door");
    EXPECT_EQ(last["width"], 320);
    EXPECT_EQ(last["height"], 240);
    ASSERT_EQ(last["classifications"].size(), 1u) << last.dump();
    EXPECT_EQ(last["classifications"][0]["model"], "tiny");
    EXPECT_EQ(last["classifications"][0]["labels"].size(), 5u);
  }
  const json latest = json::parse(cam->latest_result_json());
  EXPECT_EQ(latest["stream"], "door");

  const ta_app::CameraStats st = cam->stats();
  EXPECT_EQ(st.state, ta_app::CameraState::kUp);
  EXPECT_GE(st.frames_total, 30);
  EXPECT_GE(st.results_total, 30);
  EXPECT_LE(st.results_total, st.frames_total);
  EXPECT_EQ(st.frames_total, st.results_total + st.dropped_results_total);
  EXPECT_GT(st.fps, 0);
  EXPECT_EQ(st.reconnects_total, 0);
  EXPECT_EQ(st.model, "tiny");
  EXPECT_EQ(st.model_sha256.size(), 64u);
  EXPECT_GT(st.latency_count, 0);
  EXPECT_GT(st.latency_p50_s, 0);
  EXPECT_LE(st.latency_p50_s, st.latency_p99_s);

  // Off the tee: no more JPEGs, results go on.
  cam->remove_branch(branch);
  const int jpegs_then = jpegs.n.load();
  const size_t results_then = n_results();
  ASSERT_TRUE(run_until([&] { return n_results() >= results_then + 30; }, Seconds(60)));
  EXPECT_EQ(jpegs.n.load(), jpegs_then);

  cam->unsubscribe(sub);
  const size_t after_unsub = n_results();
  run_until([] { return false; }, Seconds(0.5));
  EXPECT_EQ(n_results(), after_unsub);

  EXPECT_TRUE(registry.remove("door"));
  EXPECT_FALSE(registry.remove("door"));
  EXPECT_EQ(events, (std::vector<std::string>{"added door", "removed door"}));
  EXPECT_EQ(cam->state(), ta_app::CameraState::kDown);
  EXPECT_EQ(registry.find("door"), nullptr);
  EXPECT_FALSE(cam->add_branch(gst_element_factory_make("fakesink", nullptr)))
      << "a branch on a removed camera";
}

}  // namespace
