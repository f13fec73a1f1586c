// ta::Scheduler without GStreamer and without a model: synthetic frames (numbered
// pointers) and synthetic jobs that the test, or a thread playing the engine, completes.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "scheduler.h"

using namespace ta;
using namespace std::chrono_literals;

namespace {

void* frame_ptr(int i) { return reinterpret_cast<void*>(static_cast<uintptr_t>(i + 1)); }
int frame_no(void* f) { return static_cast<int>(reinterpret_cast<uintptr_t>(f)) - 1; }

// A job whose result names the frame it was submitted for (class id = frame number).
class FakeJob : public Job {
 public:
  FakeJob(int frame, std::function<void()> notify) : frame_(frame), notify_(std::move(notify)) {}
  bool ready() const override { return done_.load(); }
  const TopLogits& result() const override { return top_; }
  const std::string& error() const override { return error_; }
  void finish(const std::string& error = {}) {
    top_.ids = {frame_};
    top_.logits = {1.f};
    error_ = error;
    done_.store(true);
    notify_();
  }
  int frame() const { return frame_; }

 private:
  int frame_;
  std::function<void()> notify_;
  TopLogits top_;
  std::string error_;
  std::atomic<bool> done_{false};
};

// The scheduler with a record of what it submitted and released, and an optional
// "engine" thread that completes the submitted jobs in batches, as ta::Engine does.
class Rig {
 public:
  Rig()
      : sched([this](void* f, std::function<void()> n) { return submit(f, std::move(n)); },
              [this](void* f) {
                std::lock_guard<std::mutex> l(mu);
                released.push_back(frame_no(f));
              }) {}
  ~Rig() { stop_engine(); }

  std::shared_ptr<Job> submit(void* f, std::function<void()> n) {
    auto j = std::make_shared<FakeJob>(frame_no(f), std::move(n));
    std::lock_guard<std::mutex> l(mu);
    jobs.push_back(j);
    pending.push_back(j);
    cv.notify_all();
    return j;
  }
  // Completes the oldest pending job; false when none is pending.
  bool finish_one(const std::string& error = {}) {
    std::shared_ptr<FakeJob> j;
    {
      std::lock_guard<std::mutex> l(mu);
      if (pending.empty()) return false;
      j = pending.front();
      pending.erase(pending.begin());
    }
    j->finish(error);
    return true;
  }
  // An engine thread: runs `batch` jobs at a time, or what is pending after flush().
  void start_engine(int batch) {
    engine = std::thread([this, batch] {
      std::unique_lock<std::mutex> l(mu);
      while (true) {
        cv.wait(l, [&] { return stop || (int)pending.size() >= batch || (flush_ && !pending.empty()); });
        if (stop) return;
        const size_t n = std::min<size_t>(pending.size(), (size_t)batch);
        std::vector<std::shared_ptr<FakeJob>> run(pending.begin(), pending.begin() + n);
        pending.erase(pending.begin(), pending.begin() + n);
        if (pending.empty()) flush_ = false;
        l.unlock();
        for (auto& j : run) j->finish();
        l.lock();
      }
    });
  }
  void flush() {
    std::lock_guard<std::mutex> l(mu);
    flush_ = true;
    cv.notify_all();
  }
  void stop_engine() {
    {
      std::lock_guard<std::mutex> l(mu);
      stop = true;
      cv.notify_all();
    }
    if (engine.joinable()) engine.join();
  }
  size_t submitted() {
    std::lock_guard<std::mutex> l(mu);
    return jobs.size();
  }

  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::shared_ptr<FakeJob>> jobs, pending;
  std::vector<int> released;
  bool flush_ = false, stop = false;
  std::thread engine;
  Scheduler sched;
};

// Pops everything that leaves until `n` frames have, on a thread of its own (the
// element's source-pad task), checking done_output() comes after each.
class Consumer {
 public:
  Consumer(Scheduler& s, size_t n) : s_(s) {
    t_ = std::thread([this, n] {
      while (out.size() < n) {
        Output o;
        if (!s_.pop(&o, true)) break;
        {
          std::lock_guard<std::mutex> l(mu);
          out.push_back(o);
        }
        s_.done_output();
      }
    });
  }
  void join() { t_.join(); }
  std::mutex mu;
  std::vector<Output> out;

 private:
  Scheduler& s_;
  std::thread t_;
};

uint64_t pts_of(int i, bool with_pts) { return with_pts ? (uint64_t)i * 40000000ull : kNoPts; }

}  // namespace

