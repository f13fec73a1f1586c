// Top-k results from the best logits only (ta::TopLogits): what the engine gets back from
// the model, on the GPU found on the device. The scores made from them must equal the
// scores made from all the logits, for every activation, and the model's own top_logits
// (torch.topk and logsumexp where the model runs) must equal the host's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "engine.h"
#include "model.h"
#include "model_helpers.h"
#include "test_env.h"

using namespace ta;

namespace {

// The scores of all C logits after `act`, top `k` with threshold, computed the long way.
std::vector<Prediction> reference(const std::vector<float>& logits, Activation act, int k, float threshold) {
  std::vector<double> s(logits.begin(), logits.end());
  if (act == Activation::Softmax) {
    double mx = s[0], sum = 0;
    for (double v : s) mx = std::max(mx, v);
    for (double& v : s) sum += (v = std::exp(v - mx));
    for (double& v : s) v /= sum;
  } else if (act == Activation::Sigmoid) {
    for (double& v : s) v = 1 / (1 + std::exp(-v));
  }
  std::vector<int> idx(s.size());
  for (size_t i = 0; i < idx.size(); i++) idx[i] = (int)i;
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return s[a] > s[b]; });
  std::vector<Prediction> out;
  for (int i = 0; i < std::min<int>(k, (int)s.size()); i++)
    if (s[idx[i]] >= threshold) out.push_back({idx[i], (float)s[idx[i]]});
  return out;
}

void expect_same(const std::vector<Prediction>& got, const std::vector<Prediction>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); i++) {
    EXPECT_EQ(got[i].class_id, want[i].class_id) << "rank " << i;
    EXPECT_NEAR(got[i].score, want[i].score, tol) << "rank " << i;
  }
}

}  // namespace

TEST(TopLogits, ScoresEqualThoseOfAllLogitsForEveryActivation) {
  std::mt19937 rng(7);
  std::normal_distribution<float> n(0.f, 4.f);
  for (int c : {1, 2, 10, 1000}) {
    std::vector<float> logits(c);
    for (float& v : logits) v = n(rng);
    for (Activation act : {Activation::Softmax, Activation::Sigmoid, Activation::None})
      for (int k : {1, 5, 2000})
        for (float thr : {-1e9f, 0.01f}) {
          SCOPED_TRACE("C=" + std::to_string(c) + " k=" + std::to_string(k) + " act=" + std::to_string((int)act));
          const TopLogits t = top_logits(logits.data(), c, k);
          ASSERT_EQ((int)t.ids.size(), std::min(k, c));
          expect_same(postprocess(t, act, k, thr), reference(logits, act, k, thr), 5e-6);
          // Asking for fewer than were kept: the best of them.
          expect_same(postprocess(t, act, 1, thr), reference(logits, act, 1, thr), 5e-6);
        }
  }
}

TEST(TopLogits, TiesKeepTheLowerClassIdFirstAndHugeLogitsStayFinite) {
  const std::vector<float> logits = {3.f, 5.f, 5.f, 1.f, 5.f};
  const TopLogits t = top_logits(logits.data(), 5, 3);
  EXPECT_EQ(t.ids, (std::vector<int>{1, 2, 4}));
  const std::vector<float> big = {1e30f, 0.f, -1e30f};
  const auto p = postprocess(top_logits(big.data(), 3, 3), Activation::Softmax, 3, 0.f);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_FLOAT_EQ(p[0].score, 1.f);
  EXPECT_FLOAT_EQ(p[1].score, 0.f);
  EXPECT_TRUE(std::isfinite(p[2].score));
}

