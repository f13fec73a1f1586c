// The model layer's loading choices: BatchNorm folded in fp32 before the cast to a
// reduced precision, a warm-up forward at load on every device, and TorchScript models
// frozen and optimized (torch::jit::freeze, optimize_for_inference) without changing
// their results.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "model.h"
#include "model_helpers.h"
#include "resnet.h"
#include "statedict.h"
#include "test_env.h"

using namespace ta;

namespace {

bool has(const std::vector<std::string>& v, const std::string& part) {
  return std::any_of(v.begin(), v.end(), [&](const std::string& s) { return s.find(part) != std::string::npos; });
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& e : v) s += "\n  " + e;
  return s;
}

// Normalized-looking input: seeded, about N(0, 1) per element.
std::vector<float> random_input(int n, int side, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> x((size_t)n * 3 * side * side);
  for (float& v : x) v = d(rng);
  return x;
}

struct Diff {
  double max = 0, mean = 0;
};

Diff diff(const std::vector<float>& a, const std::vector<float>& b) {
  Diff d;
  for (size_t i = 0; i < a.size(); i++) {
    const double e = std::fabs((double)a[i] - (double)b[i]);
    d.max = std::max(d.max, std::isnan(e) ? INFINITY : e);
    d.mean += e;
  }
  d.mean /= a.empty() ? 1 : a.size();
  return d;
}

// The logits of a ResNet18 state dict run the way the loader ran it before the fix:
// cast to `dtype` first, BatchNorm folded afterwards in that precision.
std::vector<float> cast_then_fold_logits(const std::string& path, c10::ScalarType dtype, const std::vector<float>& x,
                                         int n, int side) {
  ResNet net(resnet_spec("resnet18"), 1000);
  std::map<std::string, torch::Tensor> params;
  for (auto& p : net->named_parameters(true)) params[p.key()] = p.value();
  for (auto& b : net->named_buffers(true)) params[b.key()] = b.value();
  torch::NoGradGuard ng;
  for (const auto& kv : load_state_dict(path)) {
    auto it = params.find(kv.first);
    if (it != params.end()) it->second.copy_(kv.second);
  }
  net->eval();
  net->to(dtype);
  net->fuse_for_inference(TORCH_VERSION_MAJOR >= 2, dtype);  // as the loader does on the CPU
  c10::InferenceMode im;
  torch::Tensor in = torch::from_blob(const_cast<float*>(x.data()), {n, 3, side, side}, torch::kFloat).to(dtype);
  torch::Tensor y = net->forward(in).to(torch::kFloat).contiguous();
  return std::vector<float>(y.data_ptr<float>(), y.data_ptr<float>() + y.numel());
}

std::unique_ptr<Model> load(const ModelConfig& c, LoadReport* r = nullptr) {
  LoadReport own;
  return Model::load(c, r ? r : &own);
}

}  // namespace

// bf16 on the CPU: the loaded model's logits are closer to the fp32 model's than those of
// the old order (cast to bf16, then sqrt(var + eps) and the folding in bf16), on the
// seeded ResNet18 whose BatchNorm statistics were measured on data (make_fixtures.py).
TEST(ModelFold, BatchNormIsFoldedInFp32BeforeTheCastToBf16) {
  TA_REQUIRE_FIXTURE(path, "resnet18_seeded.pth");
  const int n = 4, side = 128;
  const std::vector<float> x = random_input(n, side, 7);
  ModelConfig c;
  c.weights_location = path;
  c.architecture = "resnet18";
  c.device = "cpu";
  c.input_size = side;
  c.precision = Precision::FP32;
  auto fp32 = load(c);
  c.precision = Precision::BF16;
  auto bf16 = load(c);
  ASSERT_EQ(bf16->precision(), Precision::BF16);
  const std::vector<float> ref = ta_test::scores(*fp32, x.data(), n, side, side, Activation::None);
  const std::vector<float> now = ta_test::scores(*bf16, x.data(), n, side, side, Activation::None);
  const std::vector<float> old = cast_then_fold_logits(path, torch::kBFloat16, x, n, side);
  ASSERT_EQ(now.size(), ref.size());
  ASSERT_EQ(old.size(), ref.size());
  // The old order built by hand is the loader's model but for the order: in fp32 both
  // orders are the same computation, and must agree with the loaded fp32 model.
  const Diff same = diff(cast_then_fold_logits(path, torch::kFloat, x, n, side), ref);
  EXPECT_LE(same.max, 1e-4) << "the hand-built ResNet18 is not the loader's";

  const Diff d_now = diff(now, ref), d_old = diff(old, ref);
  std::printf("[model] bf16 vs fp32 logits, %d frames x 1000: fold then cast max %.4f mean %.5f | "
              "cast then fold (old) max %.4f mean %.5f\n",
              n, d_now.max, d_now.mean, d_old.max, d_old.mean);
  EXPECT_LT(d_now.mean, d_old.mean);
  EXPECT_LT(d_now.max, d_old.max);
}