// Sync mode, every interval x batch size, with and without PTS: frames leave once each, in
// order; every interval-th frame owns its result, the others borrow the last one (with its
// pts); the batch size bounds the own results in flight; nothing is held after the drain.
class SyncMatrix : public ::testing::TestWithParam<std::tuple<int, int, bool>> {};

TEST_P(SyncMatrix, EveryFrameLeavesOnceInOrderWithTheRightResult) {
  const auto [interval, batch, with_pts] = GetParam();
  const int n = 23;  // not a multiple of any batch or interval: the drain runs a partial batch
  Rig rig;
  SchedulerConfig c;
  c.interval = interval;
  c.max_own = batch;
  rig.sched.configure(c);
  rig.start_engine(batch);
  Consumer consumer(rig.sched, n);
  for (int i = 0; i < n; i++) ASSERT_TRUE(rig.sched.push(frame_ptr(i), pts_of(i, with_pts)));
  rig.flush();  // what the element does before draining (Engine::flush)
  ASSERT_TRUE(rig.sched.drain());
  consumer.join();

  ASSERT_EQ(consumer.out.size(), (size_t)n);
  for (int i = 0; i < n; i++) {
    const Output& o = consumer.out[i];
    const int owner = i / interval * interval;
    EXPECT_EQ(frame_no(o.frame), i);
    EXPECT_EQ(o.pts, pts_of(i, with_pts));
    EXPECT_TRUE(o.has_result);
    EXPECT_TRUE(o.error.empty());
    EXPECT_EQ(o.owns, i == owner) << "frame " << i;
    ASSERT_EQ(o.result.ids.size(), 1u);
    EXPECT_EQ(o.result.ids[0], owner) << "frame " << i << " carries the result of another frame";
    EXPECT_EQ(o.source_pts, i == owner ? kNoPts : pts_of(owner, with_pts));
  }
  const SchedulerCounts k = rig.sched.counts();
  EXPECT_EQ(k.in, (uint64_t)n);
  EXPECT_EQ(k.out, (uint64_t)n);
  EXPECT_EQ(k.submitted, (uint64_t)(n + interval - 1) / interval);
  EXPECT_EQ(k.borrowed, k.in - k.submitted);
  EXPECT_EQ(k.queued, 0u);
  EXPECT_EQ(rig.submitted(), k.submitted);
}

INSTANTIATE_TEST_SUITE_P(ModesIntervalsBatches, SyncMatrix,
                         ::testing::Combine(::testing::Values(1, 2, 3), ::testing::Values(1, 2, 4),
                                            ::testing::Bool()));

// The bug the element had: with PTS-less buffers, "owns its result" was inferred from the
// source pts, so borrowers were counted as own frames. Here the borrower leaves with the
// result of its owner as soon as that is ready, without another push.
TEST(Scheduler, PtsLessBorrowersLeaveWithTheirOwnersResult) {
  Rig rig;
  SchedulerConfig c;
  c.interval = 2;
  c.max_own = 1;
  rig.sched.configure(c);
  ASSERT_TRUE(rig.sched.push(frame_ptr(0), kNoPts));
  ASSERT_TRUE(rig.sched.push(frame_ptr(1), kNoPts));
  Output o;
  EXPECT_FALSE(rig.sched.pop(&o, false)) << "nothing is ready yet";
  ASSERT_TRUE(rig.finish_one());
  ASSERT_TRUE(rig.sched.pop(&o, false));
  rig.sched.done_output();
  EXPECT_EQ(frame_no(o.frame), 0);
  EXPECT_TRUE(o.owns);
  ASSERT_TRUE(rig.sched.pop(&o, false));
  rig.sched.done_output();
  EXPECT_EQ(frame_no(o.frame), 1);
  EXPECT_FALSE(o.owns) << "a PTS-less borrower is still a borrower";
  EXPECT_EQ(o.result.ids[0], 0);
  EXPECT_FALSE(rig.sched.pop(&o, false));
  // The next own frame is admitted at once: the borrower did not take a place of the batch.
  ASSERT_TRUE(rig.sched.push(frame_ptr(2), kNoPts));
  EXPECT_EQ(rig.sched.counts().queued, 1u);
}

