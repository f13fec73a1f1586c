// ta::Engine::request_swap: a new model is loaded in the background and swapped in
// between two batches; every result names the model that computed it; a file that fails
// leaves the old model running; the last of several requests wins. Real LibTorch models
// from the fixtures (tiny TorchScript, ResNet18 state dicts), small inputs.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "engine.h"
#include "sha256.h"
#include "test_env.h"

using namespace ta;

namespace {

constexpr int kSide = 32;

ModelConfig script_config(const std::string& path) {
  ModelConfig c;
  c.model_location = path;
  c.device = "cpu";
  c.input_size = kSide;
  return c;
}

ModelConfig weights_config(const std::string& path, const std::string& arch, int classes) {
  ModelConfig c;
  c.weights_location = path;
  c.architecture = arch;
  c.num_classes = classes;
  c.device = "cpu";
  c.input_size = kSide;
  return c;
}

std::shared_ptr<Engine> make_engine(const ModelConfig& mc) {
  EngineOptions eo;
  eo.batch_size = 2;
  eo.greedy = true;
  LoadReport r;
  return Engine::acquire("", mc, eo, &r);
}

struct Events {
  std::mutex mu;
  std::vector<SwapEvent> all;
  void add(const SwapEvent& e) {
    std::lock_guard<std::mutex> l(mu);
    all.push_back(e);
  }
  size_t count() {
    std::lock_guard<std::mutex> l(mu);
    return all.size();
  }
};

bool wait_for(const std::function<bool()>& pred, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

std::shared_ptr<const ModelInfo> run_one(Engine& e) {
  auto t = e.submit(std::vector<float>((size_t)3 * kSide * kSide, 0.1f), 5);
  e.flush();
  t->wait(nullptr);
  EXPECT_TRUE(t->error().empty()) << t->error();
  return t->result().model;
}

}  // namespace

TEST(EngineSwap, FramesUnderLoadGetOldThenNewNeverMixedBack) {
  TA_REQUIRE_FIXTURE(tiny, "tiny.ts");
  TA_REQUIRE_FIXTURE(r18, "resnet18_seeded.pth");
  auto e = make_engine(script_config(tiny));
  Events ev;
  e->add_listener([&](const SwapEvent& s) { ev.add(s); });
  const std::string old_sha = sha256_file(tiny), new_sha = sha256_file(r18);
  EXPECT_EQ(e->model_info()->sha256, old_sha);

  // Frames go in without a pause while the swap loads; each ticket in submission order.
  std::vector<std::shared_ptr<Ticket>> tickets;
  bool requested = false;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < end) {
    tickets.push_back(e->submit(std::vector<float>((size_t)3 * kSide * kSide, 0.2f), 5));
    if (tickets.size() == 4 && !requested) {
      e->request_swap(weights_config(r18, "resnet18", 1000), "", this);
      requested = true;
    }
    if (requested && ev.count() > 0 && tickets.size() > 20) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  // A few more after the swap.
  for (int i = 0; i < 4; i++) tickets.push_back(e->submit(std::vector<float>((size_t)3 * kSide * kSide, 0.2f), 5));
  e->flush();
  ASSERT_EQ(ev.count(), 1u) << "no swap within 60 s";
  ASSERT_TRUE(ev.all[0].ok) << ev.all[0].error;
  EXPECT_EQ(ev.all[0].old_model->sha256, old_sha);
  EXPECT_EQ(ev.all[0].new_model->sha256, new_sha);
  EXPECT_EQ(ev.all[0].new_model->num_classes, 1000);
  EXPECT_EQ(ev.all[0].new_model->labels.size(), 1000u);
  EXPECT_EQ(ev.all[0].requester, this);

  size_t olds = 0, news = 0;
  bool seen_new = false;
  for (auto& t : tickets) {
    ASSERT_TRUE(t->wait(nullptr));
    ASSERT_TRUE(t->error().empty()) << t->error();
    ASSERT_TRUE(t->result().model);
    const std::string& sha = t->result().model->sha256;
    if (sha == new_sha) {
      seen_new = true;
      news++;
      EXPECT_EQ(t->result().model->name, "resnet18");
    } else {
      EXPECT_EQ(sha, old_sha);
      EXPECT_FALSE(seen_new) << "a frame after the swap ran on the old model";
      olds++;
    }
    EXPECT_GE(t->result().latency_ns, 0);
  }
  EXPECT_GE(olds, 4u);
  EXPECT_GE(news, 4u);
  EXPECT_EQ(e->stats().swaps, 1u);
}

TEST(EngineSwap, AFileThatFailsLeavesTheOldModelRunning) {
  TA_REQUIRE_FIXTURE(tiny, "tiny.ts");
  TA_REQUIRE_FIXTURE(bad, "truncated.pth");
  auto e = make_engine(script_config(tiny));
  Events ev;
  e->add_listener([&](const SwapEvent& s) { ev.add(s); });
  e->request_swap(weights_config(bad, "resnet18", 1000), "", this);
  ASSERT_TRUE(wait_for([&] { return ev.count() > 0; }, 60));
  EXPECT_FALSE(ev.all[0].ok);
  EXPECT_EQ(ev.all[0].file, bad);
  EXPECT_NE(ev.all[0].error.find("truncated.pth"), std::string::npos) << ev.all[0].error;
  EXPECT_FALSE(e->swap_pending());
  EXPECT_EQ(run_one(*e)->sha256, sha256_file(tiny));
  // Labels that do not fit the new model fail the update too.
  TA_REQUIRE_FIXTURE(labels9, "labels9.txt");
  e->request_swap(script_config(tiny), labels9, this);
  ASSERT_TRUE(wait_for([&] { return ev.count() > 1; }, 60));
  EXPECT_FALSE(ev.all[1].ok);
  EXPECT_NE(ev.all[1].error.find("labels9.txt"), std::string::npos) << ev.all[1].error;
  EXPECT_EQ(run_one(*e)->generation, 0u);
}

TEST(EngineSwap, TheLastOfSeveralRequestsWins) {
  TA_REQUIRE_FIXTURE(tiny, "tiny.ts");
  TA_REQUIRE_FIXTURE(r18_10, "resnet18_10class.pth");
  TA_REQUIRE_FIXTURE(noise, "random_bytes.pth");
  auto e = make_engine(script_config(tiny));
  Events ev;
  e->add_listener([&](const SwapEvent& s) { ev.add(s); });
  // As g_object_set of several properties, or an impatient operator.
  e->request_swap(weights_config(noise, "resnet18", 10), "", this);
  e->request_swap(weights_config(r18_10, "resnet34", 10), "", this);
  e->request_swap(weights_config(r18_10, "resnet18", 10), "", this);
  ASSERT_TRUE(wait_for([&] { return ev.count() > 0 && !e->swap_pending(); }, 60));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_EQ(ev.count(), 1u) << "superseded requests were loaded (or warned about)";
  ASSERT_TRUE(ev.all[0].ok) << ev.all[0].error;
  EXPECT_EQ(ev.all[0].new_model->sha256, sha256_file(r18_10));
  auto m = run_one(*e);
  EXPECT_EQ(m->sha256, sha256_file(r18_10));
  EXPECT_EQ(m->num_classes, 10);
}

TEST(EngineSwap, StatsCountBatchesAndFrames) {
  TA_REQUIRE_FIXTURE(tiny, "tiny.ts");
  auto e = make_engine(script_config(tiny));
  for (int i = 0; i < 5; i++) run_one(*e);
  const EngineStats s = e->stats();
  EXPECT_EQ(s.frames, 5u);
  EXPECT_EQ(s.batches, 5u);  // one frame each: submitted one at a time, each flushed
  EXPECT_DOUBLE_EQ(s.mean_fill(), 0.5);
  EXPECT_GT(s.model_p50_ns, 0);
  EXPECT_GE(s.model_p99_ns, s.model_p50_ns);
  EXPECT_EQ(s.queued, 0u);
}
