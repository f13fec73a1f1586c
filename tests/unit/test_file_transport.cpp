// ta::FileTransport (JSON Lines to a file or stdout) and ta::make_sink_transports (which
// transports torchmetasink's location and mqtt-host ask for). GStreamer-free.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "error.h"
#include "transports/file_transport.h"
#include "transports/sink_transports.h"

using namespace ta;
using std::chrono::milliseconds;

namespace {

std::string tmp_path(const std::string& name) {
  const std::string p = ::testing::TempDir() + "/ta-file-transport-" + std::to_string(getpid()) + "-" + name;
  std::remove(p.c_str());
  return p;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs `fn` and returns the error it threw; fails the test when it threw none.
template <typename F>
Error error_of(F fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no ta::Error";
  return Error(ErrorKind::Stream, "none");
}

// Caps the size of files this process writes (RLIMIT_FSIZE) while it lives: a write
// past it is cut short and then fails with EFBIG, as a full disk takes part of a write.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &old_);
    old_handler_ = signal(SIGXFSZ, SIG_IGN);
    rlimit r = old_;
    r.rlim_cur = bytes;
    ok_ = setrlimit(RLIMIT_FSIZE, &r) == 0;
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &old_);
    signal(SIGXFSZ, old_handler_);
  }
  bool ok() const { return ok_; }

 private:
  rlimit old_{};
  void (*old_handler_)(int) = nullptr;
  bool ok_ = false;
};

}  // namespace

TEST(FileTransport, WritesWholeLinesAndTruncatesOnStart) {
  const std::string p = tmp_path("lines.jsonl");
  std::ofstream(p) << "old content that must go\n";
  FileTransport t(p);
  EXPECT_EQ(t.where(), p);
  EXPECT_FALSE(t.stats().connected);
  t.start();
  EXPECT_TRUE(t.stats().connected);
  EXPECT_EQ(slurp(p), "");
  t.publish("cam0", "{\"a\":1}");
  // Flushed at once: a reader sees the line before the next one is written.
  EXPECT_EQ(slurp(p), "{\"a\":1}\n");
  t.publish("cam0", "{\"b\":2}");
  EXPECT_EQ(t.flush(milliseconds(0)), 0u);
  EXPECT_EQ(t.stats().published, 2u);
  EXPECT_EQ(t.stop(milliseconds(0)), 0u);
  EXPECT_FALSE(t.stats().connected);
  EXPECT_EQ(slurp(p), "{\"a\":1}\n{\"b\":2}\n");
  EXPECT_EQ(t.stop(milliseconds(0)), 0u);  // a second stop does nothing

  // Started again: the file starts again.
  t.start();
  t.publish("", "{}");
  t.stop(milliseconds(0));
  EXPECT_EQ(slurp(p), "{}\n");
  std::remove(p.c_str());
}

TEST(FileTransport, UnwritableLocationFailsToStart_n) {
  const std::string p = tmp_path("no-such-dir") + "/out.jsonl";
  FileTransport t(p);
  const Error e = error_of([&] { t.start(); });
  EXPECT_EQ(e.kind(), ErrorKind::OpenWrite);
  EXPECT_NE(std::string(e.what()).find("Could not open \"" + p + "\" for writing: No such file or directory."),
            std::string::npos)
      << e.what();
  EXPECT_FALSE(t.stats().connected);
}

TEST(FileTransport, PublishBeforeStartIsAnError_n) {
  FileTransport t(tmp_path("never.jsonl"));
  EXPECT_EQ(error_of([&] { t.publish("", "{}"); }).kind(), ErrorKind::Write);
}

