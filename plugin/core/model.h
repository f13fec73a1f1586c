// The classifier: loads torchvision weights (state dict), a TorchScript file or the
// torch hub cache, and runs a batch of preprocessed frames to top-k results.
//
// This header is LibTorch-free: the elements and tests include it without torch/torch.h.
// Everything that throws, throws ta::Error (LibTorch's exceptions are translated inside).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "error.h"
#include "frame.h"
#include "preprocess.h"

namespace ta {

class StagingPool;

enum class Precision { Auto, FP32, FP16, BF16 };
enum class Activation { Softmax, Sigmoid, None };

struct ModelConfig {
  std::string weights_location;  // torchvision state dict (torch.save(model.state_dict()))
  std::string model_location;    // TorchScript file (torch.jit.save)
  std::string architecture = "resnet50";  // resnet18/34/50/101/152, for weights_location / hub
  int num_classes = 1000;
  bool strict = true;
  std::string device = "auto";  // auto, cpu, cuda, cuda:N
  Precision precision = Precision::Auto;
  // Where the hub cache is looked up when neither location is set; empty: $TORCH_HOME
  // or ~/.cache/torch.
  std::string torch_home;
  // Input side used to probe a TorchScript model's output size and to warm up.
  int input_size = 224;
  // Frames per forward the engine will run (EngineOptions::batch_size). Load warms the
  // model up on a zero batch of 1 frame (live mode runs one at a time) and, when larger,
  // one of this many, so that the first frames do not wait for the kernels' setup.
  // 0: no warm-up (bench/ measures what it saves the first frame).
  int warmup_batch = 1;
  // TorchScript: torch::jit::freeze + optimize_for_inference where LibTorch has them
  // (bench/ turns this off to measure what they bring).
  bool jit_optimize = true;
};

struct Prediction {
  int class_id;
  float score;
};

// Which model computed a result: fixed once the model is loaded, shared by every result
// it computes (the engine swaps whole models: see Engine::request_swap).
struct ModelInfo {
  std::string name;        // Model::name()
  std::string sha256;      // of the file it was loaded from (lowercase hex)
  std::string source;      // that file
  std::string device;
  Precision precision = Precision::FP32;
  int num_classes = 0;
  uint64_t generation = 0; // 0: the engine's first model; +1 per swap
  double load_ms = 0;      // loading and warming it up
  // The labels that came with a swapped-in model (its request's labels-location, or the
  // defaults for its class count); the first model has none here (each element keeps its own).
  bool has_labels = false;
  std::vector<std::string> labels;
};

// The best logits of one frame, best first, and the log-sum-exp of all of its logits
// (its softmax scores are exp(logit - lse)): all that top-k results need. The GPU path
// computes these on the device, and only they come back to the host.
struct TopLogits {
  std::vector<int> ids;
  std::vector<float> logits;
  float lse = 0.f;
  // Set by the engine: the model that computed it, and the time from the frame's
  // arrival (Engine::submit's `arrival`) to the result, in ns (-1: unknown).
  std::shared_ptr<const ModelInfo> model;
  int64_t latency_ns = -1;
  bool empty() const { return ids.empty(); }
};

// The best `k` of `c` logits (ties: the lower class id first) and their log-sum-exp.
TopLogits top_logits(const float* logits, int c, int k);

// What the loader noticed and the element should log or warn about.
struct LoadReport {
  std::vector<std::string> warnings;
  std::vector<std::string> infos;
  std::string source;  // the file that was loaded
  std::string sha256;  // its SHA-256 (lowercase hex), computed once at load
};

class Model {
 public:
  virtual ~Model() = default;

  // Throws ta::Error.
  static std::unique_ptr<Model> load(const ModelConfig& cfg, LoadReport* report);

  virtual std::string name() const = 0;         // "resnet50", or the TorchScript file's stem
  virtual int num_classes() const = 0;          // known after load (TorchScript: probed)
  virtual std::string device() const = 0;       // "cpu", "cuda:0"
  virtual Precision precision() const = 0;      // the resolved precision
  // Lowercase hex SHA-256 of the file it was loaded from (set by load()).
  const std::string& sha256() const { return sha256_; }

  // The best `k` logits of each of n preprocessed frames (3 x h x w floats each), found
  // where the model runs: from a GPU only they come back. Throws ta::Error.
  virtual std::vector<TopLogits> top_logits(const float* input, int n, int h, int w, int k) = 0;

  // The GPU path: true for a CUDA model in a build with the CUDA kernel. Then frames are
  // preprocessed on the GPU, straight into the batch tensor, on the model's stream.
  virtual bool gpu_preprocessing() const { return false; }
  // The best `k` logits of each of n frames (cfgs[i] for frames[i]; all of the same crop
  // size). On the GPU path they are preprocessed by the kernel and only the top logits come
  // back; frames whose planes are on the device (FrameView::on_device) are read in place.
  // Otherwise they are preprocessed on the CPU here (device planes are refused). Throws
  // ta::Error.
  virtual std::vector<TopLogits> top_logits_of_frames(const std::vector<const FrameView*>& frames,
                                                      const std::vector<const PreprocessConfig*>& cfgs, int k);
  // Where frames queued without a hold are copied (Engine::submit_frame): page-locked
  // blocks on the GPU path, ordinary memory otherwise. Made once per engine (the device
  // does not change with a swap).
  virtual std::shared_ptr<StagingPool> make_staging_pool() const;

 private:
  std::string sha256_;
};

// The hub-cache file that pretrained=True would have left for `architecture`, or ""
// (torch_home empty: $TORCH_HOME, else $XDG_CACHE_HOME/torch, else ~/.cache/torch).
std::string find_hub_checkpoint(const std::string& architecture, const std::string& torch_home);

const char* precision_name(Precision p);

}  // namespace ta
