// The order in which frames leave torchclassify, and which result each one carries.
//
// Frames arrive on one thread (the element's streaming thread: push()) and leave, in the
// same order, on another (the element's source-pad task: pop()). In between the scheduler
// decides, per frame:
//   sync mode   every `interval`-th frame is submitted to the model and waits for its own
//               result; the frames between borrow the result of the last submitted one
//               (marked with its source pts). push() waits while `max_own` submitted frames
//               are still in flight (back-pressure to upstream).
//   live mode   frames never wait for a result: each leaves at once with the newest finished
//               one. A frame is submitted only when the previous submission is done (and it is
//               an `interval`-th frame), so the model always works on a recent frame.
// drain() waits until everything queued has left (serialized events: EOS, caps, segments);
// set_flushing() wakes every waiter; clear() forgets the queue and the borrowed results
// (flushes, a new stream).
//
// GStreamer-free: a frame is an opaque pointer owned by the caller, a result comes from a
// Job (the engine's Ticket, or a test's synthetic job).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "model.h"

namespace ta {

// What a submitted frame waits on. ready() may be asked from any thread; result() and
// error() are read only once ready() returned true.
class Job {
 public:
  virtual ~Job() = default;
  virtual bool ready() const = 0;
  virtual const TopLogits& result() const = 0;
  virtual const std::string& error() const = 0;  // non-empty: the model failed on the frame
};

// A frame's N jobs as one (inference-region=roi-list: one job per region of the frame, all
// queued in the engine, which batches them with any other frame's). Ready when every part
// is (at once when there are none: a frame without regions waits for nothing); its error
// is the first failed part's. result() is empty: the parts are read one by one.
class JobGroup : public Job {
 public:
  explicit JobGroup(std::vector<std::shared_ptr<Job>> parts) : parts_(std::move(parts)) {}
  bool ready() const override;
  const TopLogits& result() const override { return empty_; }
  const std::string& error() const override;
  size_t size() const { return parts_.size(); }
  const Job& part(size_t i) const { return *parts_[i]; }

 private:
  std::vector<std::shared_ptr<Job>> parts_;
  TopLogits empty_;
  std::string no_error_;
};

constexpr uint64_t kNoPts = UINT64_MAX;  // GST_CLOCK_TIME_NONE

struct SchedulerConfig {
  bool live = false;
  int interval = 1;  // submit one frame in `interval`
  int max_own = 1;   // sync: submitted frames in flight before push() waits (the batch size)
};

// One frame leaving, in order.
struct Output {
  void* frame = nullptr;
  uint64_t pts = kNoPts;
  bool has_result = false;  // false: live mode before the first result
  bool owns = false;        // the result was computed on this very frame
  uint64_t source_pts = kNoPts;  // the frame the result was computed on (borrowed results)
  TopLogits result;
  std::string error;        // non-empty: the model failed; the frame carries no result
  // The job the result came from (own, borrowed, or live mode's newest finished one), e.g.
  // a JobGroup whose parts the caller reads; null without a result.
  std::shared_ptr<Job> job;
};

struct SchedulerCounts {
  uint64_t in = 0, out = 0;   // frames pushed, frames popped
  uint64_t submitted = 0;     // frames given to the model
  uint64_t borrowed = 0;      // frames that left with another frame's result
  uint64_t without = 0;       // frames that left with no result (live, before the first)
  size_t queued = 0;          // frames waiting now
};

class Scheduler {
 public:
  // Hands a frame to the model and returns its job; the job's owner calls `notify` (from
  // any thread, no lock held) once the job is ready. May throw: the frame is then not queued.
  using SubmitFn = std::function<std::shared_ptr<Job>(void* frame, std::function<void()> notify)>;
  // Lets go of a frame that will not leave (clear()).
  using ReleaseFn = std::function<void(void* frame)>;

  Scheduler(SubmitFn submit, ReleaseFn release);
  ~Scheduler();  // releases what is still queued
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Before the first push(), and again only when the queue is empty (after drain/clear).
  void configure(const SchedulerConfig& c);
  // Called (no lock held) when push() is about to wait for room in sync mode: when frames
  // carry a varying number of jobs (regions), the jobs in flight may not fill the engine's
  // batch, which then must run partial (Engine::flush) or the wait would never end.
  void set_stall_handler(std::function<void()> h) { stall_ = std::move(h); }
  const SchedulerConfig& config() const { return cfg_; }

  // Queues a frame (the scheduler then owns it until pop() hands it out or clear() releases
  // it). Waits while the queue is full. Returns false, the frame still the caller's, when
  // flushing; rethrows what submit threw.
  bool push(void* frame, uint64_t pts);

  // Takes the head once it can leave. With `wait`, waits for that (or for flushing);
  // without, returns false at once when it cannot. The caller pushes out->frame downstream
  // and then calls done_output() (drain() waits for that too).
  bool pop(Output* out, bool wait);
  void done_output();

  // Waits until every queued frame has left and been pushed; false when flushing.
  bool drain();
  // Flushing: push(), pop() and drain() return false at once until set_flushing(false).
  void set_flushing(bool flushing);
  bool flushing() const;
  // Releases every queued frame and forgets the borrowed results.
  void clear();

  SchedulerCounts counts() const;
  // The most frames push() lets wait at once under `c` (plus the one being pushed, and the
  // one the output side is pushing): what the element tells upstream's buffer pools.
  static int max_held(const SchedulerConfig& c);

 private:
  struct Entry {
    void* frame;
    uint64_t pts;
    bool owns;                  // the job was submitted for this frame
    uint64_t source_pts;        // borrowed: the pts of the frame the job was submitted for
    std::shared_ptr<Job> job;   // sync: own or borrowed; live: unused
  };
  bool head_can_leave() const;  // under mu_
  void take_live_result();      // under mu_

  SubmitFn submit_;
  ReleaseFn release_;
  std::function<void()> stall_;
  SchedulerConfig cfg_;

  // The lock and the wake-up are shared with the notify callbacks handed to jobs, which
  // may run after the scheduler is gone (a shared engine finishing a batch).
  struct Sync {
    std::mutex mu;
    std::condition_variable cv;
  };
  std::shared_ptr<Sync> sync_;
  std::deque<Entry> queue_;
  int own_in_queue_ = 0;
  bool flushing_ = false;
  bool outputting_ = false;     // pop() handed out a frame not yet done_output()
  uint64_t index_ = 0;          // frames since configure/clear: picks the interval-th ones

  // sync: the last submitted job, lent to the frames after it
  std::shared_ptr<Job> last_job_;
  uint64_t last_pts_ = kNoPts;
  // live: the job in the model, and the newest finished result
  std::shared_ptr<Job> live_job_;
  uint64_t live_job_pts_ = kNoPts;
  bool have_latest_ = false;
  TopLogits latest_;
  std::shared_ptr<Job> latest_job_;
  uint64_t latest_pts_ = kNoPts;
  std::string live_error_;

  SchedulerCounts counts_;
};

}  // namespace ta
