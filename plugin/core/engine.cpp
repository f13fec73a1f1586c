#include "engine.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "labels.h"

namespace ta {

bool Ticket::wait(const std::atomic<bool>* cancel) const {
  std::unique_lock<std::mutex> l(engine_->mu_);
  engine_->done_cv_.wait(l, [&] { return ready() || (cancel && *cancel); });
  return ready();
}

namespace {

// What must be equal for two elements to share one engine, as text for the error.
std::vector<std::pair<std::string, std::string>> sharing_key(const ModelConfig& m, const EngineOptions& e) {
  return {{"weights-location", m.weights_location},
          {"model-location", m.model_location},
          {"architecture", m.architecture},
          {"num-classes", std::to_string(m.num_classes)},
          {"strict", m.strict ? "true" : "false"},
          {"device", m.device},
          {"precision", precision_name(m.precision)},
          {"crop-size", std::to_string(m.input_size)},
          {"batch-size", std::to_string(e.batch_size)},
          {"batch-timeout", std::to_string(e.batch_timeout_ms)},
          {"batching", e.greedy ? "auto" : "fixed"}};
}

struct Registry {
  std::mutex mu;
  struct Entry {
    std::weak_ptr<Engine> engine;
    const Engine* raw = nullptr;
    std::vector<std::pair<std::string, std::string>> key;
  };
  std::map<std::string, Entry> engines;
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: elements may outlive static destructors
  return *r;
}

}  // namespace

std::shared_ptr<Engine> Engine::acquire(const std::string& id, const ModelConfig& mc, const EngineOptions& eo,
                                        LoadReport* report) {
  if (eo.batch_size < 1) throw Error(ErrorKind::Settings, "batch-size must be at least 1.");
  auto create = [&] {
    // Warmed up at the batch size it will run (on the CPU too: the first frames of a live
    // stream then do not leave without a result while the kernels are first chosen).
    ModelConfig warm = mc;
    warm.warmup_batch = eo.batch_size;
    const auto t0 = std::chrono::steady_clock::now();
    std::unique_ptr<Model> m = Model::load(warm, report);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    auto e = std::shared_ptr<Engine>(new Engine(std::move(m), mc.input_size, eo, ms));
    e->id_ = id;
    std::lock_guard<std::mutex> l(e->mu_);
    std::shared_ptr<ModelInfo> info = std::make_shared<ModelInfo>(*e->info_);
    info->source = report->source;
    e->info_ = info;
    return e;
  };
  if (id.empty()) return create();

  Registry& r = registry();
  // Held while loading, so that a second element with the same id waits for the first
  // model instead of loading its own copy.
  std::lock_guard<std::mutex> l(r.mu);
  const auto key = sharing_key(mc, eo);
  auto it = r.engines.find(id);
  if (it != r.engines.end()) {
    if (std::shared_ptr<Engine> e = it->second.engine.lock()) {
      std::string diff;
      for (size_t i = 0; i < key.size(); i++)
        if (key[i].second != it->second.key[i].second)
          diff += (diff.empty() ? "" : ", ") + key[i].first + " (\"" + key[i].second + "\" here, \"" +
                  it->second.key[i].second + "\" there)";
      if (!diff.empty())
        throw Error(ErrorKind::Settings, "model-instance-id=\"" + id + "\" is already used by an element with other "
                    "settings: " + diff + ". Elements sharing a model must use the same ones, or another id.");
      report->infos.push_back("sharing the model of model-instance-id=\"" + id + "\"");
      return e;
    }
  }
  std::shared_ptr<Engine> e = create();
  r.engines[id] = {e, e.get(), key};
  return e;
}

namespace {

std::shared_ptr<const ModelInfo> info_of(const Model& m, uint64_t generation, double load_ms) {
  auto i = std::make_shared<ModelInfo>();
  i->name = m.name();
  i->sha256 = m.sha256();
  i->device = m.device();
  i->precision = m.precision();
  i->num_classes = m.num_classes();
  i->generation = generation;
  i->load_ms = load_ms;
  return i;
}

}  // namespace

Engine::Engine(std::unique_ptr<Model> m, int size, const EngineOptions& eo, double load_ms)
    : model_(std::move(m)),
      size_(size),
      opts_(eo),
      gpu_pre_(model_->gpu_preprocessing()),
      staging_(model_->make_staging_pool()) {
  info_ = info_of(*model_, 0, load_ms);
  worker_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  loader_cv_.notify_all();
  // A load in progress runs to its end (LibTorch cannot be interrupted), then the loader stops.
  if (loader_.joinable()) loader_.join();
  worker_.join();
  ready_model_.reset();
  // Whatever was still queued is failed, so that no waiter hangs.
  std::deque<std::shared_ptr<Ticket>> left;
  {
    std::lock_guard<std::mutex> l(mu_);
    left.swap(queue_);
    for (auto& t : left) {
      t->error_ = "the engine stopped";
      t->done_.store(true, std::memory_order_release);
    }
    done_cv_.notify_all();
  }
  for (auto& t : left)
    if (t->notify_) t->notify_();
}

std::shared_ptr<Ticket> Engine::enqueue(std::shared_ptr<Ticket> t) {
  t->engine_ = this;
  t->queued_ = std::chrono::steady_clock::now();
  if (t->arrival_ == std::chrono::steady_clock::time_point{}) t->arrival_ = t->queued_;
  {
    std::lock_guard<std::mutex> l(mu_);
    queue_.push_back(t);
  }
  cv_.notify_all();
  return t;
}

std::shared_ptr<Ticket> Engine::submit(std::vector<float> input, int top_k, std::function<void()> notify,
                                       std::chrono::steady_clock::time_point arrival) {
  auto t = std::make_shared<Ticket>();
  t->arrival_ = arrival;
  t->notify_ = std::move(notify);
  t->input_ = std::move(input);
  t->top_k_ = std::max(1, top_k);
  return enqueue(std::move(t));
}

std::shared_ptr<Ticket> Engine::submit_frame(const FrameView& f, const PreprocessConfig& cfg, int top_k,
                                             std::shared_ptr<void> hold, std::function<void()> notify,
                                             std::chrono::steady_clock::time_point arrival) {
  auto t = std::make_shared<Ticket>();
  t->arrival_ = arrival;
  t->notify_ = std::move(notify);
  t->staged_ = true;
  t->pre_ = cfg;
  t->view_ = f;
  t->top_k_ = std::max(1, top_k);
  if (hold) {
    // Read in place (by the kernel, or by the upload into pinned memory): the owner's hold
    // keeps the planes valid until the batch has run.
    t->hold_ = std::move(hold);
    return enqueue(std::move(t));
  }
  if (f.on_device)
    throw Error(ErrorKind::Stream, "A frame in device memory was queued without a hold on its planes.");
  // Copied here, into a block of the staging pool (page-locked on the GPU path): the
  // caller's buffer may go at once, and the worker uploads the block as it is.
  StagedFrame staged = staging_->stage(f);
  t->view_ = staged.view;
  t->hold_ = std::move(staged.hold);
  return enqueue(std::move(t));
}

StagedFrame Engine::stage(const FrameView& frame) { return staging_->stage(frame); }

void Engine::flush() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (queue_.empty()) return;
    flush_ = true;
  }
  cv_.notify_all();
}

