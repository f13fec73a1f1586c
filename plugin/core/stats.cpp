#include "stats.h"

#include <algorithm>
#include <cmath>

namespace ta {

SlidingWindow::SlidingWindow(size_t capacity) : capacity_(std::max<size_t>(1, capacity)) {
  ring_.reserve(capacity_);
}

void SlidingWindow::add(int64_t v) {
  std::lock_guard<std::mutex> l(mu_);
  if (ring_.size() < capacity_)
    ring_.push_back(v);
  else
    ring_[next_] = v;
  next_ = (next_ + 1) % capacity_;
  total_++;
}

void SlidingWindow::clear() {
  std::lock_guard<std::mutex> l(mu_);
  ring_.clear();
  next_ = 0;
  total_ = 0;
}

size_t SlidingWindow::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return ring_.size();
}

uint64_t SlidingWindow::total() const {
  std::lock_guard<std::mutex> l(mu_);
  return total_;
}

int64_t SlidingWindow::quantile(double q) const {
  std::vector<int64_t> v;
  {
    std::lock_guard<std::mutex> l(mu_);
    v = ring_;
  }
  if (v.empty()) return 0;
  q = std::min(1.0, std::max(0.0, q));
  // Nearest rank: the smallest value with at least q of the samples at or below it.
  size_t rank = (size_t)std::ceil(q * (double)v.size());
  if (rank < 1) rank = 1;
  std::nth_element(v.begin(), v.begin() + (rank - 1), v.end());
  return v[rank - 1];
}

double SlidingWindow::mean() const {
  std::lock_guard<std::mutex> l(mu_);
  if (ring_.empty()) return 0;
  double s = 0;
  for (int64_t x : ring_) s += (double)x;
  return s / (double)ring_.size();
}

}  // namespace ta
