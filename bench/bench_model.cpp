// Times one preprocessed frame (batch 1) through ta::Model::top_logits + ta::postprocess,
// the path torchclassify runs: the first frame after load, and then the mean of N.
//
//   bench_model [--ts] [--no-jit] [--no-warmup] FILE [N]
//     FILE       a torchvision ResNet50 state dict, or with --ts a TorchScript classifier
//     --no-jit   TorchScript as loaded: no torch::jit::freeze / optimize_for_inference
//     --no-warmup no warm-up forward at load (ModelConfig::warmup_batch = 0)
// Prints load_ms, first_ms, classify_ms, and the top-5 of the frame (to compare runs).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine.h"
#include "model.h"

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<ta::Prediction> classify(ta::Model& m, const std::vector<float>& x) {
  return ta::postprocess(m.top_logits(x.data(), 1, 224, 224, 5).at(0), ta::Activation::Softmax, 5, 0.f);
}

}  // namespace

int main(int argc, char** argv) {
  bool ts = false, jit = true, warm = true;
  std::vector<const char*> pos;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--ts")) ts = true;
    else if (!std::strcmp(argv[i], "--no-jit")) jit = false;
    else if (!std::strcmp(argv[i], "--no-warmup")) warm = false;
    else pos.push_back(argv[i]);
  }
  if (pos.empty()) {
    std::fprintf(stderr, "usage: %s [--ts] [--no-jit] [--no-warmup] FILE [iterations]\n", argv[0]);
    return 2;
  }
  const int n = pos.size() > 1 ? std::atoi(pos[1]) : 20;
  ta::ModelConfig cfg;
  (ts ? cfg.model_location : cfg.weights_location) = pos[0];
  cfg.device = "cpu";
  cfg.jit_optimize = jit;
  cfg.warmup_batch = warm ? 1 : 0;
  ta::LoadReport report;
  try {
    auto t0 = std::chrono::steady_clock::now();
    auto model = ta::Model::load(cfg, &report);
    const double load_ms = ms_since(t0);
    // Normalized values of a uniform random image, as torch.rand after Normalize.
    std::vector<float> x((size_t)3 * 224 * 224);
    uint32_t r = 12345;
    for (float& v : x) v = (((r = r * 1664525u + 1013904223u) >> 8) / 16777216.f - 0.45f) / 0.226f;
    t0 = std::chrono::steady_clock::now();
    classify(*model, x);
    const double first_ms = ms_since(t0);
    for (int i = 0; i < 2; i++) classify(*model, x);
    t0 = std::chrono::steady_clock::now();
    std::vector<ta::Prediction> top;
    for (int i = 0; i < n; i++) top = classify(*model, x);
    const double classify_ms = ms_since(t0) / n;
    std::printf("load_ms %.1f\n", load_ms);
    std::printf("first_ms %.2f\n", first_ms);
    std::printf("classify_ms %.2f\n", classify_ms);
    std::printf("top5");
    for (const auto& p : top) std::printf(" %d:%.6f", p.class_id, p.score);
    std::printf("\n");
    for (const auto& s : report.infos) std::printf("info %s\n", s.c_str());
  } catch (const ta::Error& e) {
    std::fprintf(stderr, "bench_model: %s (%s)\n", e.what(), e.detail().c_str());
    return 1;
  }
  return 0;
}
