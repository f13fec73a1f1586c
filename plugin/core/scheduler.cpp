#include "scheduler.h"

#include <algorithm>
#include <stdexcept>

namespace ta {

bool JobGroup::ready() const {
  for (const auto& j : parts_)
    if (!j->ready()) return false;
  return true;
}

const std::string& JobGroup::error() const {
  for (const auto& j : parts_)
    if (!j->error().empty()) return j->error();
  return no_error_;
}

Scheduler::Scheduler(SubmitFn submit, ReleaseFn release)
    : submit_(std::move(submit)), release_(std::move(release)), sync_(std::make_shared<Sync>()) {}

Scheduler::~Scheduler() { clear(); }

void Scheduler::configure(const SchedulerConfig& c) {
  std::lock_guard<std::mutex> l(sync_->mu);
  cfg_ = c;
  if (cfg_.interval < 1) cfg_.interval = 1;
  if (cfg_.max_own < 1) cfg_.max_own = 1;
  index_ = 0;
}

int Scheduler::max_held(const SchedulerConfig& c) {
  // sync: max_own submitted frames, each followed by up to interval - 1 borrowers; live:
  // one frame waiting for the output side, one in the model (its planes may be held).
  const int queued = c.live ? 2 : std::max(1, c.max_own) * std::max(1, c.interval);
  return queued + 2;
}

void Scheduler::take_live_result() {
  if (!live_job_ || !live_job_->ready()) return;
  if (!live_job_->error().empty()) {
    live_error_ = live_job_->error();
  } else {
    latest_ = live_job_->result();
    latest_job_ = live_job_;
    latest_pts_ = live_job_pts_;
    have_latest_ = true;
  }
  live_job_.reset();
}

bool Scheduler::push(void* frame, uint64_t pts) {
  std::shared_ptr<Sync> s = sync_;
  // What a job calls once ready: it keeps the lock and the wake-up alive on its own.
  auto notify = [s] {
    std::lock_guard<std::mutex> g(s->mu);
    s->cv.notify_all();
  };
  std::unique_lock<std::mutex> l(s->mu);
  const bool due = index_ % (uint64_t)cfg_.interval == 0;
  if (cfg_.live) {
    // The output side takes frames at once; waiting for it is upstream's back-pressure.
    s->cv.wait(l, [&] { return flushing_ || queue_.empty(); });
    if (flushing_) return false;
    take_live_result();
    const bool submit = due && !live_job_;
    std::shared_ptr<Job> job;
    if (submit) {
      l.unlock();
      job = submit_(frame, notify);
      l.lock();
      live_job_ = job;
      live_job_pts_ = pts;
      counts_.submitted++;
    }
    index_++;
    queue_.push_back({frame, pts, false, kNoPts, nullptr});
    counts_.in++;
    s->cv.notify_all();
    return true;
  }

  const bool own = due || !last_job_;
  if (own && !flushing_ && own_in_queue_ >= cfg_.max_own && stall_) {
    l.unlock();
    stall_();
    l.lock();
  }
  if (own) s->cv.wait(l, [&] { return flushing_ || own_in_queue_ < cfg_.max_own; });
  if (flushing_) return false;
  std::shared_ptr<Job> job = last_job_;
  const uint64_t source_pts = own ? kNoPts : last_pts_;
  if (own) {
    // Preprocessing happens in submit: the output side goes on meanwhile.
    l.unlock();
    job = submit_(frame, notify);
    l.lock();
    if (!job) throw std::logic_error("the scheduler's submit returned no job");
    last_job_ = job;
    last_pts_ = pts;
    own_in_queue_++;
    counts_.submitted++;
  }
  index_++;
  queue_.push_back({frame, pts, own, source_pts, job});
  counts_.in++;
  s->cv.notify_all();
  return true;
}

bool Scheduler::head_can_leave() const {
  if (queue_.empty()) return false;
  if (cfg_.live) return true;
  return queue_.front().job->ready();
}

bool Scheduler::pop(Output* out, bool wait) {
  std::unique_lock<std::mutex> l(sync_->mu);
  if (wait) sync_->cv.wait(l, [&] { return flushing_ || head_can_leave(); });
  if (flushing_ || !head_can_leave()) return false;
  Entry e = queue_.front();
  queue_.pop_front();
  *out = Output();
  out->frame = e.frame;
  out->pts = e.pts;
  if (cfg_.live) {
    take_live_result();
    if (!live_error_.empty()) {
      out->error = live_error_;
      live_error_.clear();
    } else if (have_latest_) {
      out->has_result = true;
      out->result = latest_;
      out->job = latest_job_;
      out->source_pts = latest_pts_;
      counts_.borrowed++;
    } else {
      counts_.without++;
    }
  } else {
    if (e.owns) own_in_queue_--;
    out->owns = e.owns;
    if (!e.job->error().empty()) {
      out->error = e.job->error();
    } else {
      out->has_result = true;
      out->result = e.job->result();
      out->job = e.job;
      if (!e.owns) {
        out->source_pts = e.source_pts;
        counts_.borrowed++;
      }
    }
  }
  counts_.out++;
  outputting_ = true;
  sync_->cv.notify_all();
  return true;
}

void Scheduler::done_output() {
  std::lock_guard<std::mutex> l(sync_->mu);
  outputting_ = false;
  sync_->cv.notify_all();
}

bool Scheduler::drain() {
  std::unique_lock<std::mutex> l(sync_->mu);
  sync_->cv.wait(l, [&] { return flushing_ || (queue_.empty() && !outputting_); });
  return !flushing_;
}

void Scheduler::set_flushing(bool f) {
  std::lock_guard<std::mutex> l(sync_->mu);
  flushing_ = f;
  sync_->cv.notify_all();
}

bool Scheduler::flushing() const {
  std::lock_guard<std::mutex> l(sync_->mu);
  return flushing_;
}

void Scheduler::clear() {
  std::deque<Entry> gone;
  {
    std::lock_guard<std::mutex> l(sync_->mu);
    gone.swap(queue_);
    own_in_queue_ = 0;
    index_ = 0;
    last_job_.reset();
    last_pts_ = kNoPts;
    live_job_.reset();
    live_job_pts_ = kNoPts;
    have_latest_ = false;
    latest_ = TopLogits();
    latest_job_.reset();
    latest_pts_ = kNoPts;
    live_error_.clear();
    sync_->cv.notify_all();
  }
  for (auto& e : gone)
    if (release_) release_(e.frame);
}

SchedulerCounts Scheduler::counts() const {
  std::lock_guard<std::mutex> l(sync_->mu);
  SchedulerCounts c = counts_;
  c.queued = queue_.size();
  return c;
}

}  // namespace ta