// push() waits while max_own submitted frames are in flight (upstream's back-pressure),
// and goes on once one has left.
TEST(Scheduler, PushWaitsForRoomInTheBatch) {
  Rig rig;
  SchedulerConfig c;
  c.max_own = 2;
  rig.sched.configure(c);
  ASSERT_TRUE(rig.sched.push(frame_ptr(0), 0));
  ASSERT_TRUE(rig.sched.push(frame_ptr(1), 1));
  std::atomic<bool> pushed{false};
  std::thread t([&] {
    EXPECT_TRUE(rig.sched.push(frame_ptr(2), 2));
    pushed = true;
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(pushed) << "a third frame was let in while two wait for their batch";
  ASSERT_TRUE(rig.finish_one());
  Output o;
  ASSERT_TRUE(rig.sched.pop(&o, true));
  rig.sched.done_output();
  t.join();
  EXPECT_TRUE(pushed);
  EXPECT_EQ(rig.sched.counts().queued, 2u);
}

// Flushing wakes a push waiting for room and a pop waiting for a result; clear() lets go
// of every frame still queued and starts the interval again.
TEST(Scheduler, FlushWakesWaitersAndClearReleasesEveryFrame) {
  Rig rig;
  SchedulerConfig c;
  c.max_own = 1;
  c.interval = 3;
  rig.sched.configure(c);
  ASSERT_TRUE(rig.sched.push(frame_ptr(0), 0));
  ASSERT_TRUE(rig.sched.push(frame_ptr(1), 1));
  std::atomic<int> woken{0};
  std::thread popper([&] {
    Output o;
    EXPECT_FALSE(rig.sched.pop(&o, true));
    woken++;
  });
  std::thread pusher([&] {
    // frame 2 borrows, frame 3 is due and waits for room
    EXPECT_TRUE(rig.sched.push(frame_ptr(2), 2));
    EXPECT_FALSE(rig.sched.push(frame_ptr(3), 3));
    woken++;
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(woken.load(), 0);
  rig.sched.set_flushing(true);
  popper.join();
  pusher.join();
  EXPECT_EQ(woken.load(), 2);
  EXPECT_FALSE(rig.sched.drain()) << "a drain while flushing returns at once";
  rig.sched.clear();
  EXPECT_EQ(rig.released, (std::vector<int>{0, 1, 2})) << "frame 3 stayed the caller's";
  rig.sched.set_flushing(false);
  // After the flush the next frame owns its result (the interval starts again) and the
  // old job's late completion changes nothing.
  ASSERT_TRUE(rig.sched.push(frame_ptr(4), 4));
  ASSERT_TRUE(rig.finish_one());  // job of frame 0, released
  Output o;
  EXPECT_FALSE(rig.sched.pop(&o, false));
  ASSERT_TRUE(rig.finish_one());  // job of frame 4
  ASSERT_TRUE(rig.sched.pop(&o, false));
  rig.sched.done_output();
  EXPECT_EQ(frame_no(o.frame), 4);
  EXPECT_TRUE(o.owns);
  EXPECT_EQ(o.result.ids[0], 4);
}

// A failed job fails its frame and the frames that borrowed from it.
TEST(Scheduler, AFailedJobFailsItsOwnerAndItsBorrowers_n) {
  Rig rig;
  SchedulerConfig c;
  c.interval = 2;
  c.max_own = 2;
  rig.sched.configure(c);
  for (int i = 0; i < 3; i++) ASSERT_TRUE(rig.sched.push(frame_ptr(i), i));
  ASSERT_TRUE(rig.finish_one("out of memory"));
  ASSERT_TRUE(rig.finish_one());
  std::vector<std::string> errors;
  Output o;
  while (rig.sched.pop(&o, false)) {
    rig.sched.done_output();
    errors.push_back(o.error);
    EXPECT_EQ(o.has_result, o.error.empty());
  }
  EXPECT_EQ(errors, (std::vector<std::string>{"out of memory", "out of memory", ""}));
}

// drain() returns only once the last frame popped has also been pushed on (done_output).
TEST(Scheduler, DrainWaitsForTheFrameBeingPushed) {
  Rig rig;
  rig.sched.configure(SchedulerConfig());
  ASSERT_TRUE(rig.sched.push(frame_ptr(0), 0));
  ASSERT_TRUE(rig.finish_one());
  Output o;
  ASSERT_TRUE(rig.sched.pop(&o, false));
  std::atomic<bool> drained{false};
  std::thread t([&] {
    EXPECT_TRUE(rig.sched.drain());
    drained = true;
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(drained) << "drained while the output side still pushes";
  rig.sched.done_output();
  t.join();
  EXPECT_TRUE(drained);
}

// Live mode: frames never wait; the first ones leave without a result, later ones with the
// newest finished one (and its pts); a frame is submitted only when the model is free and
// the frame is an interval-th one.
class LiveMatrix : public ::testing::TestWithParam<int> {};

TEST_P(LiveMatrix, FramesNeverWaitAndCarryTheNewestResult) {
  const int interval = GetParam();
  Rig rig;
  SchedulerConfig c;
  c.live = true;
  c.interval = interval;
  c.max_own = 4;  // ignored in live mode
  rig.sched.configure(c);
  std::vector<Output> out;
  int newest_done = -1;
  for (int i = 0; i < 30; i++) {
    // The "model" finishes the frame in flight every third push.
    if (i % 3 == 0 && rig.finish_one()) newest_done = rig.jobs.back()->frame();
    const size_t before = rig.submitted();
    ASSERT_TRUE(rig.sched.push(frame_ptr(i), pts_of(i, true)));
    if (rig.submitted() > before) {
      EXPECT_EQ(i % interval, 0) << "frame " << i << " is not an interval-th one";
    }
    Output o;
    ASSERT_TRUE(rig.sched.pop(&o, false)) << "a live frame waited";
    rig.sched.done_output();
    EXPECT_EQ(frame_no(o.frame), i);
    EXPECT_FALSE(o.owns);
    if (newest_done < 0) {
      EXPECT_FALSE(o.has_result);
    } else {
      ASSERT_TRUE(o.has_result) << "frame " << i;
      EXPECT_EQ(o.result.ids[0], newest_done);
      EXPECT_EQ(o.source_pts, pts_of(newest_done, true));
    }
    out.push_back(o);
  }
  const SchedulerCounts k = rig.sched.counts();
  EXPECT_EQ(k.out, 30u);
  EXPECT_EQ(k.borrowed + k.without, 30u);
  EXPECT_GT(k.submitted, 1u);
  // Never two frames in the model at once.
  EXPECT_LE(rig.pending.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Intervals, LiveMatrix, ::testing::Values(1, 2, 5));

// Caps in the middle: the element drains, then may configure again; a stream that
// switches from sync to live keeps its order.
TEST(Scheduler, ConfigureAfterADrainChangesModeAndInterval) {
  Rig rig;
  SchedulerConfig c;
  c.interval = 2;
  c.max_own = 2;
  rig.sched.configure(c);
  rig.start_engine(2);
  Consumer consumer(rig.sched, 8);
  for (int i = 0; i < 4; i++) ASSERT_TRUE(rig.sched.push(frame_ptr(i), i));
  rig.flush();
  ASSERT_TRUE(rig.sched.drain());
  c.live = true;
  c.interval = 1;
  rig.sched.configure(c);
  for (int i = 4; i < 8; i++) ASSERT_TRUE(rig.sched.push(frame_ptr(i), i));
  rig.flush();
  ASSERT_TRUE(rig.sched.drain());
  consumer.join();
  ASSERT_EQ(consumer.out.size(), 8u);
  for (int i = 0; i < 8; i++) EXPECT_EQ(frame_no(consumer.out[i].frame), i);
  for (int i = 0; i < 4; i++) EXPECT_EQ(consumer.out[i].result.ids[0], i / 2 * 2);
}

// A job may complete after its scheduler is gone (an engine shared with other elements):
// its notify must not touch freed memory.
TEST(Scheduler, AJobCompletingAfterTheSchedulerIsGoneIsHarmless) {
  std::shared_ptr<FakeJob> job;
  {
    Scheduler s(
        [&](void* f, std::function<void()> n) {
          job = std::make_shared<FakeJob>(frame_no(f), std::move(n));
          return job;
        },
        [](void*) {});
    s.configure(SchedulerConfig());
    ASSERT_TRUE(s.push(frame_ptr(0), 0));
  }
  job->finish();  // under ASan this reads freed memory if the wake-up outlived its lock
  EXPECT_TRUE(job->ready());
}

TEST(Scheduler, MaxHeldCountsEveryFrameThatCanWait) {
  SchedulerConfig c;
  c.max_own = 8;
  c.interval = 2;
  EXPECT_EQ(Scheduler::max_held(c), 8 * 2 + 2);
  c.live = true;
  EXPECT_EQ(Scheduler::max_held(c), 4);
}

// ---- frames with several jobs (regions) ---------------------------------------------------

namespace {

// A scheduler whose frame i carries i % 4 jobs (regions): part k's result is class id
// 100 * i + k. The jobs complete in an order the test chooses, or on an engine thread
// that runs `batch` jobs at a time, as ta::Engine batches regions of many frames.
class GroupRig {
 public:
  GroupRig()
      : sched(
            [this](void* f, std::function<void()> n) {
              const int i = frame_no(f);
              std::vector<std::shared_ptr<Job>> parts;
              std::lock_guard<std::mutex> l(mu);
              for (int k = 0; k < i % 4; k++) {
                auto j = std::make_shared<FakeJob>(100 * i + k, n);
                parts.push_back(j);
                pending.push_back(j);
              }
              cv.notify_all();
              return std::make_shared<JobGroup>(std::move(parts));
            },
            nullptr) {}
  ~GroupRig() {
    {
      std::lock_guard<std::mutex> l(mu);
      stop = true;
      cv.notify_all();
    }
    if (engine.joinable()) engine.join();
  }
  void start_engine(int batch) {
    engine = std::thread([this, batch] {
      std::unique_lock<std::mutex> l(mu);
      while (true) {
        cv.wait(l, [&] { return stop || (int)pending.size() >= batch || (flush_ && !pending.empty()); });
        if (stop) return;
        const size_t n = std::min<size_t>(pending.size(), (size_t)batch);
        std::vector<std::shared_ptr<FakeJob>> run(pending.begin(), pending.begin() + n);
        pending.erase(pending.begin(), pending.begin() + n);
        if (pending.empty()) flush_ = false;
        batches.push_back(n);
        l.unlock();
        for (auto& j : run) j->finish();
        l.lock();
      }
    });
  }
  void flush() {
    std::lock_guard<std::mutex> l(mu);
    flush_ = true;
    cv.notify_all();
  }
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::shared_ptr<FakeJob>> pending;
  std::vector<size_t> batches;
  bool flush_ = false, stop = false;
  std::thread engine;
  Scheduler sched;
};

// The region results of an output, as class ids.
std::vector<int> parts_of(const Output& o) {
  std::vector<int> ids;
  auto* g = dynamic_cast<const JobGroup*>(o.job.get());
  if (!g) return ids;
  for (size_t k = 0; k < g->size(); k++) ids.push_back(g->part(k).result().ids.at(0));
  return ids;
}

std::vector<int> expected_parts(int i) {
  std::vector<int> ids;
  for (int k = 0; k < i % 4; k++) ids.push_back(100 * i + k);
  return ids;
}

}  // namespace

// A frame leaves when all its jobs are done, in order, whatever order they finish in; a
// frame with no job waits only for the frames before it.
TEST(SchedulerGroups, AFrameLeavesWhenAllItsJobsAreDone) {
  GroupRig rig;
  SchedulerConfig c;
  c.max_own = 8;
  rig.sched.configure(c);
  for (int i = 0; i < 4; i++) ASSERT_TRUE(rig.sched.push(frame_ptr(i), pts_of(i, true)));
  Output o;
  // Frame 0 has no region: it leaves at once.
  ASSERT_TRUE(rig.sched.pop(&o, false));
  rig.sched.done_output();
  EXPECT_EQ(frame_no(o.frame), 0);
  EXPECT_TRUE(o.has_result);
  EXPECT_TRUE(o.owns);
  EXPECT_TRUE(parts_of(o).empty());
  // Frames 1..3 hold 1 + 2 + 3 jobs: finish them newest first.
  ASSERT_EQ(rig.pending.size(), 6u);
  for (int k = 5; k >= 1; k--) {
    rig.pending[k]->finish();
    // Frame 1's only job (pending[0]) is not done: nothing leaves.
    EXPECT_FALSE(rig.sched.pop(&o, false)) << "after job " << k;
  }
  rig.pending[0]->finish();
  for (int i = 1; i < 4; i++) {
    ASSERT_TRUE(rig.sched.pop(&o, false)) << "frame " << i;
    rig.sched.done_output();
    EXPECT_EQ(frame_no(o.frame), i);
    EXPECT_EQ(o.pts, pts_of(i, true));
    EXPECT_EQ(parts_of(o), expected_parts(i));
  }
  EXPECT_FALSE(rig.sched.pop(&o, false));
}

// The engine batches jobs of several frames (batch 8 here over frames of 0..3 jobs); when
// push() must wait for room while a partial batch waits to fill, the stall handler flushes
// it. Every frame gets its own jobs back.
TEST(SchedulerGroups, JobsOfManyFramesBatchTogetherAndAStallFlushes) {
  for (int max_own : {1, 3, 8}) {
    SCOPED_TRACE("max_own " + std::to_string(max_own));
    GroupRig rig;
    SchedulerConfig c;
    c.max_own = max_own;
    rig.sched.configure(c);
    std::atomic<int> stalls{0};
    rig.sched.set_stall_handler([&] {
      stalls++;
      rig.flush();
    });
    rig.start_engine(8);
    const int n = 29;
    Consumer consumer(rig.sched, n);
    for (int i = 0; i < n; i++) ASSERT_TRUE(rig.sched.push(frame_ptr(i), pts_of(i, true)));
    rig.flush();  // EOS
    ASSERT_TRUE(rig.sched.drain());
    consumer.join();
    ASSERT_EQ(consumer.out.size(), (size_t)n);
    for (int i = 0; i < n; i++) {
      EXPECT_EQ(frame_no(consumer.out[i].frame), i);
      EXPECT_EQ(parts_of(consumer.out[i]), expected_parts(i)) << "frame " << i;
    }
    EXPECT_GT(stalls.load(), 0);
    std::lock_guard<std::mutex> l(rig.mu);
    size_t total = 0, biggest = 0;
    for (size_t b : rig.batches) {
      total += b;
      biggest = std::max(biggest, b);
    }
    EXPECT_EQ(total, 42u);  // sum of i % 4 over 0..28
    if (max_own == 8) {
      EXPECT_EQ(biggest, 8u) << "jobs of several frames in one batch";
    }
  }
}

// interval: the frames between borrow the whole group of the last submitted frame (the
// element matches the regions by id); live mode: the newest finished group.
TEST(SchedulerGroups, BorrowersGetTheOwnersGroup) {
  {
    GroupRig rig;
    SchedulerConfig c;
    c.interval = 3;
    c.max_own = 4;
    rig.sched.configure(c);
    for (int i = 1; i <= 6; i++) ASSERT_TRUE(rig.sched.push(frame_ptr(i), pts_of(i, true)));
    for (auto& j : std::vector<std::shared_ptr<FakeJob>>(rig.pending)) j->finish();
    const int owner[] = {1, 1, 1, 4, 4, 4};
    for (int i = 1; i <= 6; i++) {
      Output o;
      ASSERT_TRUE(rig.sched.pop(&o, false));
      rig.sched.done_output();
      EXPECT_EQ(parts_of(o), expected_parts(owner[i - 1])) << "frame " << i;
      EXPECT_EQ(o.owns, owner[i - 1] == i);
      EXPECT_EQ(o.source_pts, o.owns ? kNoPts : pts_of(owner[i - 1], true));
    }
  }
  {
    GroupRig rig;
    SchedulerConfig c;
    c.live = true;
    rig.sched.configure(c);
    Output o;
    ASSERT_TRUE(rig.sched.push(frame_ptr(3), pts_of(3, true)));  // submitted: 3 jobs
    ASSERT_TRUE(rig.sched.pop(&o, false));
    rig.sched.done_output();
    EXPECT_FALSE(o.has_result);
    EXPECT_FALSE(o.job);
    for (auto& j : std::vector<std::shared_ptr<FakeJob>>(rig.pending)) j->finish();
    ASSERT_TRUE(rig.sched.push(frame_ptr(5), pts_of(5, true)));
    ASSERT_TRUE(rig.sched.pop(&o, false));
    rig.sched.done_output();
    EXPECT_EQ(frame_no(o.frame), 5);
    ASSERT_TRUE(o.has_result);
    EXPECT_EQ(parts_of(o), expected_parts(3));
    EXPECT_EQ(o.source_pts, pts_of(3, true));
  }
}

TEST(SchedulerGroups, AFailedRegionFailsItsFrame_n) {
  GroupRig rig;
  SchedulerConfig c;
  c.max_own = 4;
  rig.sched.configure(c);
  ASSERT_TRUE(rig.sched.push(frame_ptr(2), pts_of(2, true)));
  rig.pending[0]->finish();
  rig.pending[1]->finish("out of memory");
  Output o;
  ASSERT_TRUE(rig.sched.pop(&o, false));
  rig.sched.done_output();
  EXPECT_EQ(o.error, "out of memory");
  EXPECT_FALSE(o.has_result);
}