void Engine::wake_all() {
  std::lock_guard<std::mutex> l(mu_);
  done_cv_.notify_all();
}

void Engine::loop() {
  const size_t per_frame = (size_t)3 * size_ * size_;
  std::vector<float> batch;
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    cv_.wait(l, [&] { return stop_ || !queue_.empty() || ready_model_; });
    if (stop_) return;
    if (ready_model_) {
      // Between two batches: the next one runs on the new model. The old one goes (and the
      // listeners hear of it) without the lock held.
      std::unique_ptr<Model> old = std::move(model_);
      SwapEvent ev;
      ev.ok = true;
      ev.old_model = info_;
      model_ = std::move(ready_model_);
      info_ = std::move(ready_info_);
      ev.new_model = info_;
      ev.file = std::move(ready_file_);
      ev.requester = ready_requester_;
      swaps_++;
      l.unlock();
      old.reset();
      notify_listeners(ev);
      l.lock();
      continue;
    }
    if (queue_.empty()) continue;
    // A partial batch waits for more frames, a flush, or its timeout.
    if (!opts_.greedy && (int)queue_.size() < opts_.batch_size && !flush_) {
      if (opts_.batch_timeout_ms > 0) {
        const auto deadline = queue_.front()->queued_ + std::chrono::milliseconds(opts_.batch_timeout_ms);
        cv_.wait_until(l, deadline, [&] { return stop_ || flush_ || (int)queue_.size() >= opts_.batch_size; });
      } else {
        cv_.wait(l, [&] { return stop_ || flush_ || (int)queue_.size() >= opts_.batch_size; });
      }
      if (stop_) return;
      if (queue_.empty()) continue;
    }
    // One batch takes frames of one kind: preprocessed host inputs, or frames the GPU
    // preprocesses (elements sharing an engine may send either). The rest waits for the
    // next batch, which runs at once if it is full or flushed.
    const bool staged = queue_.front()->staged_;
    size_t n = 0;
    while (n < queue_.size() && n < (size_t)opts_.batch_size && queue_[n]->staged_ == staged) n++;
    std::vector<std::shared_ptr<Ticket>> jobs(queue_.begin(), queue_.begin() + n);
    queue_.erase(queue_.begin(), queue_.begin() + n);
    // A flush covers what was queued when it was asked for: the other kind's frames too.
    if (queue_.empty()) flush_ = false;
    // The whole batch runs on this model: a swap waits until it is done.
    const std::shared_ptr<const ModelInfo> info = info_;
    Model* model = model_.get();
    l.unlock();
    const auto t_run = std::chrono::steady_clock::now();

    std::vector<TopLogits> tops;
    std::string error;
    try {
      int k = 1;
      for (auto& j : jobs) k = std::max(k, j->top_k_);
      if (staged) {
        std::vector<const FrameView*> views;
        std::vector<const PreprocessConfig*> cfgs;
        for (auto& j : jobs) {
          views.push_back(&j->view_);
          cfgs.push_back(&j->pre_);
        }
        tops = model->top_logits_of_frames(views, cfgs, k);
      } else {
        batch.resize(n * per_frame);
        for (size_t i = 0; i < n; i++)
          std::copy(jobs[i]->input_.begin(), jobs[i]->input_.end(), batch.begin() + i * per_frame);
        tops = model->top_logits(batch.data(), (int)n, size_, size_, k);
      }
      if (tops.size() != n) throw Error(ErrorKind::Stream, "The model returned results for another number of frames.");
    } catch (const Error& e) {
      error = std::string(e.what()) + (e.detail().empty() ? "" : " (" + e.detail() + ")");
    } catch (const std::exception& e) {
      error = e.what();
    }

    // The batch has run (its results are on the host): the frames' planes may go.
    const auto t_done = std::chrono::steady_clock::now();
    model_ns_.add(std::chrono::duration_cast<std::chrono::nanoseconds>(t_done - t_run).count());
    for (auto& j : jobs) j->hold_.reset();
    l.lock();
    batches_++;
    frames_run_ += n;
    for (size_t i = 0; i < n; i++) {
      Ticket& t = *jobs[i];
      if (error.empty()) {
        t.top_ = std::move(tops[i]);
        if ((int)t.top_.ids.size() > t.top_k_) {
          t.top_.ids.resize(t.top_k_);
          t.top_.logits.resize(t.top_k_);
        }
        t.top_.model = info;
        t.top_.latency_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t_done - t.arrival_).count();
      }
      t.error_ = error;
      std::vector<float>().swap(t.input_);
      t.done_.store(true, std::memory_order_release);
    }
    done_cv_.notify_all();
    // The submitters' wake-ups take their own locks: called with ours released.
    l.unlock();
    for (auto& j : jobs)
      if (j->notify_) j->notify_();
    l.lock();
  }
}

