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
#include "staging.h"
#include "stats.h"

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
  FrameView view_;                // frames to the model: its planes (staged, held, or on the device) ...
  PreprocessConfig pre_;          // ... and how to preprocess it
  std::shared_ptr<void> hold_;    // keeps the planes valid until the batch ran
  bool staged_ = false;
  int top_k_ = 1;
  TopLogits top_;
  std::string error_;
  std::atomic<bool> done_{false};  // set (release) after top_ and error_ are written
  std::function<void()> notify_;
  std::chrono::steady_clock::time_point queued_;
  std::chrono::steady_clock::time_point arrival_;  // the latency's start (default: queued_)
  class Engine* engine_ = nullptr;
};

// What a model swap did, for the listeners (Engine::add_listener): called on the engine's
// threads, no engine lock held.
struct SwapEvent {
  bool ok = false;
  std::shared_ptr<const ModelInfo> old_model, new_model;  // new_model: set when ok
  std::string file;        // the file asked for (ok or not)
  std::string error;       // !ok: why it did not load (the old model goes on)
  const void* requester = nullptr;  // the request_swap caller's token
};

// Counters of the engine (shared by the elements of a model-instance-id).
struct EngineStats {
  uint64_t batches = 0;
  uint64_t frames = 0;        // frames run, over all batches
  size_t queued = 0;          // frames waiting for a batch now
  int batch_size = 1;
  uint64_t swaps = 0;         // models swapped in
  int64_t model_p50_ns = 0;   // one forward (a batch), over the last 1024 batches
  int64_t model_p99_ns = 0;
  double mean_fill() const { return batches ? (double)frames / ((double)batches * batch_size) : 0.0; }
  double mean_batch() const { return batches ? (double)frames / (double)batches : 0.0; }
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
  // `arrival` (default: now) is where the result's latency_ns starts.
  std::shared_ptr<Ticket> submit(std::vector<float> input, int top_k, std::function<void()> notify = nullptr,
                                 std::chrono::steady_clock::time_point arrival = {});
  // Queues the frame itself (the GPU path, model().gpu_preprocessing(): the worker uploads
  // it and preprocesses it on the GPU into the batch; otherwise the worker preprocesses it
  // on the CPU). With a `hold` (whatever keeps the planes valid) the planes are read in
  // place and the hold is let go once the batch has run; without one they are copied here
  // (stage(): the caller's buffer may go at once). A frame already on the device
  // (frame.on_device, e.g. from nvh264dec) needs a hold and is read by the kernel where it
  // is: no copy at all. Throws ta::Error.
  std::shared_ptr<Ticket> submit_frame(const FrameView& frame, const PreprocessConfig& cfg, int top_k,
                                       std::shared_ptr<void> hold = nullptr,
                                       std::function<void()> notify = nullptr,
                                       std::chrono::steady_clock::time_point arrival = {});
  // Copies a host frame's planes into a block of this engine's staging pool (page-locked
  // on the GPU path); the returned view and hold go to submit_frame, e.g. once for each
  // region of the frame. Throws ta::Error.
  StagedFrame stage(const FrameView& frame);
  // Frames staged and blocks allocated so far (what the pool saves: tests, stats).
  const StagingPool& staging() const { return *staging_; }
  // Runs what is queued now without waiting for a full batch (EOS, drain).
  void flush();
  // Wakes every Ticket::wait (after a caller set its cancel flag).
  void wake_all();

  // The model running now. Only for the time before any swap can happen (an element's
  // start): a swap destroys it; afterwards ask model_info() and gpu_preprocessing().
  Model& model() { return *model_; }
  // The model that runs the next batch.
  std::shared_ptr<const ModelInfo> model_info() const;
  // Fixed for the engine's life (a swap keeps the device): frames go in preprocessed on
  // the GPU (submit_frame) or on the host (submit).
  bool gpu_preprocessing() const { return gpu_pre_; }

  // Model update while running. Loads `mc` (and the labels at `labels_location`, or the
  // defaults for its class count) on a background thread, warmed up at this engine's
  // batch size, while the current model goes on; the worker swaps it in between two
  // batches, so every frame is run by exactly one model. The input size, device and
  // batching stay the engine's. The last request wins: one still waiting is replaced, and
  // a load finished after a newer request came in is dropped unseen. A load that fails
  // leaves the current model in place. Every listener hears of each outcome (SwapEvent).
  void request_swap(const ModelConfig& mc, const std::string& labels_location, const void* requester);
  // Listeners are called on the engine's threads; remove_listener waits for a call in
  // progress. Returns the id to remove it with.
  int add_listener(std::function<void(const SwapEvent&)> fn);
  void remove_listener(int id);
  // True while a requested swap is loading or waiting to be swapped in.
  bool swap_pending() const;

  EngineStats stats() const;

 private:
  Engine(std::unique_ptr<Model> m, int size, const EngineOptions& eo, double load_ms);
  std::shared_ptr<Ticket> enqueue(std::shared_ptr<Ticket> t);
  void loop();
  void loader_loop();
  void notify_listeners(const SwapEvent& ev);

  std::unique_ptr<Model> model_;
  std::shared_ptr<const ModelInfo> info_;    // model_'s, under mu_
  const int size_;
  const EngineOptions opts_;
  const bool gpu_pre_;
  const std::shared_ptr<StagingPool> staging_;
  std::string id_;                           // the model-instance-id ("" private)

  // swaps: the newest request (loader_ takes it), the loaded model waiting for the worker
  struct Request {
    ModelConfig mc;
    std::string labels_location;
    const void* requester = nullptr;
  };
  std::unique_ptr<Request> request_;         // under mu_
  bool loading_ = false;                     // under mu_
  uint64_t request_seq_ = 0, generations_ = 0;  // under mu_
  std::unique_ptr<Model> ready_model_;       // under mu_
  std::shared_ptr<const ModelInfo> ready_info_;
  const void* ready_requester_ = nullptr;
  std::string ready_file_;
  mutable std::condition_variable loader_cv_;
  std::thread loader_;
  std::mutex listeners_mu_;
  std::vector<std::pair<int, std::function<void(const SwapEvent&)>>> listeners_;
  int next_listener_ = 1;

  // stats, under mu_ (the window has its own lock)
  uint64_t batches_ = 0, frames_run_ = 0, swaps_ = 0;
  SlidingWindow model_ns_{1024};
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
