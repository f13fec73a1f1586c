// The inference engine behind torchclassify: one model, one worker thread, one batching
// queue, shared by every element that names the same model-instance-id.
//
// Elements submit preprocessed frames and get a Ticket each; the worker takes up to
// batch_size queued frames (waiting at most batch_timeout_ms for a partial batch, or
// until flush()), runs one forward, and fills each ticket with the best logits of its
// frame (as many as it asked for; on the GPU they are picked on the device and only they
// come back). The activation, threshold and top-k are applied per element (postprocess),
// so elements sharing a model may differ there. LibTorch-free header.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "model.h"
#include "preprocess.h"
#include "scheduler.h"

namespace ta {

struct EngineOptions {
  int batch_size = 1;
  int batch_timeout_ms = 0;  // 0: a partial batch waits until it is full or flushed
  // Runs what is queued as soon as the worker is free (up to batch_size) instead of waiting
  // for a full batch: frames that arrive during a forward form the next batch, so a fast
  // source gets full batches and a slow or live one gets no added wait.
  bool greedy = false;
};

// One frame's place in the queue; its result arrives from the worker thread, which then
// calls the submitter's `notify` (no lock held).
class Ticket : public Job {
 public:
  bool ready() const override { return done_.load(std::memory_order_acquire); }
  // Waits until the result is there or `cancel` becomes true (checked on every wake-up;
  // call Engine::wake_all() after setting it). Returns ready().
  bool wait(const std::atomic<bool>* cancel) const;
  const TopLogits& result() const override { return top_; }     // valid once ready
  const std::string& error() const override { return error_; }  // non-empty: the forward failed

 private:
  friend class Engine;
  std::vector<float> input_;      // host path: the preprocessed input
  std::vector<uint8_t> frame_;    // GPU path: a copy of the frame's planes ...
  FrameView view_;                // ... described here (or the planes on the device) ...
  PreprocessConfig pre_;          // ... and how to preprocess it
  std::shared_ptr<void> hold_;    // keeps device planes alive until the batch ran
  bool staged_ = false;
  int top_k_ = 1;
  TopLogits top_;
  std::string error_;
  std::atomic<bool> done_{false};  // set (release) after top_ and error_ are written
  std::function<void()> notify_;
  std::chrono::steady_clock::time_point queued_;
  class Engine* engine_ = nullptr;
};

class Engine {
 public:
  // The engine of `instance_id`, created (and its model loaded) by the first caller; ""
  // gives a private engine. Later callers must ask for the same model and input size and
  // the same batching, else ta::Error(Settings) names what differs. Throws ta::Error.
  static std::shared_ptr<Engine> acquire(const std::string& instance_id, const ModelConfig& mc,
                                         const EngineOptions& eo, LoadReport* report);
  ~Engine();

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues one frame of 3 x size x size floats (size = ModelConfig::input_size); its
  // ticket gets the best `top_k` logits, and `notify` (if any) is called once it is ready.
  std::shared_ptr<Ticket> submit(std::vector<float> input, int top_k, std::function<void()> notify = nullptr);
  // The GPU path (model().gpu_preprocessing()): queues the frame itself; the worker
  // uploads it and preprocesses it on the GPU into the batch. With a `hold` (whatever
  // keeps the planes valid: the element's mapped buffer) the planes are read in place and
  // the hold is let go once the batch has run; without one they are copied here. A frame
  // already on the device (frame.on_device, e.g. from nvh264dec) needs a hold and is read
  // by the kernel where it is: no copy at all. Throws ta::Error.
  std::shared_ptr<Ticket> submit_frame(const FrameView& frame, const PreprocessConfig& cfg, int top_k,
                                       std::shared_ptr<void> hold = nullptr,
                                       std::function<void()> notify = nullptr);
  // Runs what is queued now without waiting for a full batch (EOS, drain).
  void flush();
  // Wakes every Ticket::wait (after a caller set its cancel flag).
  void wake_all();

  Model& model() { return *model_; }

 private:
  Engine(std::unique_ptr<Model> m, int size, const EngineOptions& eo);
  std::shared_ptr<Ticket> enqueue(std::shared_ptr<Ticket> t);
  void loop();

  std::unique_ptr<Model> model_;
  const int size_;
  const EngineOptions opts_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;       // worker: queue changed
  mutable std::condition_variable done_cv_;  // tickets: a batch finished
  std::deque<std::shared_ptr<Ticket>> queue_;
  bool flush_ = false;
  bool stop_ = false;
  std::thread worker_;

  friend class Ticket;
};

// Activation, threshold and top-k of one frame's best logits, best first (the
// activations keep the order).
std::vector<Prediction> postprocess(const TopLogits& top, Activation act, int top_k, float threshold);
// The same from all C logits of a frame.
std::vector<Prediction> postprocess(const std::vector<float>& logits, Activation act, int top_k, float threshold);

}  // namespace ta
