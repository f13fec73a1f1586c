// The only translation unit with torch/torch.h besides resnet.cpp: keep it that way, the
// header costs ~20 s of compile time on 2 cores.
#include "model.h"
#include "cpu_features.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <dirent.h>
#include <map>
#include <optional>
#include <sstream>
#include <sys/stat.h>

#include "resnet.h"
#include "sha256.h"
#include "staging.h"
#include "statedict.h"

#ifdef TA_HAVE_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "preprocess_cuda.h"
#endif

namespace ta {

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::Auto: return "auto";
    case Precision::FP32: return "fp32";
    case Precision::FP16: return "fp16";
    case Precision::BF16: return "bf16";
  }
  return "?";
}

// Without the GPU kernel the frames are preprocessed here, on the CPU, into one batch: the
// same numbers as ta::preprocess on the streaming thread (the CPU path), only later.
std::vector<TopLogits> Model::top_logits_of_frames(const std::vector<const FrameView*>& frames,
                                                   const std::vector<const PreprocessConfig*>& cfgs, int k) {
  if (frames.empty()) return {};
  const int size = cfgs[0]->crop_size;
  const size_t per = (size_t)3 * size * size;
  std::vector<float> batch(per * frames.size());
  for (size_t i = 0; i < frames.size(); i++) {
    if (frames[i]->on_device)
      throw Error(ErrorKind::Stream, "A frame in device memory reached a model without the GPU kernel.");
    if (cfgs[i]->crop_size != size)
      throw Error(ErrorKind::Stream, "The frames of one batch have different crop sizes.");
    try {
      preprocess(*frames[i], *cfgs[i], batch.data() + i * per);
    } catch (const std::invalid_argument& e) {
      throw Error(ErrorKind::Stream, "A frame could not be read.", e.what());
    }
  }
  return top_logits(batch.data(), (int)frames.size(), size, size, k);
}

std::shared_ptr<StagingPool> Model::make_staging_pool() const { return StagingPool::host(); }

namespace {

bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

std::string join(const std::vector<std::string>& v, size_t max_items = 12) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < max_items; i++) s += (i ? ", " : "") + v[i];
  if (v.size() > max_items) s += ", ... (" + std::to_string(v.size() - max_items) + " more)";
  return s;
}

std::string torch_home_dir(const std::string& torch_home) {
  if (!torch_home.empty()) return torch_home;
  if (const char* t = std::getenv("TORCH_HOME"); t && *t) return t;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/torch";
  const char* h = std::getenv("HOME");
  return std::string(h ? h : "") + "/.cache/torch";
}

// The architecture and class count a torchvision ResNet state dict was saved from.
std::string guess_architecture(const StateDict& sd, int* num_classes) {
  int blocks[4] = {0, 0, 0, 0};
  bool bottleneck = false;
  *num_classes = -1;
  for (const auto& kv : sd) {
    const std::string& k = kv.first;
    if (k == "fc.weight" && kv.second.dim() == 2) *num_classes = (int)kv.second.size(0);
    if (k.rfind("layer", 0) == 0 && k.size() > 7 && k[6] == '.') {
      const int l = k[5] - '1';
      if (l < 0 || l > 3) continue;
      const int b = std::atoi(k.c_str() + 7);
      blocks[l] = std::max(blocks[l], b + 1);
      if (k.find(".conv3.") != std::string::npos) bottleneck = true;
    }
  }
  for (const auto& n : resnet_names()) {
    const ResNetSpec s = resnet_spec(n);
    if (s.bottleneck == bottleneck && s.blocks == std::vector<int>(blocks, blocks + 4)) return n;
  }
  return {};
}

