/* See stats.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "stats.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "camera.h"

namespace ta_app {

void LatencyWindow::add(double seconds) {
  window_.push_back(seconds);
  if (window_.size() > capacity_)
    window_.pop_front();
  sum_ += seconds;
  count_++;
}

double LatencyWindow::quantile(double q) const {
  if (window_.empty())
    return NAN;
  std::vector<double> v(window_.begin(), window_.end());
  // Nearest rank: the smallest value with at least q of the values at or below it.
  size_t k = (size_t)std::ceil(q * (double)v.size());
  k = std::min(std::max<size_t>(k, 1), v.size()) - 1;
  std::nth_element(v.begin(), v.begin() + (long)k, v.end());
  return v[k];
}

void RateWindow::add(gint64 now_us) {
  times_.push_back(now_us);
  while (!times_.empty() && times_.front() < now_us - span_us_)
    times_.pop_front();
}

double RateWindow::per_second(gint64 now_us) const {
  size_t n = 0;
  for (auto it = times_.rbegin(); it != times_.rend() && *it >= now_us - span_us_; ++it)
    n++;
  return (double)n * G_USEC_PER_SEC / (double)span_us_;
}

void ArrivalTimes::add(GstClockTime pts, gint64 now_us) {
  items_.emplace_back(pts, now_us);
  if (items_.size() > capacity_)
    items_.pop_front();
}

gint64 ArrivalTimes::take(GstClockTime pts) {
  while (!items_.empty()) {
    const auto front = items_.front();
    if (front.first > pts)
      return 0;  // not seen (or already taken)
    items_.pop_front();
    if (front.first == pts)
      return front.second;
  }
  return 0;
}

namespace {

// A field in seconds, from its type and name suffix; false when it is not a number.
bool seconds_of(const GstStructure *st, const gchar *name, double *out) {
  const GValue *v = gst_structure_get_value(st, name);
  double x;
  bool integer = false;
  if (G_VALUE_HOLDS_DOUBLE(v)) {
    x = g_value_get_double(v);
  } else if (G_VALUE_HOLDS_UINT64(v)) {
    x = (double)g_value_get_uint64(v);
    integer = true;
  } else if (G_VALUE_HOLDS_INT64(v)) {
    x = (double)g_value_get_int64(v);
    integer = true;
  } else if (G_VALUE_HOLDS_UINT(v)) {
    x = (double)g_value_get_uint(v);
    integer = true;
  } else {
    return false;
  }
  if (g_str_has_suffix(name, "-ms") || g_str_has_suffix(name, "_ms"))
    *out = x / 1e3;
  else if (g_str_has_suffix(name, "-us") || g_str_has_suffix(name, "_us"))
    *out = x / 1e6;
  else if (g_str_has_suffix(name, "-ns") || g_str_has_suffix(name, "_ns") || integer)
    *out = x / 1e9;  // integers without a unit: a GstClockTime
  else
    *out = x;  // a double without a unit: seconds
  return true;
}

}  // namespace

void read_classify_stats(const GstStructure *st, CameraStats *s) {
  const gint n = gst_structure_n_fields(st);
  for (gint i = 0; i < n; i++) {
    const gchar *name = gst_structure_nth_field_name(st, (guint)i);
    if (std::strstr(name, "sha256")) {
      const gchar *sha = gst_structure_get_string(st, name);
      if (sha && *sha)
        s->model_sha256 = sha;
      continue;
    }
    // "model-time-p50" is the model alone; frame -> result latency is what is reported.
    if (!std::strstr(name, "latency"))
      continue;
    // 0: no result in its window yet; the app's own number (or NaN) stays.
    double sec;
    if (std::strstr(name, "p50") && seconds_of(st, name, &sec) && sec > 0)
      s->latency_p50_s = sec;
    else if (std::strstr(name, "p99") && seconds_of(st, name, &sec) && sec > 0)
      s->latency_p99_s = sec;
  }
}

}  // namespace ta_app
