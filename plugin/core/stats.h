// Numbers a long-running element reports about itself (torchclassify's `stats`): a
// sliding window of durations with its quantiles. LibTorch- and GStreamer-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace ta {

// The last `capacity` samples (older ones fall out), safe to add to and read from any
// thread. Quantiles are the nearest-rank ones of the samples in the window: q=0.5 of
// {1,2,3,4} is 2, q=0.99 of 100 samples is the 99th smallest.
class SlidingWindow {
 public:
  explicit SlidingWindow(size_t capacity = 1024);

  void add(int64_t v);
  void clear();
  size_t size() const;        // samples in the window now (<= capacity)
  uint64_t total() const;     // samples ever added (since clear)
  // The nearest-rank q-quantile (0 < q <= 1) of the window; 0 when it is empty.
  int64_t quantile(double q) const;
  double mean() const;        // of the window; 0 when empty

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::vector<int64_t> ring_;
  size_t next_ = 0;
  uint64_t total_ = 0;
};

}  // namespace ta