std::shared_ptr<const ModelInfo> Engine::model_info() const {
  std::lock_guard<std::mutex> l(mu_);
  return info_;
}

EngineStats Engine::stats() const {
  EngineStats s;
  {
    std::lock_guard<std::mutex> l(mu_);
    s.batches = batches_;
    s.frames = frames_run_;
    s.queued = queue_.size();
    s.swaps = swaps_;
  }
  s.batch_size = opts_.batch_size;
  s.model_p50_ns = model_ns_.quantile(0.5);
  s.model_p99_ns = model_ns_.quantile(0.99);
  return s;
}

bool Engine::swap_pending() const {
  std::lock_guard<std::mutex> l(mu_);
  return request_ || loading_ || ready_model_;
}

int Engine::add_listener(std::function<void(const SwapEvent&)> fn) {
  std::lock_guard<std::mutex> l(listeners_mu_);
  listeners_.emplace_back(next_listener_, std::move(fn));
  return next_listener_++;
}

void Engine::remove_listener(int id) {
  std::lock_guard<std::mutex> l(listeners_mu_);
  listeners_.erase(std::remove_if(listeners_.begin(), listeners_.end(), [&](const auto& p) { return p.first == id; }),
                   listeners_.end());
}

void Engine::notify_listeners(const SwapEvent& ev) {
  std::lock_guard<std::mutex> l(listeners_mu_);
  for (auto& p : listeners_) p.second(ev);
}

void Engine::request_swap(const ModelConfig& mc, const std::string& labels_location, const void* requester) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_) return;
    // The newest request replaces one not yet taken: no pile-up of loads.
    request_ = std::make_unique<Request>(Request{mc, labels_location, requester});
    request_seq_++;
    if (!loader_.joinable()) loader_ = std::thread([this] { loader_loop(); });
  }
  loader_cv_.notify_all();
}

