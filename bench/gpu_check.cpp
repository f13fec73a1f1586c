// The prepared GPU check (scripts/gpu-check): GPU preprocessing against the CPU path,
// ResNet50 on CUDA fp32/fp16 against the CPU, forward throughput by batch, precision,
// memory format and CUDA graphs, and the end-to-end core (upload, preprocess, batch,
// forward, top-k) against the forward alone. Prints a Markdown table and writes it to
// the file given. Needs no GStreamer.
//   gpu_check WEIGHTS.pth OUT.md
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdarg>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine.h"
#include "model.h"
#include "preprocess.h"
#include "preprocess_cuda.h"
#include "resnet.h"
#include "staging.h"
#include "statedict.h"

namespace {

std::ostringstream report;

void line(const std::string& s) {
  std::printf("%s\n", s.c_str());
  std::fflush(stdout);
  report << s << "\n";
}

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Frame {
  std::vector<uint8_t> bytes;
  ta::FrameView view;
};

// A w x h (default 1920x1080) frame with structure, in the given format, GStreamer's
// default layout.
Frame make_frame(ta::PixelFormat f, unsigned seed, int w = 1920, int h = 1080) {
  Frame fr;
  std::mt19937 rng(seed);
  fr.view.format = f;
  fr.view.width = w;
  fr.view.height = h;
  fr.view.matrix = ta::ColorMatrix::BT709;
  auto val = [&](int x, int y) { return (uint8_t)((x / 7 + y / 5 + (int)(rng() % 24)) & 0xFF); };
  ta::PackedLayout pl;
  if (ta::packed_layout(f, &pl)) {
    fr.bytes.resize((size_t)w * h * pl.pixel_bytes);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w * pl.pixel_bytes; x++) fr.bytes[(size_t)y * w * pl.pixel_bytes + x] = val(x, y);
    fr.view.planes[0] = fr.bytes.data();
    fr.view.strides[0] = w * pl.pixel_bytes;
  } else {
    fr.bytes.resize((size_t)w * h * 3 / 2);
    for (size_t i = 0; i < fr.bytes.size(); i++) fr.bytes[i] = val((int)(i % w), (int)(i / w));
    fr.view.planes[0] = fr.bytes.data();
    fr.view.strides[0] = w;
    fr.view.planes[1] = fr.bytes.data() + (size_t)w * h;
    if (f == ta::PixelFormat::I420) {
      fr.view.strides[1] = w / 2;
      fr.view.planes[2] = fr.view.planes[1] + (size_t)w * h / 4;
      fr.view.strides[2] = w / 2;
    } else {
      fr.view.strides[1] = w;
    }
  }
  return fr;
}

void check_preprocessing() {
  line("");
  line("## GPU preprocessing of 1080p frames against the CPU path (ta::preprocess)");
  line("");
  line("| format | max abs diff | mean abs diff | GPU ms/frame (copy to pinned + upload + kernel) | CPU ms/frame |");
  line("|---|---|---|---|---|");
  ta::PreprocessConfig cfg;
  auto stream = c10::cuda::getStreamFromPool();
  for (ta::PixelFormat f : {ta::PixelFormat::NV12, ta::PixelFormat::I420, ta::PixelFormat::RGBA}) {
    Frame fr = make_frame(f, 7);
    std::vector<float> cpu(3 * 224 * 224);
    double t0 = now_s();
    for (int i = 0; i < 20; i++) ta::preprocess(fr.view, cfg, cpu.data());
    const double cpu_ms = (now_s() - t0) / 20 * 1e3;
    torch::Tensor out = torch::empty({3, 224, 224}, torch::dtype(torch::kFloat).device(torch::kCUDA));
    ta::cuda::FrameUploader up;
    up.preprocess(fr.view, cfg, out.data_ptr(), false, stream.stream());
    stream.synchronize();
    t0 = now_s();
    for (int i = 0; i < 100; i++) up.preprocess(fr.view, cfg, out.data_ptr(), false, stream.stream());
    stream.synchronize();
    const double gpu_ms = (now_s() - t0) / 100 * 1e3;
    torch::Tensor ref = torch::from_blob(cpu.data(), {3, 224, 224}, torch::kFloat);
    torch::Tensor d = (out.cpu() - ref).abs();
    line(fmt("| %s | %.2e | %.2e | %.3f | %.3f |", ta::pixel_format_name(f), d.max().item<double>(),
             d.mean().item<double>(), gpu_ms, cpu_ms));
  }
}

