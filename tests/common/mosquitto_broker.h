// A real MQTT broker for the tests: a `mosquitto` child process on a free loopback port,
// with a configuration of the test's choosing, in a temporary folder of its own.
//
// Every wait is bounded. The broker is killed when its owner goes away, even when a check
// failed (RAII), and with the test process itself (PR_SET_PDEATHSIG).
#pragma once

#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "net_helpers.h"

namespace ta_test {

// Where mosquitto is, or "" (Debian: package mosquitto).
inline std::string mosquitto_path() { return find_program("mosquitto", "/usr/sbin/mosquitto"); }

// The whole file, or "" when it cannot be read.
inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Writes `text` to `path` (replacing it), readable by all: a broker started as root reads
// its files as the `mosquitto` user.
inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  g_chmod(path.c_str(), 0644);
}

// A temporary folder, removed with what it holds.
class TempDir {
 public:
  TempDir() {
    GError* err = nullptr;
    gchar* d = g_dir_make_tmp("ta-mqtt-XXXXXX", &err);
    EXPECT_NE(d, nullptr) << (err ? err->message : "");
    g_clear_error(&err);
    path_ = d ? d : "";
    g_free(d);
    // The broker, started as root, drops to the `mosquitto` user: it must still be able
    // to write its persistence file here.
    if (!path_.empty()) g_chmod(path_.c_str(), 0777);
  }
  ~TempDir() {
    if (path_.empty()) return;
    GDir* dir = g_dir_open(path_.c_str(), 0, nullptr);
    if (dir) {
      while (const gchar* n = g_dir_read_name(dir)) g_unlink((path_ + "/" + n).c_str());
      g_dir_close(dir);
    }
    g_rmdir(path_.c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // "" when no folder could be made.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A mosquitto broker child listening on 127.0.0.1:port().
class MosquittoBroker {
 public:
  using Clock = std::chrono::steady_clock;

  // `extra`: more configuration lines. The port is chosen here.
  explicit MosquittoBroker(std::string extra = "") : extra_(std::move(extra)) {}
  ~MosquittoBroker() { kill_now(); }
  MosquittoBroker(const MosquittoBroker&) = delete;
  MosquittoBroker& operator=(const MosquittoBroker&) = delete;

  const std::string& dir() const { return dir_.path(); }
  int port() const { return port_; }
  // The configuration lines of the next start().
  void set_extra(std::string extra) { extra_ = std::move(extra); }

  // Starts the broker (on a fresh free port the first time, on the same one after that)
  // and waits until it accepts TCP connections. False, with the reason in `why`, when it
  // did not come up within 10 s.
  bool start(std::string* why) {
    if (dir().empty()) {
      *why = "no temporary folder for the broker";
      return false;
    }
    const std::string exe = mosquitto_path();
    if (exe.empty()) {
      *why = "mosquitto not found (Debian: apt-get install mosquitto)";
      return false;
    }
    for (int attempt = 0; attempt < 3; attempt++) {
      if (port_ < 0 || (attempt > 0 && !restarted_)) port_ = free_port();
      if (port_ < 0) {
        *why = "no free port";
        return false;
      }
      conf_ = dir() + "/mosquitto.conf";
      log_ = dir() + "/mosquitto.log";
      write_text(conf_, "listener " + std::to_string(port_) + " 127.0.0.1\n" +
                            "persistence_location " + dir() + "/\n" + extra_);
      if (spawn(exe) && wait_ready(std::chrono::seconds(10))) {
        restarted_ = true;  // from now on the same port: clients reconnect to it
        return true;
      }
      kill_now();
    }
    *why = "the broker did not accept connections on port " + std::to_string(port_) + "; its log:\n" +
           read_text(log_);
    return false;
  }

  // Stops the broker with `sig` and waits (5 s at most, then SIGKILL) until it exited.
  void stop(int sig = SIGTERM) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (Clock::now() < deadline) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    kill_now();
  }

  std::string log() const { return read_text(log_); }

 private:
  bool spawn(const std::string& exe) {
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
      // The broker dies with the test, even when the test crashes.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      const int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
      }
      execl(exe.c_str(), exe.c_str(), "-c", conf_.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    pid_ = pid;
    return true;
  }

  bool wait_ready(std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;  // exited: port taken, bad configuration
        return false;
      }
      if (accepts_tcp(port_)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  void kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  TempDir dir_;
  std::string extra_;
  std::string conf_, log_;
  int port_ = -1;
  bool restarted_ = false;
  pid_t pid_ = -1;
};

}  // namespace ta_test