c10::Device resolve_device(const std::string& dev, LoadReport* report) {
  const bool have_cuda = torch::cuda::is_available();
  if (dev.empty() || dev == "auto") {
    if (have_cuda) return c10::Device(c10::kCUDA, 0);
    report->warnings.push_back("device=auto: LibTorch sees no usable CUDA device, so the model runs on the CPU "
                               "(set device=cpu to choose the CPU without this warning).");
    return c10::Device(c10::kCPU);
  }
  if (dev == "cpu") return c10::Device(c10::kCPU);
  const Error bad(ErrorKind::Settings, "device=\"" + dev + "\" is not a device: use auto, cpu, cuda or cuda:N.");
  if (dev.rfind("cuda", 0) != 0) throw bad;
  int index = 0;
  if (dev.size() > 4) {
    if (dev[4] != ':' || dev.size() == 5) throw bad;
    char* end = nullptr;
    const long v = std::strtol(dev.c_str() + 5, &end, 10);
    if (*end || v < 0 || v > 1024) throw bad;
    index = (int)v;
  }
  if (!have_cuda)
    throw Error(ErrorKind::Device, "device=" + dev + " was asked for, but LibTorch sees no CUDA device (no GPU, "
                "no driver, or a CPU-only LibTorch); use device=auto or device=cpu.");
  if (index >= (int)torch::cuda::device_count())
    throw Error(ErrorKind::Device, "device=" + dev + " was asked for, but there are only " +
                std::to_string(torch::cuda::device_count()) + " CUDA devices; pick cuda:0 to cuda:" +
                std::to_string(torch::cuda::device_count() - 1) + ".");
  return c10::Device(c10::kCUDA, (c10::DeviceIndex)index);
}

c10::ScalarType resolve_dtype(Precision p, const c10::Device& d, Precision* resolved) {
  if (p == Precision::Auto) p = d.is_cuda() ? Precision::FP16 : Precision::FP32;
  if (p == Precision::FP16 && d.is_cpu())
    throw Error(ErrorKind::Settings, "precision=fp16 needs a CUDA device; on the CPU use precision=fp32 (or bf16).");
  *resolved = p;
  switch (p) {
    case Precision::FP16: return c10::kHalf;
    case Precision::BF16: return c10::kBFloat16;
    default: return c10::kFloat;
  }
}

// The best `k` logits of each row of y (n x C, on any device) and each row's log-sum-exp,
// found there: n x (2k + 1) numbers are copied to the host, not n x C.
std::vector<TopLogits> pack_top(torch::Tensor y, int k) {
  y = y.to(torch::kFloat);
  const int n = (int)y.size(0);
  const int kk = std::max(1, std::min<int>(k, (int)y.size(1)));
  auto top = torch::topk(y, kk, /*dim=*/1, /*largest=*/true, /*sorted=*/true);
  // Class ids travel as floats: exact up to 2^24 classes.
  torch::Tensor packed = torch::cat({std::get<0>(top), std::get<1>(top).to(torch::kFloat),
                                     torch::logsumexp(y, 1, /*keepdim=*/true)}, 1)
                             .to(torch::kCPU)  // on a GPU: synchronizes the stream
                             .contiguous();
  std::vector<TopLogits> out(n);
  const float* d = packed.data_ptr<float>();
  for (int i = 0; i < n; i++, d += 2 * kk + 1) {
    out[i].logits.assign(d, d + kk);
    for (int j = 0; j < kk; j++) out[i].ids.push_back((int)d[kk + j]);
    out[i].lse = d[2 * kk];
  }
  return out;
}

// Common part of both model kinds: device, dtype, activation, top-k.
class TorchModel : public Model {
 public:
  TorchModel(std::string name, c10::Device dev, c10::ScalarType dtype, Precision prec)
      : name_(std::move(name)), device_(dev), dtype_(dtype), precision_(prec) {}

  std::string name() const override { return name_; }
  int num_classes() const override { return num_classes_; }
  std::string device() const override { return device_.str(); }
  Precision precision() const override { return precision_; }

  std::vector<TopLogits> top_logits(const float* input, int n, int h, int w, int k) override {
    try {
      c10::InferenceMode guard;
      return pack_top(forward_checked(input, n, h, w), k);
    } catch (const c10::Error& e) {
      throw Error(ErrorKind::Stream, "The model failed on a frame.", e.what_without_backtrace());
    }
  }

  void set_num_classes(int c) { num_classes_ = c; }

#ifdef TA_HAVE_CUDA
  bool gpu_preprocessing() const override { return device_.is_cuda() && kernel_loads_; }