// A batch of 8 NV12 frames, staged into page-locked blocks as torchclassify queues them,
// preprocessed with one launch for the batch (the engine's way) and with one launch per
// frame, at 1080p and 4K: time per frame, and the batch launch's largest difference from
// the CPU path.
void check_batch_preprocessing() {
  line("");
  line("## A batch of 8 NV12 frames: one launch for the batch against one per frame");
  line("");
  line("| frames | max abs diff (batch launch vs CPU) | ms/frame, one launch per batch (upload + kernel) | "
       "ms/frame, one launch per frame |");
  line("|---|---|---|---|");
  ta::PreprocessConfig cfg;
  auto stream = c10::cuda::getStreamFromPool();
  auto pool = ta::StagingPool::create(ta::cuda::alloc_pinned, ta::cuda::free_pinned, true);
  const int n = 8;
  for (auto wh : {std::make_pair(1920, 1080), std::make_pair(3840, 2160)}) {
    std::vector<Frame> frames;
    std::vector<ta::StagedFrame> staged;
    std::vector<const ta::FrameView*> views;
    std::vector<const ta::PreprocessConfig*> cfgs;
    for (int i = 0; i < n; i++) frames.push_back(make_frame(ta::PixelFormat::NV12, 40 + i, wh.first, wh.second));
    for (auto& f : frames) staged.push_back(pool->stage(f.view));
    for (auto& st : staged) {
      views.push_back(&st.view);
      cfgs.push_back(&cfg);
    }
    torch::Tensor out = torch::empty({n, 3, 224, 224}, torch::dtype(torch::kFloat).device(torch::kCUDA));
    const size_t per = (size_t)3 * 224 * 224 * sizeof(float);
    ta::cuda::BatchPreprocessor batch;
    std::vector<std::unique_ptr<ta::cuda::FrameUploader>> single;
    for (int i = 0; i < n; i++) single.push_back(std::make_unique<ta::cuda::FrameUploader>());
    auto one_per_frame = [&] {
      for (int i = 0; i < n; i++)
        single[i]->preprocess(*views[i], cfg, static_cast<uint8_t*>(out.data_ptr()) + i * per, false, stream.stream());
    };
    batch.run(views, cfgs, out.data_ptr(), false, stream.stream());
    one_per_frame();
    stream.synchronize();
    const int iters = 20;
    double t0 = now_s();
    for (int r = 0; r < iters; r++) batch.run(views, cfgs, out.data_ptr(), false, stream.stream());
    stream.synchronize();
    const double batch_ms = (now_s() - t0) / (iters * n) * 1e3;
    t0 = now_s();
    for (int r = 0; r < iters; r++) one_per_frame();
    stream.synchronize();
    const double single_ms = (now_s() - t0) / (iters * n) * 1e3;
    batch.run(views, cfgs, out.data_ptr(), false, stream.stream());
    stream.synchronize();
    std::vector<float> cpu((size_t)n * 3 * 224 * 224);
    for (int i = 0; i < n; i++) ta::preprocess(frames[i].view, cfg, cpu.data() + (size_t)i * 3 * 224 * 224);
    torch::Tensor ref = torch::from_blob(cpu.data(), {n, 3, 224, 224}, torch::kFloat);
    const double diff = (out.cpu() - ref).abs().max().item<double>();
    line(fmt("| %dx%d | %.2e | %.3f | %.3f |", wh.first, wh.second, diff, batch_ms, single_ms));
  }
}

// Top-5 softmax of n frames through top_logits + postprocess, as the element runs them.
std::vector<std::vector<ta::Prediction>> top5(ta::Model& m, const std::vector<float>& input, int n) {
  std::vector<std::vector<ta::Prediction>> out;
  for (const ta::TopLogits& t : m.top_logits(input.data(), n, 224, 224, 5))
    out.push_back(ta::postprocess(t, ta::Activation::Softmax, 5, 0.f));
  return out;
}

