// Helpers of the reliability tests: a watchdog that ends a hung test, bounded pipeline
// runs that collect the bus, files, resident memory, and the leaks tracer.
//
// Every wait is bounded. Under the sanitizers (scripts/test --sanitize sets TA_SANITIZE)
// the bounds are multiplied: the code runs several times slower there, not differently.
#pragma once

#include <glib.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_env.h"

namespace ta_rel {

// How much longer every bound is in this build (3 under the sanitizers).
inline int slowdown() {
  const char* s = std::getenv("TA_SANITIZE");
  return s && *s && std::string(s) != "0" ? 3 : 1;
}

// Ends the whole test program (SIGABRT, after saying what hung) when a test did not
// finish in time: a deadlock is a failure, never a CI run that waits for its timeout.
class Watchdog {
 public:
  Watchdog(int seconds, std::string what) : what_(std::move(what)) {
    const auto limit = std::chrono::seconds(seconds * slowdown());
    thread_ = std::thread([this, limit, seconds] {
      std::unique_lock<std::mutex> l(mu_);
      if (!cv_.wait_for(l, limit, [this] { return done_; })) {
        std::fprintf(stderr, "\nwatchdog: \"%s\" did not finish within %d s: deadlock or hang. Aborting.\n",
                     what_.c_str(), seconds * slowdown());
        std::fflush(stderr);
        std::abort();
      }
    });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> l(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  std::string what_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// What a pipeline said on its bus.
struct BusLog {
  GError* error = nullptr;
  std::string error_debug;
  std::string error_source;
  std::vector<std::string> warnings;
  bool eos = false;
  bool timed_out = false;
  BusLog() = default;
  BusLog(const BusLog&) = delete;
  BusLog& operator=(const BusLog&) = delete;
  ~BusLog() {
    if (error) g_error_free(error);
  }
  std::string describe() const {
    std::string s = error ? std::string("error from ") + error_source + ": " + error->message + " (" + error_debug + ")"
                          : std::string("no error");
    s += eos ? ", EOS" : ", no EOS";
    for (const auto& w : warnings) s += "\nwarning: " + w;
    return s;
  }
};

// Collects messages until EOS, an error or `timeout_s` (then timed_out).
inline void collect(GstElement* pipeline, BusLog* r, int timeout_s) {
  GstBus* bus = gst_element_get_bus(pipeline);
  const gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * slowdown() * G_USEC_PER_SEC;
  while (!r->error && !r->eos) {
    const gint64 left = deadline - g_get_monotonic_time();
    if (left <= 0) {
      r->timed_out = true;
      break;
    }
    GstMessage* m = gst_bus_timed_pop(bus, left * GST_USECOND);
    if (!m) continue;
    switch (GST_MESSAGE_TYPE(m)) {
      case GST_MESSAGE_ERROR: {
        gchar* dbg = nullptr;
        gst_message_parse_error(m, &r->error, &dbg);
        r->error_debug = dbg ? dbg : "";
        g_free(dbg);
        gchar* src = gst_object_get_path_string(GST_MESSAGE_SRC(m));
        r->error_source = src ? src : "";
        g_free(src);
        break;
      }
      case GST_MESSAGE_EOS: r->eos = true; break;
      case GST_MESSAGE_WARNING: {
        GError* e = nullptr;
        gst_message_parse_warning(m, &e, nullptr);
        r->warnings.push_back(e->message);
        g_error_free(e);
        break;
      }
      default: break;
    }
    gst_message_unref(m);
  }
  gst_object_unref(bus);
}

// Parses and runs a launch line to EOS or error, bounded by `timeout_s`.
inline void run_launch(const std::string& launch, BusLog* r, int timeout_s = 60) {
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(launch.c_str(), &err);
  ASSERT_TRUE(p && !err) << launch << ": " << (err ? err->message : "");
  gst_element_set_state(p, GST_STATE_PLAYING);
  collect(p, r, timeout_s);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
}

// A file in the test's temporary folder, removed at the end of the scope.
class TempFile {
 public:
  explicit TempFile(const std::string& suffix) {
    gchar* p = g_build_filename(g_get_tmp_dir(), "ta-rel-XXXXXX", nullptr);
    std::string tmpl = std::string(p) + suffix;
    g_free(p);
    const int fd = g_mkstemp(&tmpl[0]);
    if (fd >= 0) close(fd);
    path_ = tmpl;
  }
  ~TempFile() { g_unlink(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

inline bool write_file(const std::string& path, const std::string& data) {
  return g_file_set_contents(path.c_str(), data.data(), (gssize)data.size(), nullptr);
}

inline std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream f(path);
  std::string l;
  while (std::getline(f, l)) lines.push_back(l);
  return lines;
}

// Resident memory of this process, in kB.
inline long rss_kb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

// The leaks tracer, when the test program runs with GST_TRACERS=leaks (else null).
inline GstTracer* leaks_tracer() {
  GList* tracers = gst_tracing_get_active_tracers();
  GstTracer* found = nullptr;
  for (GList* l = tracers; l; l = l->next) {
    if (!found && g_strcmp0(G_OBJECT_TYPE_NAME(l->data), "GstLeaksTracer") == 0)
      found = GST_TRACER(gst_object_ref(l->data));
  }
  g_list_free_full(tracers, gst_object_unref);
  return found;
}

// What the leaks tracer saw created and destroyed since the last checkpoint (tracking
// started with its "activity-start-tracking" signal): one (address, type name) entry
// each. Unlike "get-live-objects", this takes no reference away from anyone, so it can
// run in the middle of a program. The one-time objects GStreamer flags as may-be-leaked
// (pad templates, static caps) are not tracked.
struct Checkpoint {
  std::vector<std::pair<std::string, std::string>> created, removed;
};

inline Checkpoint leaks_checkpoint(GstTracer* leaks) {
  Checkpoint c;
  GstStructure* s = nullptr;
  g_signal_emit_by_name(leaks, "activity-get-checkpoint", &s);
  if (!s) return c;
  for (auto field : {std::make_pair("objects-created-list", &c.created), std::make_pair("objects-removed-list", &c.removed)}) {
    const GValue* list = gst_structure_get_value(s, field.first);
    for (guint i = 0; list && i < gst_value_list_get_size(list); i++) {
      const GstStructure* o = gst_value_get_structure(gst_value_list_get_value(list, i));
      const gchar* type = gst_structure_get_string(o, "type-name");
      const gchar* addr = gst_structure_get_string(o, "address");
      field.second->push_back({addr ? addr : "?", type ? type : "?"});
    }
  }
  gst_structure_free(s);
  return c;
}

}  // namespace ta_rel