void Engine::loader_loop() {
  // Properties set one after the other (architecture, then weights-location) arrive as
  // separate requests: a short quiet time lets them settle into one load.
  const auto settle = std::chrono::milliseconds(30);
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    loader_cv_.wait(l, [&] { return stop_ || request_; });
    if (stop_) return;
    uint64_t seen;
    do {  // until no newer request came for `settle`
      seen = request_seq_;
      loader_cv_.wait_for(l, settle, [&] { return stop_; });
    } while (!stop_ && request_seq_ != seen);
    if (stop_) return;
    std::unique_ptr<Request> req = std::move(request_);
    loading_ = true;
    const uint64_t generation = ++generations_;
    l.unlock();

    ModelConfig mc = req->mc;
    mc.input_size = size_;
    mc.warmup_batch = opts_.batch_size;
    SwapEvent failed;
    failed.requester = req->requester;
    failed.file = !mc.model_location.empty() ? mc.model_location
                  : !mc.weights_location.empty() ? mc.weights_location
                                                 : "the torch hub cache file of " + mc.architecture;
    std::unique_ptr<Model> m;
    std::shared_ptr<ModelInfo> info;
    try {
      LoadReport report;
      const auto t0 = std::chrono::steady_clock::now();
      m = Model::load(mc, &report);
      if (m->gpu_preprocessing() != gpu_pre_)
        throw Error(ErrorKind::Settings, "The new model preprocesses on another device than the running one; "
                    "a swap keeps the device.");
      std::vector<std::string> labels = default_or_file_labels(req->labels_location, m->num_classes());
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      auto i = std::make_shared<ModelInfo>(*info_of(*m, generation, ms));
      i->source = report.source;
      i->has_labels = true;
      i->labels = std::move(labels);
      info = std::move(i);
      failed.file = report.source;
    } catch (const Error& e) {
      failed.error = std::string(e.what()) + (e.detail().empty() ? "" : " (" + e.detail() + ")");
    } catch (const std::exception& e) {
      failed.error = e.what();
    }
    if (!info) m.reset();  // loaded, but its labels (or device) do not fit: not swapped in

    l.lock();
    loading_ = false;
    if (stop_) return;  // m goes with this scope
    if (request_) {
      // Superseded while loading: the newer request wins, this result is dropped unseen.
      l.unlock();
      m.reset();
      l.lock();
      continue;
    }
    if (!m) {
      l.unlock();
      failed.old_model = model_info();
      notify_listeners(failed);
      l.lock();
      continue;
    }
    // Handed to the worker; a loaded model it has not taken yet is replaced.
    std::unique_ptr<Model> replaced = std::move(ready_model_);
    ready_model_ = std::move(m);
    ready_info_ = info;
    ready_requester_ = req->requester;
    ready_file_ = failed.file;
    l.unlock();
    cv_.notify_all();
    replaced.reset();
    if (!id_.empty()) {
      // Elements that join the model-instance-id from now on must ask for the new model.
      Registry& r = registry();
      std::lock_guard<std::mutex> rl(r.mu);
      auto it = r.engines.find(id_);
      // (Compared by address: locking the weak_ptr here could make this thread the engine's
      // last owner, and it cannot join itself.)
      if (it != r.engines.end() && it->second.raw == this) it->second.key = sharing_key(req->mc, opts_);
    }
    l.lock();
  }
}

TopLogits top_logits(const float* logits, int c, int k) {
  TopLogits t;
  if (c <= 0) return t;
  std::vector<int> idx(c);
  std::iota(idx.begin(), idx.end(), 0);
  const int kk = std::max(1, std::min(k, c));
  // Ties keep the lower class id first, as torch.topk does in practice.
  std::partial_sort(idx.begin(), idx.begin() + kk, idx.end(), [&](int a, int b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  const float mx = logits[idx[0]];
  double sum = 0;
  for (int i = 0; i < c; i++) sum += std::exp((double)logits[i] - mx);
  t.lse = (float)(mx + std::log(sum));
  for (int i = 0; i < kk; i++) {
    t.ids.push_back(idx[i]);
    t.logits.push_back(logits[idx[i]]);
  }
  return t;
}

std::vector<Prediction> postprocess(const TopLogits& top, Activation act, int top_k, float threshold) {
  const int k = std::min<int>(std::max(1, top_k), (int)top.ids.size());
  std::vector<Prediction> out;
  for (int i = 0; i < k; i++) {
    const float v = top.logits[i];
    float s = v;
    if (act == Activation::Softmax)
      s = (float)std::exp((double)v - top.lse);
    else if (act == Activation::Sigmoid)
      s = 1.f / (1.f + std::exp(-v));
    if (s >= threshold) out.push_back({top.ids[i], s});
  }
  return out;
}

std::vector<Prediction> postprocess(const std::vector<float>& logits, Activation act, int top_k, float threshold) {
  return postprocess(top_logits(logits.data(), (int)logits.size(), top_k), act, top_k, threshold);
}

}  // namespace ta
