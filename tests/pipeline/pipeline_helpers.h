// Helpers of the pipeline tests: child processes with their output read line by line,
// the loopback RTSP test server, a small H.264 file, JSON Lines files.
//
// Every wait is bounded. A Child runs in a process group of its own, and its destructor
// kills the whole group (a script and the gst-launch-1.0 or python3 it runs), so a
// failing test leaves nothing behind.
#pragma once

#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <algorithm>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ta_test {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

inline std::string env_or(const char* name, const char* fallback = "") {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// A program started with g_spawn, its stdout split into lines as they come, its stderr
// kept whole (for failure messages).
class Child {
 public:
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { kill_all(); }

  // `env`: NAME=VALUE entries added to (or replacing those of) the test's environment.
  bool start(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
    std::vector<gchar*> args;
    for (const auto& a : argv) args.push_back(const_cast<gchar*>(a.c_str()));
    args.push_back(nullptr);
    gchar** envp = g_get_environ();
    for (const auto& e : env) {
      const size_t eq = e.find('=');
      envp = g_environ_setenv(envp, e.substr(0, eq).c_str(), e.substr(eq + 1).c_str(), TRUE);
    }
    name_ = argv.empty() ? "" : argv[0];
    gint out = -1, err = -1;
    GError* error = nullptr;
    const gboolean ok = g_spawn_async_with_pipes(
        nullptr, args.data(), envp, G_SPAWN_DO_NOT_REAP_CHILD,
        // Its own process group (signals go to what it starts, too), and killed with the
        // test: a test program that aborts leaves no app, server or browser running, which
        // would take the CPU from every test after it.
        [](gpointer) {
          setpgid(0, 0);
          prctl(PR_SET_PDEATHSIG, SIGKILL);
        }, nullptr, &pid_, nullptr, &out, &err, &error);
    g_strfreev(envp);
    if (!ok) {
      ADD_FAILURE() << "cannot start " << name_ << ": " << error->message;
      g_clear_error(&error);
      return false;
    }
    out_thread_ = std::thread([this, out] { read_lines(out); });
    err_thread_ = std::thread([this, err] { read_stderr(err); });
    return true;
  }

  // Waits until a line for which `pred` holds has come (looking at lines from `from` on),
  // the program's stdout closed, or `timeout` passed. Returns the index of that line, -1
  // when none came.
  long wait_line(const std::function<bool(const std::string&)>& pred, Seconds timeout,
                 size_t from = 0) {
    std::unique_lock<std::mutex> lock(mu_);
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout);
    size_t i = from;
    while (true) {
      for (; i < lines_.size(); i++)
        if (pred(lines_[i])) return static_cast<long>(i);
      if (eof_ || cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
        for (; i < lines_.size(); i++)
          if (pred(lines_[i])) return static_cast<long>(i);
        return -1;
      }
    }
  }

  // Waits until at least `n` lines have come; returns whether they did.
  bool wait_lines(size_t n, Seconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout);
    return cv_.wait_until(lock, deadline, [&] { return lines_.size() >= n || eof_; }) &&
           lines_.size() >= n;
  }

  std::vector<std::string> lines() {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }
  size_t n_lines() {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_.size();
  }
  std::string stderr_text() {
    std::lock_guard<std::mutex> lock(mu_);
    return err_;
  }

  void send(int sig) {
    if (pid_ > 0 && !exited_) ::kill(pid_, sig);
  }

  // Waits for the program to exit; returns its wait status, or -1 on timeout.
  int wait_exit(Seconds timeout) {
    if (pid_ <= 0) return -1;
    if (exited_) return status_;
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout);
    while (true) {
      int st = 0;
      const pid_t r = waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        status_ = st;
        // Its last output may still be in the pipe: wait (bounded) for the reader to end.
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, std::chrono::seconds(5), [&] { return eof_; });
        return st;
      }
      if (r < 0 || Clock::now() > deadline) return -1;
      g_usleep(20 * 1000);
    }
  }

  bool running() { return pid_ > 0 && !exited_ && waitpid(pid_, nullptr, WNOHANG) == 0; }

  // Kills the program's whole process group and reaps it.
  void kill_all() {
    if (pid_ > 0 && !exited_) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      int st = 0;
      waitpid(pid_, &st, 0);
      exited_ = true;
      status_ = st;
    } else if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);  // what it may have left in its group
    }
    join_readers();
    if (pid_ > 0) g_spawn_close_pid(pid_);
    pid_ = 0;
  }

  // "exit status N", "killed by signal N": for failure messages.
  static std::string describe(int st) {
    if (st == -1) return "still running";
    if (WIFEXITED(st)) return "exit status " + std::to_string(WEXITSTATUS(st));
    if (WIFSIGNALED(st)) return "killed by signal " + std::to_string(WTERMSIG(st));
    return "status " + std::to_string(st);
  }

  std::string report() {
    std::ostringstream o;
    o << name_ << ": " << n_lines() << " lines on stdout";
    const auto l = lines();
    if (!l.empty()) o << ", the last: '" << l.back() << "'";
    o << "\n--- stderr ---\n" << stderr_text();
    return o.str();
  }

 private:
  void read_lines(int fd) {
    std::string partial;
    char buf[4096];
    while (true) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      std::lock_guard<std::mutex> lock(mu_);
      partial.append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = partial.find('\n')) != std::string::npos) {
        lines_.push_back(partial.substr(0, nl));
        partial.erase(0, nl + 1);
      }
      cv_.notify_all();
    }
    ::close(fd);
    std::lock_guard<std::mutex> lock(mu_);
    if (!partial.empty()) lines_.push_back(partial);
    eof_ = true;
    cv_.notify_all();
  }

  void read_stderr(int fd) {
    char buf[4096];
    while (true) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      std::lock_guard<std::mutex> lock(mu_);
      if (err_.size() < 256 * 1024) err_.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
  }

  void join_readers() {
    // The pipes close when the last process holding them (the group) is gone.
    if (out_thread_.joinable()) out_thread_.join();
    if (err_thread_.joinable()) err_thread_.join();
  }

  std::string name_;
  GPid pid_ = 0;
  bool exited_ = false;
  int status_ = 0;
  std::thread out_thread_, err_thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  std::string err_;
  bool eof_ = false;
};