void check_results(const std::string& weights) {
  line("");
  line("## ResNet50 on the GPU against the CPU (4 frames, the same preprocessed input)");
  line("");
  line("| device / precision | top-5 ids equal | max score diff |");
  line("|---|---|---|");
  ta::PreprocessConfig cfg;
  std::vector<float> input(4 * 3 * 224 * 224);
  std::vector<Frame> frames;
  for (int i = 0; i < 4; i++) {
    frames.push_back(make_frame(i % 2 ? ta::PixelFormat::NV12 : ta::PixelFormat::RGBA, 100 + i));
    ta::preprocess(frames.back().view, cfg, input.data() + (size_t)i * 3 * 224 * 224);
  }
  ta::ModelConfig mc;
  mc.weights_location = weights;
  mc.device = "cpu";
  ta::LoadReport r;
  auto cpu = ta::Model::load(mc, &r);
  const auto ref = top5(*cpu, input, 4);
  for (ta::Precision p : {ta::Precision::FP32, ta::Precision::FP16, ta::Precision::BF16}) {
    mc.device = "cuda";
    mc.precision = p;
    auto gpu = ta::Model::load(mc, &r);
    const auto got = top5(*gpu, input, 4);
    bool same = true;
    double worst = 0;
    for (int i = 0; i < 4; i++)
      for (size_t k = 0; k < ref[i].size(); k++) {
        same &= got[i][k].class_id == ref[i][k].class_id;
        worst = std::max(worst, (double)std::fabs(got[i][k].score - ref[i][k].score));
      }
    line(fmt("| cuda %s | %s | %.2e |", ta::precision_name(p), same ? "yes" : "NO", worst));
    // The element's GPU path: the frames themselves, preprocessed by the kernel.
    std::vector<const ta::FrameView*> views;
    std::vector<const ta::PreprocessConfig*> cfgs;
    for (auto& f : frames) {
      views.push_back(&f.view);
      cfgs.push_back(&cfg);
    }
    // Top-5 and the log-sum-exp found on the device: only they come back.
    // Whether the top-5 of each frame equal the CPU's, and the largest score difference.
    auto against_cpu = [&](const std::vector<ta::TopLogits>& tops, bool* equal, double* diff) {
      *equal = tops.size() == 4;
      *diff = 0;
      for (int i = 0; i < 4 && *equal; i++) {
        const auto top = ta::postprocess(tops[i], ta::Activation::Softmax, 5, 0.f);
        *equal &= top.size() == ref[i].size();
        for (size_t k = 0; k < ref[i].size() && k < top.size(); k++) {
          *equal &= top[k].class_id == ref[i][k].class_id;
          *diff = std::max(*diff, (double)std::fabs(top[k].score - ref[i][k].score));
        }
      }
    };
    against_cpu(gpu->top_logits_of_frames(views, cfgs, 5), &same, &worst);
    line(fmt("| cuda %s, frames preprocessed on the GPU (held host frames) | %s | %.2e |", ta::precision_name(p),
             same ? "yes" : "NO", worst));
    // As torchclassify queues host frames: copied into the model's page-locked staging blocks
    // (one upload per block, no copy in the worker).
    std::shared_ptr<ta::StagingPool> pool = gpu->make_staging_pool();
    std::vector<ta::StagedFrame> staged;
    std::vector<const ta::FrameView*> staged_views;
    for (auto& f : frames) staged.push_back(pool->stage(f.view));
    for (auto& st : staged) staged_views.push_back(&st.view);
    against_cpu(gpu->top_logits_of_frames(staged_views, cfgs, 5), &same, &worst);
    line(fmt("| cuda %s, frames staged at submit (the element's path: page-locked blocks%s) | %s | %.2e |",
             ta::precision_name(p), pool->pinned() ? "" : ", NOT page-locked", same ? "yes" : "NO", worst));
  }
  line("");
  line("Expected: cuda fp32 within about 1e-3 of the CPU, not 1e-6: LibTorch lets cuDNN run the fp32");
  line("convolutions in TF32 (10-bit mantissa) on Ampere and newer. fp16 and bf16 are further off");
  line("(10 and 7 mantissa bits through every layer). Top-5 ids can only differ where two of a frame's");
  line("five scores lie closer than that.");
}