// The model's top_logits (torch::topk + logsumexp where it runs, packed into one copy)
// for the best 5 against the host's top_logits of all C logits (the model's top_logits
// with k = C, put back in class order), on a seeded ResNet18 and a 10-class TorchScript
// model.
TEST(TopLogits, ModelTopLogitsEqualTheFullScores) {
  TA_REQUIRE_FIXTURE(r18, "resnet18_seeded.pth");
  TA_REQUIRE_FIXTURE(tiny, "tiny.ts");
  for (const std::string& which : {r18, tiny}) {
    SCOPED_TRACE(which);
    ModelConfig c;
    (which == r18 ? c.weights_location : c.model_location) = which;
    c.architecture = "resnet18";
    c.device = "cpu";
    LoadReport r;
    auto m = Model::load(c, &r);
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(-2.f, 2.f);
    const int n = 3, side = 96;
    std::vector<float> x((size_t)n * 3 * side * side);
    for (float& v : x) v = u(rng);
    const std::vector<float> all = ta_test::scores(*m, x.data(), n, side, side, Activation::None);
    const int classes = (int)(all.size() / n);
    ASSERT_EQ(classes, m->num_classes());
    const std::vector<TopLogits> tops = m->top_logits(x.data(), n, side, side, 5);
    ASSERT_EQ(tops.size(), (size_t)n);
    for (int i = 0; i < n; i++) {
      const std::vector<float> row(all.begin() + i * classes, all.begin() + (i + 1) * classes);
      EXPECT_NEAR(tops[i].lse, top_logits(row.data(), classes, 5).lse, 1e-4);
      for (Activation act : {Activation::Softmax, Activation::Sigmoid, Activation::None})
        expect_same(postprocess(tops[i], act, 5, 0.f), postprocess(row, act, 5, 0.f), 1e-5);
    }
  }
}

// The tiny TorchScript fixture on the CPU behind an engine of `batch` frames.
static std::shared_ptr<Engine> tiny_cpu_engine(const std::string& tiny, int batch) {
  ModelConfig c;
  c.model_location = tiny;
  c.device = "cpu";
  c.input_size = 64;
  EngineOptions eo;
  eo.batch_size = batch;
  LoadReport r;
  return Engine::acquire("", c, eo, &r);
}

// A 32x32 RGB frame of one grey over `pixels`, and the preprocessing to the tiny input.
static FrameView grey_frame(std::vector<uint8_t>& pixels, uint8_t grey, PreprocessConfig* pc) {
  pixels.assign(32 * 32 * 3, grey);
  FrameView v;
  v.format = PixelFormat::RGB;
  v.width = v.height = 32;
  v.planes[0] = pixels.data();
  v.strides[0] = 32 * 3;
  pc->resize_size = 72;
  pc->crop_size = 64;
  return v;
}

// The result of `v` through the host path (preprocessed here, then submitted): what a frame
// job must get on a CPU model, whose worker preprocesses it the same way.
static TopLogits host_result(Engine& engine, const FrameView& v, const PreprocessConfig& pc) {
  std::vector<float> input(3 * 64 * 64);
  preprocess(v, pc, input.data());
  auto t = engine.submit(std::move(input), 3);
  engine.flush();
  EXPECT_TRUE(t->wait(nullptr));
  EXPECT_TRUE(t->error().empty()) << t->error();
  return t->result();
}

static void expect_same_result(const TopLogits& a, const TopLogits& b) {
  EXPECT_EQ(a.ids, b.ids);
  ASSERT_EQ(a.logits.size(), b.logits.size());
  for (size_t i = 0; i < a.logits.size(); i++) EXPECT_NEAR(a.logits[i], b.logits[i], 1e-4);
}

// What keeps a frame's planes valid (the element's mapped buffer, or the decoder's CUDA
// memory) is let go once its batch has run, also when the batch failed; a frame on the
// device without one is refused at once. On a CPU model the worker preprocesses a frame
// job on the CPU: the same result as the host path.
TEST(EngineHold, IsLetGoOnceTheBatchRanAndADeviceFrameNeedsOne_n) {
  TA_REQUIRE_FIXTURE(tiny, "tiny.ts");
  // A batch of three that only two frames join: it waits for flush() (batch_timeout_ms 0),
  // so the check before the flush cannot race the worker.
  auto engine = tiny_cpu_engine(tiny, 3);
  ASSERT_FALSE(engine->model().gpu_preprocessing()) << "a CPU model";

  std::vector<uint8_t> pixels;
  PreprocessConfig pc;
  FrameView v = grey_frame(pixels, 128, &pc);

  auto hold = std::make_shared<int>(1);
  std::weak_ptr<int> watch = hold;
  auto t1 = engine->submit_frame(v, pc, 3, hold);
  auto t2 = engine->submit_frame(v, pc, 3, hold);
  hold.reset();
  EXPECT_FALSE(watch.expired()) << "the queued frames still need their planes";
  engine->flush();
  ASSERT_TRUE(t1->wait(nullptr));
  ASSERT_TRUE(t2->wait(nullptr));
  EXPECT_TRUE(watch.expired()) << "the hold outlived its batch";
  ASSERT_TRUE(t1->error().empty()) << t1->error();
  expect_same_result(t1->result(), host_result(*engine, v, pc));
  EXPECT_EQ(engine->staging().frames(), 0u) << "a frame with a hold is read in place, not copied";

  v.on_device = true;
  EXPECT_THROW(engine->submit_frame(v, pc, 3, nullptr), Error);
  // And the CPU preprocessing refuses device planes instead of reading them.
  std::vector<float> out(3 * 64 * 64);
  EXPECT_THROW(preprocess(v, pc, out.data()), std::invalid_argument);
}