inline bool exited_with(int st, int code) { return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == code; }

// The build's rtsp-test-server on loopback: H.264 from videotestsrc, 320x240 at 30 fps.
class RtspServer {
 public:
  // port 0: a free one. Returns false (with a test failure) when it does not come up.
  bool start(int port = 0) {
    const std::string exe = env_or("TA_RTSP_SERVER");
    if (exe.empty()) {
      ADD_FAILURE() << "TA_RTSP_SERVER is not set (tests/pipeline/meson.build sets it)";
      return false;
    }
    child_ = std::make_unique<Child>();
    if (!child_->start({exe, std::to_string(port)})) return false;
    const long i = child_->wait_line([](const std::string& l) { return l.rfind("READY ", 0) == 0; },
                                     Seconds(15));
    if (i < 0) {
      ADD_FAILURE() << "the RTSP test server did not come up on port " << port << "\n"
                    << child_->report();
      return false;
    }
    url_ = child_->lines()[static_cast<size_t>(i)].substr(6);
    // rtsp://127.0.0.1:PORT/test
    const size_t colon = url_.rfind(':');
    port_ = std::atoi(url_.c_str() + colon + 1);
    return port_ > 0;
  }
  // Kills it without a goodbye, as a camera that loses power.
  void crash() {
    if (child_) child_->kill_all();
    child_.reset();
  }
  // SIGSTOP: a camera that hangs with its connections open; SIGCONT: it goes on.
  void signal(int sig) {
    if (child_) child_->send(sig);
  }
  const std::string& url() const { return url_; }
  int port() const { return port_; }

 private:
  std::unique_ptr<Child> child_;
  std::string url_;
  int port_ = 0;
};