double images_per_s(ta::ResNet& net, int batch, c10::ScalarType dt, bool channels_last, bool graphs) {
  auto stream = c10::cuda::getStreamFromPool();
  c10::cuda::CUDAStreamGuard guard(stream);
  c10::InferenceMode im;
  auto opts = torch::dtype(dt).device(torch::kCUDA);
  torch::Tensor x = torch::randn({batch, 3, 224, 224}, opts);
  if (channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
  for (int i = 0; i < 5; i++) net->forward(x);
  stream.synchronize();
  const int iters = batch >= 32 ? 20 : 50;
  double t0;
  if (!graphs) {
    t0 = now_s();
    for (int i = 0; i < iters; i++) net->forward(x);
  } else {
    at::cuda::CUDAGraph g;
    g.capture_begin();
    torch::Tensor y = net->forward(x);
    g.capture_end();
    g.replay();
    stream.synchronize();
    t0 = now_s();
    for (int i = 0; i < iters; i++) g.replay();
  }
  stream.synchronize();
  return batch * iters / (now_s() - t0);
}

// A ResNet50 with the weights of `sd`, on the GPU in `dt`, BatchNorm folded if `fused`.
ta::ResNet cuda_resnet50(const ta::StateDict& sd, c10::ScalarType dt, bool fused) {
  ta::ResNet net(ta::resnet_spec("resnet50"), 1000);
  {
    torch::NoGradGuard ng;
    auto params = net->named_parameters(true);
    auto buffers = net->named_buffers(true);
    for (const auto& kv : sd) {
      if (auto* t = params.find(kv.first)) t->copy_(kv.second);
      else if (auto* b = buffers.find(kv.first)) b->copy_(kv.second);
    }
  }
  net->eval();
  // As the loader: folded in fp32, then cast.
  net->to(torch::kCUDA);
  if (fused) net->fuse_for_inference(true, dt);
  else net->to(dt);
  return net;
}

double forward_table(const std::string& weights) {
  line("");
  line("## ResNet50 forward, images/s (random input)");
  line("");
  line("| batch | fp32 | fp16 | fp16 channels-last + folded BN | same, CUDA graph |");
  line("|---|---|---|---|---|");
  const ta::StateDict sd = ta::load_state_dict(weights);
  at::globalContext().setBenchmarkCuDNN(true);
  ta::ResNet fp32 = cuda_resnet50(sd, torch::kFloat, false), fp16 = cuda_resnet50(sd, torch::kHalf, false),
             cl = cuda_resnet50(sd, torch::kHalf, true);
  double best32 = 0;
  for (int b : {1, 8, 32, 64}) {
    const double a = images_per_s(fp32, b, torch::kFloat, false, false);
    const double h = images_per_s(fp16, b, torch::kHalf, false, false);
    const double c = images_per_s(cl, b, torch::kHalf, true, false);
    const double g = images_per_s(cl, b, torch::kHalf, true, true);
    if (b == 32) best32 = c;
    line(fmt("| %d | %.0f | %.0f | %.0f | %.0f |", b, a, h, c, g));
  }
  return best32;
}

void end_to_end(const std::string& weights, double forward_alone) {
  line("");
  line("## End to end, the core on 1080p NV12 frames, batch 32, fp16 channels-last");
  line("");
  ta::PreprocessConfig cfg;
  ta::ResNet net = cuda_resnet50(ta::load_state_dict(weights), torch::kHalf, true);
  const int batch = 32;
  std::vector<Frame> frames;
  for (int i = 0; i < batch; i++) frames.push_back(make_frame(ta::PixelFormat::NV12, 200 + i));
  std::vector<ta::cuda::FrameUploader> up(batch);
  auto stream = c10::cuda::getStreamFromPool();
  c10::cuda::CUDAStreamGuard guard(stream);
  c10::InferenceMode im;
  torch::Tensor in = torch::empty({batch, 3, 224, 224}, torch::dtype(torch::kHalf).device(torch::kCUDA));
  const size_t per = (size_t)3 * 224 * 224 * 2;
  auto run = [&] {
    for (int i = 0; i < batch; i++)
      up[i].preprocess(frames[i].view, cfg, static_cast<uint8_t*>(in.data_ptr()) + i * per, true, stream.stream());
    torch::Tensor s = torch::softmax(net->forward(in).to(torch::kFloat), 1);
    auto top = s.topk(5, 1);
    return std::get<1>(top).to(torch::kCPU);  // only the top-k come back
  };
  for (int i = 0; i < 3; i++) run();
  stream.synchronize();
  const int iters = 10;
  const double t0 = now_s();
  for (int i = 0; i < iters; i++) run();
  stream.synchronize();
  const double fps = batch * iters / (now_s() - t0);
  // The same through ta::Engine, as torchclassify runs it: each frame copied at submit into a
  // page-locked staging block (no hold), uploaded by the worker in one copy, preprocessed
  // into the batch, forward, top-5 found on the device. And with a hold on the caller's
  // planes (copied into the uploader's pinned buffer by the worker), as API callers may.
  ta::ModelConfig mc;
  mc.weights_location = weights;
  mc.device = "cuda";
  mc.precision = ta::Precision::FP16;
  ta::EngineOptions eo;
  eo.batch_size = batch;
  ta::LoadReport rep;
  auto engine = ta::Engine::acquire("", mc, eo, &rep);
  auto pass = [&](bool staged) {
    std::vector<std::shared_ptr<ta::Ticket>> tickets;
    for (int i = 0; i < batch; i++)
      tickets.push_back(staged ? engine->submit_frame(frames[i].view, cfg, 5)
                               : engine->submit_frame(frames[i].view, cfg, 5, std::make_shared<int>(0)));
    for (auto& t : tickets) t->wait(nullptr);
    for (auto& t : tickets)
      if (!t->error().empty()) return t->error();
    return std::string();
  };
  const std::string err = pass(true), err_held = pass(false);
  double engine_fps = 0, held_fps = 0;
  if (err.empty()) {
    const double t1 = now_s();
    for (int i = 0; i < iters; i++) pass(true);
    engine_fps = batch * iters / (now_s() - t1);
  }
  if (err_held.empty()) {
    const double t1 = now_s();
    for (int i = 0; i < iters; i++) pass(false);
    held_fps = batch * iters / (now_s() - t1);
  }
  line(fmt("| path | frames/s end to end | forward alone (same batch) | ratio (target >= 0.9) |"));
  line("|---|---|---|---|");
  line(fmt("| core: kernel into the batch, forward, top-5 | %.0f | %.0f | %.2f |", fps, forward_alone,
           fps / forward_alone));
  if (err.empty())
    line(fmt("| ta::Engine as torchclassify runs it (staged at submit into page-locked blocks, upload, kernel, forward, top-5) | %.0f | %.0f | %.2f |",
             engine_fps, forward_alone, engine_fps / forward_alone));
  else
    line("| ta::Engine as torchclassify runs it | failed: " + err + " | | |");
  if (err_held.empty())
    line(fmt("| ta::Engine, frames with a hold (the worker copies into pinned memory) | %.0f | %.0f | %.2f |",
             held_fps, forward_alone, held_fps / forward_alone));
  else
    line("| ta::Engine, frames with a hold | failed: " + err_held + " | | |");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s WEIGHTS.pth OUT.md\n", argv[0]);
    return 2;
  }
  std::string why = "LibTorch sees no CUDA device";
  if (!torch::cuda::is_available() || !ta::cuda::available(&why)) {
    std::printf("gpu-check: no usable CUDA device (%s): nothing to measure here.\n", why.c_str());
    return 3;
  }
  try {
    const auto prop = at::cuda::getCurrentDeviceProperties();
    line("# GPU check");
    line("");
    line(fmt("%s, compute capability %d.%d, %.0f GiB; LibTorch %s", prop->name, prop->major, prop->minor,
             prop->totalGlobalMem / 1073741824.0, TORCH_VERSION));
    check_preprocessing();
    // New in this form and never run: a failure here is reported and the rest still runs.
    try {
      check_batch_preprocessing();
    } catch (const std::exception& e) {
      line(fmt("| batch launch FAILED: %s | | | |", e.what()));
    }
    check_results(argv[1]);
    const double fwd = forward_table(argv[1]);
    end_to_end(argv[1], fwd);
  } catch (const ta::Error& e) {
    line(fmt("FAILED: %s (%s)", e.what(), e.detail().c_str()));
    std::ofstream(argv[2]) << report.str();
    return 1;
  } catch (const std::exception& e) {
    line(fmt("FAILED: %s", e.what()));
    std::ofstream(argv[2]) << report.str();
    return 1;
  }
  std::ofstream(argv[2]) << report.str();
  return 0;
}
