/* Small measuring tools of the cameras: a latency window with quantiles, a frame-rate
 * window, the arrival times of frames at torchclassify, and the reading of torchclassify's
 * `stats` structure. Not thread-safe: the camera holds its lock around them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

namespace ta_app {

struct CameraStats;

// The last `capacity` latencies (seconds), their quantiles, and the sum and count of all.
class LatencyWindow {
 public:
  explicit LatencyWindow(size_t capacity = 256) : capacity_(capacity) {}
  void add(double seconds);
  double quantile(double q) const;  // NaN when empty
  double sum() const { return sum_; }
  int64_t count() const { return count_; }

 private:
  size_t capacity_;
  std::deque<double> window_;
  double sum_ = 0;
  int64_t count_ = 0;
};

// Frames per second over the last `span_us` microseconds.
class RateWindow {
 public:
  explicit RateWindow(gint64 span_us = 5 * G_USEC_PER_SEC) : span_us_(span_us) {}
  void add(gint64 now_us);
  double per_second(gint64 now_us) const;

 private:
  gint64 span_us_;
  std::deque<gint64> times_;
};

// When frames reached torchclassify, by pts: the last `capacity` of them.
class ArrivalTimes {
 public:
  explicit ArrivalTimes(size_t capacity = 128) : capacity_(capacity) {}
  void add(GstClockTime pts, gint64 now_us);
  // The arrival time of `pts` (and forgets it and what came before), 0 when unknown.
  gint64 take(GstClockTime pts);

 private:
  size_t capacity_;
  std::deque<std::pair<GstClockTime, gint64>> items_;
};

// Copies into `*s` what torchclassify's `stats` structure says: fields whose name holds
// "latency" and "p50" / "p99" (a GstClockTime or integer in nanoseconds, or a double with
// a "-ms" / "-us" / "-s" suffix in that unit), and a string field whose name holds
// "sha256". Fields it does not have leave `*s` as it was (the app's own measurements).
void read_classify_stats(const GstStructure *st, CameraStats *s);

}  // namespace ta_app