  // Frames staged at submit for the GPU kernel go into page-locked blocks: the worker
  // uploads each with one asynchronous copy.
  std::shared_ptr<StagingPool> make_staging_pool() const override {
    if (!gpu_preprocessing()) return Model::make_staging_pool();
    return StagingPool::create(cuda::alloc_pinned, cuda::free_pinned, /*pinned=*/true);
  }

  // Work already queued may still read the frames (a decoder's buffers, zero-copy): the
  // caller lets them go after this returns, so wait for the stream first.
  void sync_after_error() {
    if (!stream_) return;
    try {
      stream_->synchronize();
    } catch (const c10::Error&) {
      // A sticky device error: nothing runs on this context any more.
    }
  }

  // Before the first launch: can this GPU run our preprocessing kernel? If not, frames are
  // preprocessed on the CPU (one warning) and the model still runs on the GPU.
  void check_gpu_kernel(LoadReport* report, int warmed_batch) {
    if (!device_.is_cuda()) return;
    pad_batch_ = warmed_batch;
    std::string why;
    kernel_loads_ = cuda::kernel_loads(device_.index(), &why);
    if (!kernel_loads_)
      report->warnings.push_back("The GPU preprocessing kernel cannot run on " + device_.str() + " (" + why +
                                 "): this build lacks its architecture (meson -Dgpu_arch), so frames are "
                                 "preprocessed on the CPU. Rebuild with the GPU's architecture for the GPU path.");
  }

  std::vector<TopLogits> top_logits_of_frames(const std::vector<const FrameView*>& frames,
                                              const std::vector<const PreprocessConfig*>& cfgs, int k) override {
    if (!device_.is_cuda()) return Model::top_logits_of_frames(frames, cfgs, k);  // refuses
    try {
      if (!stream_) stream_ = c10::cuda::getStreamFromPool(false, device_.index());
      c10::cuda::CUDAStreamGuard guard(*stream_);
      c10::InferenceMode im;
      const int n = (int)frames.size(), size = cfgs[0]->crop_size;
      // A partial batch (EOS, a timeout, a drain) runs padded to the warmed-up batch size:
      // cuDNN's autotuner would otherwise tune every convolution again for each new size.
      const int rows = n > 1 && n < pad_batch_ ? pad_batch_ : n;
      // The kernel writes fp16 or fp32; bf16 models get fp32 converted on the device.
      const bool half = dtype_ == c10::kHalf;
      torch::Tensor in = torch::empty({rows, 3, size, size}, torch::dtype(half ? c10::kHalf : c10::kFloat).device(device_));
      if (rows > n) in.narrow(0, n, rows - n).zero_();
      // Every frame uploaded (or read in place), then one kernel launch for the batch.
      batch_pre_.run(frames, cfgs, in.data_ptr(), half, stream_->stream());
      if (in.scalar_type() != dtype_) in = in.to(dtype_);
      torch::Tensor y = forward(in);
      if (y.dim() != 2 || y.size(0) != rows)
        throw Error(ErrorKind::Stream, "The model does not map [N,3,H,W] images to [N,C] scores.");
      if (rows > n) y = y.narrow(0, 0, n);
      // Top-k and the log-sum-exp on the device; n x (2k + 1) numbers come back.
      return pack_top(y, k);
    } catch (const c10::Error& e) {
      sync_after_error();
      throw Error(ErrorKind::Stream, "The model failed on a batch on the GPU.", e.what_without_backtrace());
    } catch (...) {
      sync_after_error();
      throw;
    }
  }
#endif

  // Runs the model on zero batches of 1 frame and of `batch` frames (when larger), `runs`
  // times each: the first forward of a shape is slow (oneDNN and cuDNN pick and build
  // their kernels, the allocator fills its pools, a TorchScript profiling executor
  // profiles the first run and optimizes the second), and in live mode the frames that
  // arrive meanwhile leave without a result. Sets the class count from the output.
  void warm_up(int size, int batch, int runs) {
    std::vector<int> batches = {1};
    if (batch > 1) batches.push_back(batch);
    for (int b : batches) {
      std::vector<float> zeros((size_t)b * 3 * size * size, 0.f);
      for (int r = 0; r < runs; r++) num_classes_ = (int)forward_checked(zeros.data(), b, size, size).size(1);
    }
  }