// A fresh path under the temp dir, removed at the end of the test.
class TempPath {
 public:
  explicit TempPath(const char* suffix) {
    gchar* dir = g_dir_make_tmp("ta-pipeline-XXXXXX", nullptr);
    dir_ = dir ? dir : "/tmp";
    g_free(dir);
    path_ = dir_ + "/file" + suffix;
  }
  ~TempPath() {
    // Whatever a script made beside the file (e.g. an annotated MP4) goes too.
    GDir* d = g_dir_open(dir_.c_str(), 0, nullptr);
    if (d) {
      const gchar* n;
      while ((n = g_dir_read_name(d))) g_unlink((dir_ + "/" + n).c_str());
      g_dir_close(d);
    }
    g_rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }
  std::string sibling(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_, path_;
};

// Parses a gst-launch description into *p; "" or the parser's error (then *p is null).
inline std::string parse_pipeline(const std::string& desc, GstElement** p) {
  GError* err = nullptr;
  *p = gst_parse_launch(desc.c_str(), &err);
  if (*p && !err) return "";
  std::string e = err ? err->message : "parse failed";
  g_clear_error(&err);
  if (*p) gst_object_unref(*p);
  *p = nullptr;
  return e;
}

// Runs a gst-launch description to EOS (bounded). Returns "" or the error text.
inline std::string run_to_eos(const std::string& desc, Seconds timeout) {
  GstElement* p = nullptr;
  const std::string perr = parse_pipeline(desc, &p);
  if (!perr.empty()) return perr;
  std::string result;
  gst_element_set_state(p, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(p);
  GstMessage* m = gst_bus_timed_pop_filtered(
      bus, static_cast<GstClockTime>(timeout.count() * GST_SECOND),
      static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  if (!m) {
    result = "no EOS after " + std::to_string(timeout.count()) + " s";
  } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
    GError* e = nullptr;
    gst_message_parse_error(m, &e, nullptr);
    result = e->message;
    g_clear_error(&e);
  }
  if (m) gst_message_unref(m);
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  return result;
}

// An MP4 of `frames` 320x240 frames at 30 fps, H.264.
inline std::string make_mp4(const std::string& path, int frames) {
  return run_to_eos("videotestsrc num-buffers=" + std::to_string(frames) +
                        " pattern=smpte ! video/x-raw,width=320,height=240,framerate=30/1 ! "
                        "x264enc speed-preset=ultrafast ! mp4mux ! filesink location=\"" + path + "\"",
                    Seconds(60));
}

inline std::vector<std::string> read_file_lines(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> lines;
  std::string l;
  while (std::getline(f, l)) lines.push_back(l);
  return lines;
}

// tiny.ts labels its 10 classes "class N": checks id and label agree and are in range.
inline ::testing::AssertionResult tiny_label_ok(int id, const std::string& label) {
  if (id < 0 || id >= 10) return ::testing::AssertionFailure() << "class id " << id << " not in 0..9";
  if (label != "class " + std::to_string(id))
    return ::testing::AssertionFailure() << "label '" << label << "' for class " << id;
  return ::testing::AssertionSuccess();
}

// Checks JSON Lines of torchmetasink (DESIGN.md schema) from a tiny.ts pipeline on
// `width`x`height` frames: every line parses, `frame` counts from 0, pts strictly
// increases, one full-frame classification a line with tiny.ts's labels, best first.
// `live`: torchclassify ran in live mode, where a frame gets the newest finished result:
// the first lines (before the first result) may have none, every later line has one, and
// each result carries the pts of an earlier (or the same) line as "source-pts". Otherwise
// every line has its own result and no "source-pts". Returns the number of classified lines.
inline size_t check_metasink_lines(const std::vector<std::string>& lines, int width, int height,
                                   const std::string& stream, bool live) {
  using nlohmann::json;
  long long last_pts = -1;
  size_t classified = 0;
  std::vector<long long> seen_pts;
  for (size_t i = 0; i < lines.size(); i++) {
    SCOPED_TRACE("line " + std::to_string(i) + ": " + lines[i]);
    json j;
    try {
      j = json::parse(lines[i]);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not JSON: " << e.what();
      return classified;
    }
    if (!j.is_object()) {
      ADD_FAILURE() << "not a JSON object";
      return classified;
    }
    for (const char* k : {"stream", "frame", "pts", "width", "height", "classifications"})
      if (!j.contains(k)) {
        ADD_FAILURE() << "no '" << k << "'";
        return classified;
      }
    if (!stream.empty()) {
      EXPECT_EQ(j["stream"].get<std::string>(), stream);
    }
    EXPECT_EQ(j["frame"].get<long long>(), static_cast<long long>(i));
    if (!j["pts"].is_number_integer()) {
      ADD_FAILURE() << "pts is not a number";
      return classified;
    }
    const long long pts = j["pts"].get<long long>();
    EXPECT_GT(pts, last_pts) << "pts does not increase";
    last_pts = pts;
    seen_pts.push_back(pts);
    EXPECT_EQ(j["width"].get<int>(), width);
    EXPECT_EQ(j["height"].get<int>(), height);
    const json& cls = j["classifications"];
    if (!cls.is_array()) {
      ADD_FAILURE() << "classifications is not an array";
      return classified;
    }
    if (cls.empty() && live && classified == 0) continue;  // no result finished yet
    if (cls.size() != 1u) {
      ADD_FAILURE() << cls.size() << " classifications, expected 1";
      return classified;
    }
    classified++;
    const json& c = cls[0];
    EXPECT_EQ(c["model"].get<std::string>(), "tiny");
    EXPECT_EQ(c["roi"], json({{"x", 0}, {"y", 0}, {"w", width}, {"h", height}}));
    if (live) {
      if (!c.contains("source-pts") || !c["source-pts"].is_number_integer()) {
        ADD_FAILURE() << "a live result without a source-pts";
      } else {
        const long long src = c["source-pts"].get<long long>();
        EXPECT_LE(src, pts);
        EXPECT_NE(std::find(seen_pts.begin(), seen_pts.end(), src), seen_pts.end())
            << "source-pts " << src << " is the pts of no frame so far";
      }
    } else {
      EXPECT_FALSE(c.contains("source-pts")) << "a frame without its own result";
    }
    const json& labels = c["labels"];
    if (!labels.is_array() || labels.size() != 5u) {  // the default top-k
      ADD_FAILURE() << "not 5 labels";
      continue;
    }
    double prev = 2.0;
    for (const json& l : labels) {
      EXPECT_TRUE(tiny_label_ok(l["id"].get<int>(), l["label"].get<std::string>()));
      const double sc = l["score"].get<double>();
      EXPECT_GE(sc, 0.0);
      EXPECT_LE(sc, prev) << "labels not best first";
      prev = sc;
    }
  }
  return classified;
}

// Parses an app line "frame N pts=H:MM:SS.nnnnnnnnn [source-pts=H:MM:SS.nnnnnnnnn]
// top1=LABEL SCORE" (LABEL may hold spaces). Returns false when it is not one.
struct AppLine {
  long frame = -1;
  long long pts_ns = -1;
  long long source_pts_ns = -1;  // -1: the frame's own result
  std::string label;
  double score = -1;
};
inline bool parse_time(const std::string& t, long long* ns) {
  unsigned h, m, s;
  unsigned long frac;
  char tail;
  if (std::sscanf(t.c_str(), "%u:%u:%u.%lu%c", &h, &m, &s, &frac, &tail) != 4) return false;
  *ns = ((h * 60LL + m) * 60 + s) * 1000000000LL + static_cast<long long>(frac);
  return true;
}
inline bool parse_app_line(const std::string& l, AppLine* out) {
  std::istringstream in(l);
  std::string word, pts, top;
  if (!(in >> word) || word != "frame" || !(in >> out->frame) || !(in >> pts)) return false;
  if (pts.rfind("pts=", 0) != 0 || !parse_time(pts.substr(4), &out->pts_ns)) return false;
  if (!(in >> top)) return false;
  if (top.rfind("source-pts=", 0) == 0) {
    if (!parse_time(top.substr(11), &out->source_pts_ns)) return false;
    if (!(in >> top)) return false;
  }
  if (top.rfind("top1=", 0) != 0) return false;
  std::string rest = top.substr(5), more;
  std::getline(in, more);
  rest += more;
  const size_t sp = rest.rfind(' ');
  if (sp == std::string::npos) return false;
  out->label = rest.substr(0, sp);
  out->score = std::atof(rest.c_str() + sp + 1);
  return true;
}

// Checks app lines: all parse, frames count on from `first_frame`, pts increases, labels
// are tiny.ts's; a source-pts (live mode) is never later than the frame's pts.
inline void check_app_lines(const std::vector<std::string>& lines, long first_frame = 0) {
  long long last_pts = -1;
  for (size_t i = 0; i < lines.size(); i++) {
    SCOPED_TRACE("line " + std::to_string(i) + ": " + lines[i]);
    AppLine a;
    ASSERT_TRUE(parse_app_line(lines[i], &a)) << "not a 'frame N pts=... top1=LABEL SCORE' line";
    EXPECT_EQ(a.frame, first_frame + static_cast<long>(i));
    EXPECT_GT(a.pts_ns, last_pts) << "pts does not increase";
    last_pts = a.pts_ns;
    if (a.source_pts_ns >= 0) {
      EXPECT_LE(a.source_pts_ns, a.pts_ns);
    }
    ASSERT_EQ(a.label.rfind("class ", 0), 0u) << a.label;
    EXPECT_TRUE(tiny_label_ok(std::atoi(a.label.c_str() + 6), a.label));
    EXPECT_GT(a.score, 0.0);
    EXPECT_LE(a.score, 1.0);
  }
}

}  // namespace ta_test

namespace ta_test {

// Counts the buffers that reach the sink pad of the element named "sink" in `pipeline`
// into `*n` (which must outlive the pipeline). false when there is no such element.
inline bool count_sink_buffers(GstElement* pipeline, std::atomic<int>* n) {
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  if (!sink) return false;
  GstPad* pad = gst_element_get_static_pad(sink, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad*, GstPadProbeInfo*, gpointer c) {
        static_cast<std::atomic<int>*>(c)->fetch_add(1);
        return GST_PAD_PROBE_OK;
      }, n, nullptr);
  gst_object_unref(pad);
  gst_object_unref(sink);
  return true;
}

// Runs `desc`, a pipeline whose sink is named "sink", until `n` buffers have reached the
// sink (or an error, or `timeout`), then ends it with EOS (an EOS event sent to the
// pipeline, as gst-launch-1.0 -e does) and waits for the EOS message. Returns "" or what
// went wrong; `*buffers` gets the count at the sink.
inline std::string run_until_buffers(const std::string& desc, int n, Seconds timeout, int* buffers) {
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &err);
  if (!p || err) {
    std::string e = "cannot parse '" + desc + "': " + (err ? err->message : "?");
    g_clear_error(&err);
    if (p) gst_object_unref(p);
    return e;
  }
  std::atomic<int> count{0};
  if (!count_sink_buffers(p, &count)) {
    gst_object_unref(p);
    return "no element named 'sink' in '" + desc + "'";
  }

