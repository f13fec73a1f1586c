#include "engine.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

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
    std::unique_ptr<Model> m = Model::load(warm, report);
    return std::shared_ptr<Engine>(new Engine(std::move(m), mc.input_size, eo));
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
  r.engines[id] = {e, key};
  return e;
}

Engine::Engine(std::unique_ptr<Model> m, int size, const EngineOptions& eo)
    : model_(std::move(m)), size_(size), opts_(eo) {
  worker_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
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
  {
    std::lock_guard<std::mutex> l(mu_);
    queue_.push_back(t);
  }
  cv_.notify_all();
  return t;
}

std::shared_ptr<Ticket> Engine::submit(std::vector<float> input, int top_k, std::function<void()> notify) {
  auto t = std::make_shared<Ticket>();
  t->notify_ = std::move(notify);
  t->input_ = std::move(input);
  t->top_k_ = std::max(1, top_k);
  return enqueue(std::move(t));
}

std::shared_ptr<Ticket> Engine::submit_frame(const FrameView& f, const PreprocessConfig& cfg, int top_k,
                                             std::shared_ptr<void> hold, std::function<void()> notify) {
  auto t = std::make_shared<Ticket>();
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
  // One contiguous copy of the planes: the buffer may be gone before the worker runs.
  size_t sizes[3] = {0, 0, 0}, total = 0;
  for (int i = 0; i < 3; i++) {
    if (!f.planes[i]) continue;
    const int rows = i == 0 ? f.height : (f.height + 1) / 2;
    sizes[i] = (size_t)f.strides[i] * rows;
    total += sizes[i];
  }
  t->frame_.resize(total);
  size_t off = 0;
  for (int i = 0; i < 3; i++) {
    if (!sizes[i]) continue;
    std::copy(f.planes[i], f.planes[i] + sizes[i], t->frame_.begin() + off);
    t->view_.planes[i] = t->frame_.data() + off;
    off += sizes[i];
  }
  return enqueue(std::move(t));
}

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
    cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
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
    l.unlock();

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
        tops = model_->top_logits_of_frames(views, cfgs, k);
      } else {
        batch.resize(n * per_frame);
        for (size_t i = 0; i < n; i++)
          std::copy(jobs[i]->input_.begin(), jobs[i]->input_.end(), batch.begin() + i * per_frame);
        tops = model_->top_logits(batch.data(), (int)n, size_, size_, k);
      }
      if (tops.size() != n) throw Error(ErrorKind::Stream, "The model returned results for another number of frames.");
    } catch (const Error& e) {
      error = std::string(e.what()) + (e.detail().empty() ? "" : " (" + e.detail() + ")");
    } catch (const std::exception& e) {
      error = e.what();
    }

    // The batch has run (its results are on the host): the frames' planes may go.
    for (auto& j : jobs) j->hold_.reset();
    l.lock();
    for (size_t i = 0; i < n; i++) {
      Ticket& t = *jobs[i];
      if (error.empty()) {
        t.top_ = std::move(tops[i]);
        if ((int)t.top_.ids.size() > t.top_k_) {
          t.top_.ids.resize(t.top_k_);
          t.top_.logits.resize(t.top_k_);
        }
      }
      t.error_ = error;
      std::vector<float>().swap(t.input_);
      std::vector<uint8_t>().swap(t.frame_);
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