 protected:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;

  torch::Tensor forward_checked(const float* input, int n, int h, int w) {
    c10::InferenceMode guard;
    torch::Tensor x = torch::from_blob(const_cast<float*>(input), {n, 3, h, w}, torch::kFloat);
    x = x.to(device_, dtype_, /*non_blocking=*/false, /*copy=*/false);
    torch::Tensor y = forward(x);
    if (y.dim() != 2 || y.size(0) != n)
      throw Error(ErrorKind::Stream, "The model does not map [N,3,H,W] images to [N,C] scores (it returned " +
                  std::string(c10::str(y.sizes())) + "): give a classifier.");
    return y;
  }

  std::string name_;
  c10::Device device_;
  c10::ScalarType dtype_;
  Precision precision_;
  int num_classes_ = 0;
#ifdef TA_HAVE_CUDA
  bool kernel_loads_ = true;
  int pad_batch_ = 0;  // partial GPU batches of frames run padded to this size (warmed up)
  std::optional<c10::cuda::CUDAStream> stream_;
  cuda::BatchPreprocessor batch_pre_;
#endif
};

class BuiltinModel : public TorchModel {
 public:
  BuiltinModel(ResNet net, std::string name, c10::Device d, c10::ScalarType t, Precision p)
      : TorchModel(std::move(name), d, t, p), net_(std::move(net)) {}

 protected:
  torch::Tensor forward(const torch::Tensor& x) override { return net_->forward(x); }

 private:
  ResNet net_;
};

class ScriptModel : public TorchModel {
 public:
  ScriptModel(torch::jit::Module m, std::string name, c10::Device d, c10::ScalarType t, Precision p)
      : TorchModel(std::move(name), d, t, p), module_(std::move(m)) {}

 protected:
  torch::Tensor forward(const torch::Tensor& x) override {
    c10::IValue out = module_.forward({x});
    if (out.isTuple()) out = out.toTupleRef().elements().at(0);  // (logits, aux) models
    if (!out.isTensor())
      throw Error(ErrorKind::Stream, "The TorchScript model returned a " + out.tagKind() +
                  ", not a tensor of scores: give a classifier.");
    return out.toTensor();
  }

 private:
  torch::jit::Module module_;
};

std::string file_stem(const std::string& path) {
  std::string b = path.substr(path.find_last_of('/') + 1);
  const size_t dot = b.find('.');
  return dot == std::string::npos || dot == 0 ? b : b.substr(0, dot);
}

bool is_torchscript_archive(const std::string& path) {
  try {
    caffe2::serialize::PyTorchStreamReader r(path);
    return r.hasRecord("constants.pkl") || r.hasRecord("bytecode.pkl");
  } catch (const c10::Error&) {
    return false;
  }
}