// A forward at load, on the CPU as on a GPU, for the state-dict and the TorchScript path,
// at 1 frame and at the engine's batch: the first frames of a live stream then find the
// kernels ready. (Its effect on the first frame's latency is measured in bench_model, not
// asserted here.)
TEST(ModelWarmUp, LoadRunsAWarmUpForwardOnTheCpu) {
  TA_REQUIRE_FIXTURE(r18, "resnet18_seeded.pth");
  TA_REQUIRE_FIXTURE(tiny, "tiny.ts");
  for (const std::string& which : {r18, tiny}) {
    SCOPED_TRACE(which);
    ModelConfig c;
    (which == r18 ? c.weights_location : c.model_location) = which;
    c.architecture = "resnet18";
    c.device = "cpu";
    c.input_size = 64;
    LoadReport r;
    auto m = load(c, &r);
    EXPECT_TRUE(has(r.infos, "warmed up on cpu (1 frame of 64x64)")) << joined(r.infos);
    c.warmup_batch = 3;
    r = LoadReport();
    m = load(c, &r);
    EXPECT_TRUE(has(r.infos, "warmed up on cpu (1 frame and 3 frames of 64x64)")) << joined(r.infos);
    // The warmed-up model still classifies (the zero batches left nothing behind).
    const std::vector<float> x = random_input(2, 64, 3);
    const auto top = ta_test::classify(*m, x.data(), 2, 64, 64, Activation::Softmax, 3, 0.f);
    ASSERT_EQ(top.size(), 2u);
    EXPECT_EQ(top[0].size(), 3u);
  }
}

// A frozen and optimized TorchScript model gives the scores of the module as loaded (the
// reference suite checks a ResNet50 TorchScript against torchvision within 1e-5); in bf16
// it is frozen without the numeric folding passes, and still runs.
TEST(ModelJit, FrozenTorchScriptGivesTheScoresOfTheModuleAsLoaded) {
  TA_REQUIRE_FIXTURE(tiny, "tiny.ts");
  ModelConfig c;
  c.model_location = tiny;
  c.device = "cpu";
  c.input_size = 96;
  const int n = 3;
  const std::vector<float> x = random_input(n, 96, 11);
  LoadReport r;
  auto frozen = load(c, &r);
#if TORCH_VERSION_MAJOR > 1 || (TORCH_VERSION_MAJOR == 1 && TORCH_VERSION_MINOR >= 10)
  EXPECT_TRUE(has(r.infos, "frozen and optimized")) << joined(r.infos);
#endif
  c.jit_optimize = false;
  r = LoadReport();
  auto plain = load(c, &r);
  EXPECT_FALSE(has(r.infos, "frozen")) << joined(r.infos);
  const Diff d = diff(ta_test::scores(*frozen, x.data(), n, 96, 96, Activation::Softmax),
                      ta_test::scores(*plain, x.data(), n, 96, 96, Activation::Softmax));
  EXPECT_LE(d.max, 1e-6);

  c.jit_optimize = true;
  c.precision = Precision::BF16;
  r = LoadReport();
  auto bf16 = load(c, &r);
#if TORCH_VERSION_MAJOR > 1 || (TORCH_VERSION_MAJOR == 1 && TORCH_VERSION_MINOR >= 10)
  EXPECT_TRUE(has(r.infos, "frozen (torch::jit::freeze, no numeric folding")) << joined(r.infos);
#endif
  const Diff db = diff(ta_test::scores(*bf16, x.data(), n, 96, 96, Activation::Softmax),
                       ta_test::scores(*plain, x.data(), n, 96, 96, Activation::Softmax));
  EXPECT_LE(db.max, 0.05) << "bf16 scores far from fp32's";
}