  std::string result;
  GstBus* bus = gst_element_get_bus(p);
  if (gst_element_set_state(p, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    result = "the pipeline did not start";
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout);
  while (result.empty() && count.load() < n) {
    if (Clock::now() > deadline) {
      result = "only " + std::to_string(count.load()) + " buffers after " +
               std::to_string(timeout.count()) + " s";
      break;
    }
    GstMessage* m = gst_bus_timed_pop_filtered(bus, 50 * GST_MSECOND, GST_MESSAGE_ERROR);
    if (m) {
      GError* e = nullptr;
      gchar* dbg = nullptr;
      gst_message_parse_error(m, &e, &dbg);
      result = std::string("error from ") + GST_OBJECT_NAME(m->src) + ": " + e->message +
               " (" + (dbg ? dbg : "") + ")";
      g_clear_error(&e);
      g_free(dbg);
      gst_message_unref(m);
    }
  }
  if (result.empty()) {
    gst_element_send_event(p, gst_event_new_eos());
    GstMessage* m = gst_bus_timed_pop_filtered(bus, 15 * GST_SECOND,
        static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    if (!m)
      result = "no EOS within 15 s of sending it";
    else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR)
      result = "an error instead of EOS";
    if (m) gst_message_unref(m);
  }
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(p);
  if (buffers) *buffers = count.load();
  return result;
}

}  // namespace ta_test