// Copies the matching tensors of `sd` into the network; strict as load_state_dict.
void load_into(ResNet& net, const StateDict& sd, const std::string& path, const ModelConfig& cfg,
               LoadReport* report) {
  std::map<std::string, torch::Tensor> params;
  for (auto& p : net->named_parameters(true)) params[p.key()] = p.value();
  for (auto& b : net->named_buffers(true)) params[b.key()] = b.value();

  std::vector<std::string> unexpected, mismatched, missing;
  std::map<std::string, const torch::Tensor*> given;
  for (const auto& kv : sd) {
    auto it = params.find(kv.first);
    if (it == params.end()) {
      unexpected.push_back(kv.first);
      continue;
    }
    if (!it->second.sizes().equals(kv.second.sizes())) {
      mismatched.push_back(kv.first + " (file " + c10::str(kv.second.sizes()) + ", model " +
                           c10::str(it->second.sizes()) + ")");
      continue;
    }
    given[kv.first] = &kv.second;
  }
  for (const auto& p : params)
    if (!given.count(p.first) &&
        std::find_if(mismatched.begin(), mismatched.end(), [&](const std::string& m) {
          return m.rfind(p.first + " ", 0) == 0;
        }) == mismatched.end())
      missing.push_back(p.first);

  if (!unexpected.empty() || !mismatched.empty() || !missing.empty()) {
    // The message counts, the detail lists the keys (the lists run to hundreds of keys).
    std::string counts, what;
    auto add = [&](const std::vector<std::string>& v, const char* name) {
      if (v.empty()) return;
      counts += (counts.empty() ? " " : ", ") + std::to_string(v.size()) + " " + name;
      what += std::string(what.empty() ? "" : "; ") + name + ": " + join(v);
    };
    add(missing, "missing keys");
    add(unexpected, "unexpected keys");
    add(mismatched, "shape mismatches");
    int file_classes = -1;
    const std::string arch = guess_architecture(sd, &file_classes);
    std::string hint;
    if (!arch.empty() && arch != cfg.architecture)
      hint = " The file looks like " + arch + " weights: set architecture=" + arch + ".";
    else if (arch == cfg.architecture && file_classes > 0 && file_classes != cfg.num_classes)
      hint = " The file's fc layer has " + std::to_string(file_classes) + " classes: set num-classes=" +
             std::to_string(file_classes) + ", or strict=false to load only the backbone.";
    const std::string target = cfg.architecture + " with num-classes=" + std::to_string(cfg.num_classes);
    if (given.empty())
      throw Error(ErrorKind::Init, "\"" + path + "\" shares no tensor with " + target + ": not a torchvision " +
                  cfg.architecture + " state dict." + hint, what);
    if (cfg.strict)
      throw Error(ErrorKind::Init, "\"" + path + "\" does not match " + target + " (strict=true):" + counts + "." +
                  hint + " The debug details list the keys.", what);
    report->warnings.push_back("strict=false: loaded " + std::to_string(given.size()) + " of " +
                               std::to_string(params.size()) + " tensors of " + target + " from \"" + path +
                               "\"; left initialized:" + counts + "." + hint + " (" + what + ")");
  }

  torch::NoGradGuard ng;
  for (const auto& g : given) {
    if (!torch::isfinite(*g.second).all().item<bool>() && g.second->is_floating_point())
      throw Error(ErrorKind::Init, "\"" + path + "\" holds NaN or infinite values in " + g.first +
                  ": the weights are damaged; train or export them again.");
    params[g.first].copy_(*g.second);
  }
}

std::string warm_up_note(const c10::Device& dev, const ModelConfig& cfg) {
  std::string b = "1 frame";
  if (cfg.warmup_batch > 1) b += " and " + std::to_string(cfg.warmup_batch) + " frames";
  return "warmed up on " + dev.str() + " (" + b + " of " + std::to_string(cfg.input_size) + "x" +
         std::to_string(cfg.input_size) + (dev.is_cuda() ? ", cuDNN autotuning on)" : ")");
}

// torch::jit::freeze inlines the weights and attributes into the graph as constants, and
// optimize_for_inference folds BatchNorms into convolutions and picks this build's kernels
// (oneDNN on the CPU). Both fold in the module's dtype, so only an fp32 module gets the
// folding passes; an fp16/bf16 one is frozen without them (see fuse_conv_bn). LibTorch
// offers both in C++ since 1.10. On failure (a module freezing does not support) the
// module runs as loaded.
torch::jit::Module optimize_script(const torch::jit::Module& m, c10::ScalarType dtype, LoadReport* report) {
#if TORCH_VERSION_MAJOR > 1 || (TORCH_VERSION_MAJOR == 1 && TORCH_VERSION_MINOR >= 10)
  try {
    const bool fp32 = dtype == c10::kFloat;
    torch::jit::Module f = torch::jit::freeze(m, {}, /*optimize_numerics=*/fp32);
    if (!fp32) {
      report->infos.push_back("TorchScript model frozen (torch::jit::freeze, no numeric folding in " +
                              std::string(c10::toString(dtype)) + ")");
      return f;
    }
    f = torch::jit::optimize_for_inference(f);
    report->infos.push_back("TorchScript model frozen and optimized (torch::jit::freeze, optimize_for_inference)");
    return f;
  } catch (const c10::Error& e) {
    report->infos.push_back(std::string("TorchScript model runs as loaded: freezing it failed (") +
                            e.what_without_backtrace() + ")");
    return m;
  }
#else
  (void)dtype;
  report->infos.push_back("TorchScript model runs as loaded: this LibTorch has no torch::jit::freeze");
  return m;
#endif
}

