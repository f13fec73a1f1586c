// Times ta::Model::classify on one preprocessed frame (batch 1): the forward pass, the
// activation and the top-k, as torchclassify runs them. Usage: bench_model WEIGHTS [N]
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "model.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s WEIGHTS.pth [iterations]\n", argv[0]);
    return 2;
  }
  const int n = argc > 2 ? std::atoi(argv[2]) : 20;
  ta::ModelConfig cfg;
  cfg.weights_location = argv[1];
  cfg.device = "cpu";
  ta::LoadReport report;
  const auto t0 = std::chrono::steady_clock::now();
  auto model = ta::Model::load(cfg, &report);
  const auto t1 = std::chrono::steady_clock::now();
  // Normalized values of a uniform random image, as torch.rand after Normalize.
  std::vector<float> x((size_t)3 * 224 * 224);
  uint32_t r = 12345;
  for (float& v : x) v = (((r = r * 1664525u + 1013904223u) >> 8) / 16777216.f - 0.45f) / 0.226f;
  for (int i = 0; i < 3; i++) model->classify(x.data(), 1, 224, 224, ta::Activation::Softmax, 5, 0.f);
  const auto t2 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; i++) model->classify(x.data(), 1, 224, 224, ta::Activation::Softmax, 5, 0.f);
  const auto t3 = std::chrono::steady_clock::now();
  std::printf("load_ms %.1f\n", std::chrono::duration<double, std::milli>(t1 - t0).count());
  std::printf("classify_ms %.2f\n", std::chrono::duration<double, std::milli>(t3 - t2).count() / n);
  return 0;
}