TEST(FileTransport, FullDiskIsNoSpaceLeft_n) {
  if (access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no writable /dev/full on this machine";
  FileTransport t("/dev/full");
  t.start();
  const Error e = error_of([&] { t.publish("", "{\"frame\":0}"); });
  EXPECT_EQ(e.kind(), ErrorKind::NoSpaceLeft);
  EXPECT_NE(std::string(e.what()).find("Could not write to \"/dev/full\": No space left on device."),
            std::string::npos)
      << e.what();
  EXPECT_NE(std::string(e.what()).find("Free space on its file system"), std::string::npos) << e.what();
  EXPECT_NE(e.detail().find("keeps the 0 whole lines"), std::string::npos) << e.detail();
  EXPECT_EQ(t.stats().published, 0u);
  EXPECT_NO_THROW(t.stop(milliseconds(0)));
}

TEST(FileTransport, AFailedWriteLeavesOnlyWholeLines_n) {
  const std::string p = tmp_path("cut.jsonl");
  const std::string line(99, 'x');  // 100 bytes with its newline
  FileTransport t(p);
  t.start();
  {
    // Room for 3 lines and half of the fourth: the fourth is written in part, then fails.
    FileSizeLimit limit(350);
    if (!limit.ok()) GTEST_SKIP() << "setrlimit(RLIMIT_FSIZE) failed";
    for (int i = 0; i < 3; i++) t.publish("", line);
    const Error e = error_of([&] { t.publish("", line); });
    EXPECT_EQ(e.kind(), ErrorKind::Write) << e.what();  // EFBIG: not a full disk
    EXPECT_NE(std::string(e.what()).find("Could not write to \"" + p + "\""), std::string::npos) << e.what();
    EXPECT_NE(e.detail().find("keeps the 3 whole lines before it"), std::string::npos) << e.detail();
    EXPECT_EQ(e.detail().find("maybe part"), std::string::npos) << "the part was not cut: " << e.detail();
    EXPECT_EQ(t.stats().published, 3u);
  }
  // The limit is gone: the next line follows the last whole one.
  t.publish("", "{}");
  t.stop(milliseconds(0));
  EXPECT_EQ(slurp(p), line + "\n" + line + "\n" + line + "\n{}\n");
  std::remove(p.c_str());
}

TEST(FileTransport, StdoutIsFlushedNeverClosed) {
  for (const char* location : {"", "-"}) {
    SCOPED_TRACE(std::string("location \"") + location + "\"");
    const std::string p = tmp_path("stdout.txt");
    fflush(stdout);
    const int saved = dup(STDOUT_FILENO);
    const int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(saved, 0);
    ASSERT_GE(fd, 0);
    dup2(fd, STDOUT_FILENO);
    close(fd);
    {
      FileTransport t(location);
      EXPECT_EQ(t.where(), "stdout");
      t.start();
      t.publish("", "{\"to\":\"stdout\"}");
      t.stop(milliseconds(0));
    }
    const bool still_open = fcntl(STDOUT_FILENO, F_GETFD) != -1 && fileno(stdout) == STDOUT_FILENO;
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    EXPECT_TRUE(still_open);
    EXPECT_EQ(slurp(p), "{\"to\":\"stdout\"}\n");
    std::remove(p.c_str());
  }
}

TEST(FileTransport, AFileNamedStdoutIsAFile) {
  const std::string dir = tmp_path("dir");
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  const std::string p = dir + "/stdout";
  FileTransport t(p);
  t.start();
  t.publish("", "{}");
  t.stop(milliseconds(0));
  EXPECT_EQ(slurp(p), "{}\n");
  std::remove(p.c_str());
  rmdir(dir.c_str());
}

// The output rule of torchmetasink (docs/elements/torchmetasink.md, location).
TEST(SinkTransports, FileOrStdoutWithoutMqtt) {
  MqttOptions mqtt;
  for (const char* location : {"", "-"}) {
    SinkTransports t = make_sink_transports(location, mqtt, {});
    ASSERT_EQ(t.all.size(), 1u);
    EXPECT_EQ(t.mqtt, nullptr);
    EXPECT_EQ(t.all[0]->where(), "stdout");
  }
  SinkTransports t = make_sink_transports("out.jsonl", mqtt, {});
  ASSERT_EQ(t.all.size(), 1u);
  EXPECT_EQ(t.all[0]->where(), "out.jsonl");  // constructed only: nothing is created
  EXPECT_TRUE(mqtt.client_id.empty());
}

TEST(SinkTransports, WithMqttOnlyANamedFileOrDashIsWritten) {
  MqttOptions mqtt;
  mqtt.host = "127.0.0.1";
  mqtt.port = 1;
  if (!have_mqtt()) {
    EXPECT_EQ(error_of([&] { make_sink_transports("", mqtt, {}); }).kind(), ErrorKind::NotImplemented);
    GTEST_SKIP() << "built without libmosquitto: only the NotImplemented error is checked";
  }
  {
    SinkTransports t = make_sink_transports("", mqtt, {});
    ASSERT_EQ(t.all.size(), 1u);
    EXPECT_EQ(t.mqtt, t.all[0].get());
    EXPECT_EQ(t.mqtt->where(), "127.0.0.1:1");
    // A client id was made, and the caller sees it.
    EXPECT_EQ(mqtt.client_id.rfind("torchmetasink-", 0), 0u) << mqtt.client_id;
  }
  for (const char* location : {"-", "out.jsonl"}) {
    SinkTransports t = make_sink_transports(location, mqtt, {});
    ASSERT_EQ(t.all.size(), 2u);
    EXPECT_EQ(t.mqtt, t.all[0].get()) << "MQTT first";
    EXPECT_EQ(t.all[1]->where(), std::string(location) == "-" ? "stdout" : location);
  }
  mqtt.topic = "a/#";
  const Error e = error_of([&] { make_sink_transports("", mqtt, {}); });
  EXPECT_EQ(e.kind(), ErrorKind::Settings);
  EXPECT_NE(std::string(e.what()).find("\"a/#\" is not valid"), std::string::npos) << e.what();
}