std::unique_ptr<Model> load_builtin(const std::string& path, const ModelConfig& cfg, c10::Device dev,
                                    c10::ScalarType dtype, Precision prec, LoadReport* report) {
  if (is_torchscript_archive(path))
    throw Error(ErrorKind::Init, "\"" + path + "\" is a TorchScript file, not a state dict: set model-location to "
                "it instead of weights-location.");
  ResNetSpec spec;
  try {
    spec = resnet_spec(cfg.architecture);
  } catch (const std::invalid_argument&) {
    throw Error(ErrorKind::Settings, "architecture=\"" + cfg.architecture + "\" is unknown: use one of " +
                join(resnet_names()) + ".");
  }
  if (cfg.num_classes < 1)
    throw Error(ErrorKind::Settings, "num-classes must be at least 1.");
  const StateDict sd = load_state_dict(path);
  ResNet net(spec, cfg.num_classes);
  load_into(net, sd, path, cfg, report);
  net->eval();
  // On the device in fp32, folded there in fp32, and only then cast to the precision.
  net->to(dev);
  // Channels-last pays on CUDA and with LibTorch 2's oneDNN on the CPU; LibTorch 1.13
  // (Debian's) runs NHWC convolutions slower.
  net->fuse_for_inference(dev.is_cuda() || TORCH_VERSION_MAJOR >= 2, dtype);
  auto m = std::make_unique<BuiltinModel>(net, cfg.architecture, dev, dtype, prec);
  m->set_num_classes(cfg.num_classes);
  // cuDNN picks its fastest convolutions for these shapes now, not on the first frame.
  if (dev.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
  if (cfg.warmup_batch >= 1) {
    m->warm_up(cfg.input_size, cfg.warmup_batch, 1);
    report->infos.push_back(warm_up_note(dev, cfg));
  }
  report->source = path;
  return m;
}

}  // namespace

std::string find_hub_checkpoint(const std::string& architecture, const std::string& torch_home) {
  const std::string dir = torch_home_dir(torch_home) + "/hub/checkpoints";
  // The file names torchvision downloads for pretrained=True (IMAGENET1K_V1).
  static const std::map<std::string, std::string> v1 = {
      {"resnet18", "resnet18-f37072fd.pth"}, {"resnet34", "resnet34-b627a593.pth"},
      {"resnet50", "resnet50-0676ba61.pth"}, {"resnet101", "resnet101-63fe2227.pth"},
      {"resnet152", "resnet152-394f9c45.pth"}};
  auto it = v1.find(architecture);
  if (it != v1.end() && exists(dir + "/" + it->second)) return dir + "/" + it->second;
  std::vector<std::string> found;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      const std::string prefix = architecture + "-";
      if (n.rfind(prefix, 0) == 0 && n.size() > prefix.size() + 4 && n.compare(n.size() - 4, 4, ".pth") == 0)
        found.push_back(dir + "/" + n);
    }
    ::closedir(d);
  }
  std::sort(found.begin(), found.end());
  return found.empty() ? std::string() : found.front();
}