// A frame queued without a hold is copied when it is queued (one copy, into the engine's
// staging pool), so the caller's buffer may go, or be written, at once: the element pushes
// it on (live mode) and torchoverlay draws on it while the frame waits for its batch. The
// frame is overwritten right after submit_frame; its result is still the one of the pixels
// it had. The staging blocks are reused: 20 frames of one size need at most two.
TEST(EngineStaging, AFrameWithoutAHoldIsCopiedAtSubmitOnceAndTheCallerMayOverwriteIt_n) {
  TA_REQUIRE_FIXTURE(tiny, "tiny.ts");
  auto engine = tiny_cpu_engine(tiny, 3);
  std::vector<uint8_t> pixels, other;
  PreprocessConfig pc;
  const FrameView v = grey_frame(pixels, 200, &pc);
  PreprocessConfig pc2;
  const FrameView v2 = grey_frame(other, 20, &pc2);
  const TopLogits want = host_result(*engine, v, pc);
  const TopLogits overwritten = host_result(*engine, v2, pc2);
  ASSERT_NE(want.logits, overwritten.logits) << "the two greys must give different results";

  auto t = engine->submit_frame(v, pc, 3);  // waits for flush(): batch of 3
  EXPECT_EQ(engine->staging().frames(), 1u);
  std::fill(pixels.begin(), pixels.end(), (uint8_t)20);  // the caller reuses its buffer
  engine->flush();
  ASSERT_TRUE(t->wait(nullptr));
  ASSERT_TRUE(t->error().empty()) << t->error();
  expect_same_result(t->result(), want);

  for (int i = 0; i < 20; i++) {
    auto ti = engine->submit_frame(v, pc, 3);
    engine->flush();
    ASSERT_TRUE(ti->wait(nullptr));
  }
  EXPECT_EQ(engine->staging().frames(), 21u);
  EXPECT_LE(engine->staging().allocations(), 2u) << "staging blocks are not reused";
  EXPECT_FALSE(engine->staging().pinned()) << "a CPU model stages in ordinary memory";
}

// Elements sharing one engine may send preprocessed host inputs and frames. One batch must
// hold one kind only: before, the batch took its path from its first job, and a frame job
// in a host batch was run on whatever the batch memory held, with no error. Now each kind
// runs in a batch of its own, and each job's result is the one it gets alone.
TEST(EngineBatches, HostInputsAndFramesNeverShareABatch_n) {
  TA_REQUIRE_FIXTURE(tiny, "tiny.ts");
  auto engine = tiny_cpu_engine(tiny, 2);
  std::vector<float> input(3 * 64 * 64);
  for (size_t i = 0; i < input.size(); i++) input[i] = std::sin(0.01f * (float)i);
  auto alone = engine->submit(input, 3);
  engine->flush();
  ASSERT_TRUE(alone->wait(nullptr));
  ASSERT_TRUE(alone->error().empty()) << alone->error();

  std::vector<uint8_t> pixels;
  PreprocessConfig pc;
  FrameView v = grey_frame(pixels, 90, &pc);
  const TopLogits frame_alone = host_result(*engine, v, pc);
  auto host = engine->submit(input, 3);
  auto staged = engine->submit_frame(v, pc, 3);
  engine->flush();
  ASSERT_TRUE(host->wait(nullptr));
  ASSERT_TRUE(staged->wait(nullptr));
  EXPECT_TRUE(host->error().empty()) << host->error();
  EXPECT_TRUE(staged->error().empty()) << staged->error();
  expect_same_result(host->result(), alone->result());
  expect_same_result(staged->result(), frame_alone);
}