std::unique_ptr<Model> Model::load(const ModelConfig& cfg, LoadReport* report) {
  try {
    const c10::Device dev = resolve_device(cfg.device, report);
    Precision prec;
    const c10::ScalarType dtype = resolve_dtype(cfg.precision, dev, &prec);
    if (prec == Precision::BF16 && dev.is_cpu() && !cpu_has_native_bf16())
      report->warnings.push_back("precision=bf16 on a CPU without native bfloat16 (AVX512_BF16 or AMX): "
                                 "LibTorch emulates it and the model runs slower than in fp32; use "
                                 "precision=fp32 (or auto) on this machine.");
    if (!cfg.weights_location.empty() && !cfg.model_location.empty())
      throw Error(ErrorKind::Settings, "Both weights-location and model-location are set: set only one of them.");

    std::unique_ptr<Model> model;
    if (!cfg.model_location.empty()) {
      const std::string& path = cfg.model_location;
      if (!exists(path))
        throw Error(ErrorKind::NotFound, "The model file \"" + path + "\" does not exist: check model-location.");
      if (sniff_torch_file(path) != TorchFileKind::Zip)
        throw Error(ErrorKind::Init, "\"" + path + "\" is not a TorchScript file; export one with "
                    "torch.jit.save(torch.jit.script(model), path), or give a state dict to weights-location.");
      if (!is_torchscript_archive(path)) {
        throw Error(ErrorKind::Init, "\"" + path + "\" is not a TorchScript file (it looks like a state dict from "
                    "torch.save): set weights-location to it instead of model-location.");
      }
      torch::jit::Module m;
      try {
        m = torch::jit::load(path, dev);
      } catch (const c10::Error& e) {
        throw Error(ErrorKind::Init, "The TorchScript file \"" + path + "\" cannot be loaded (truncated, corrupt, or "
                    "made by a newer PyTorch); export it again with torch.jit.save.", e.what_without_backtrace());
      }
      m.eval();
      m.to(dtype);
      if (cfg.jit_optimize) m = optimize_script(m, dtype, report);
      auto sm = std::make_unique<ScriptModel>(std::move(m), file_stem(path), dev, dtype, prec);
      if (dev.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
      try {
        // Twice: the profiling executor profiles the first run and optimizes the second.
        // Without a warm-up (warmup_batch 0) one run still probes the class count.
        sm->warm_up(cfg.input_size, cfg.warmup_batch, cfg.warmup_batch >= 1 ? 2 : 1);
        if (cfg.warmup_batch >= 1) report->infos.push_back(warm_up_note(dev, cfg));
      } catch (const c10::Error& e) {
        throw Error(ErrorKind::Init, "The TorchScript model \"" + path + "\" fails on a [1,3," +
                    std::to_string(cfg.input_size) + "," + std::to_string(cfg.input_size) +
                    "] float image: it must map [N,3,H,W] images to [N,C] scores.", e.what_without_backtrace());
      } catch (const Error& e) {
        throw Error(ErrorKind::Init, e.what(), e.detail());
      }
      report->source = path;
      model = std::move(sm);
    } else if (!cfg.weights_location.empty()) {
      model = load_builtin(cfg.weights_location, cfg, dev, dtype, prec, report);
    } else {
      const std::string hub = find_hub_checkpoint(cfg.architecture, cfg.torch_home);
      if (hub.empty())
        throw Error(ErrorKind::NotFound,
                    "No weights to load: set weights-location to a torchvision state dict "
                    "(torch.save(model.state_dict(), path)), or model-location to a TorchScript classifier "
                    "(torch.jit.save), or cache torchvision's pretrained weights once with: python3 -c \"import "
                    "torchvision; torchvision.models." + cfg.architecture + "(weights='IMAGENET1K_V1')\".",
                    "looked for " + torch_home_dir(cfg.torch_home) + "/hub/checkpoints/" + cfg.architecture +
                        "-*.pth ($TORCH_HOME/hub/checkpoints)");
      report->infos.push_back("no weights-location or model-location: using the torch hub cache file " + hub);
      model = load_builtin(hub, cfg, dev, dtype, prec, report);
    }
#ifdef TA_HAVE_CUDA
    static_cast<TorchModel*>(model.get())->check_gpu_kernel(report, cfg.warmup_batch);
#endif
    // Once per load, of the very file read (state dict, TorchScript or hub cache file).
    model->sha256_ = sha256_file(report->source);
    report->sha256 = model->sha256_;
    return model;
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Error(ErrorKind::Init, "LibTorch failed while loading the model.", e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Error(ErrorKind::Init, "Loading the model failed.", e.what());
  }
}

}  // namespace ta
