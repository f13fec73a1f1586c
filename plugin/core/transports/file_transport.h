// JSON Lines to a file or to stdout. Each line is written whole and flushed at once, so
// that a reader following the file never sees half a line and nothing waits in a buffer
// when the process stops. When a write fails (a full disk takes part of one), the part
// of the line that reached the file is cut off again: the file always ends with the last
// whole line.
#pragma once

#include "transport.h"

#include <sys/types.h>

#include <atomic>
#include <cstdio>
#include <string>

namespace ta {

class FileTransport final : public Transport {
 public:
  // `location`: a path, created or truncated by start(); "" or "-": stdout, which is
  // flushed but never closed.
  explicit FileTransport(std::string location);
  ~FileTransport() override;

  FileTransport(const FileTransport&) = delete;
  FileTransport& operator=(const FileTransport&) = delete;

  static bool is_stdout(const std::string& location) { return location.empty() || location == "-"; }

  void start() override;
  // Writes `payload` and a newline; `key` is not used.
  void publish(const std::string& key, const std::string& payload) override;
  size_t flush(std::chrono::milliseconds bound) override;
  size_t stop(std::chrono::milliseconds drain) override;
  TransportStats stats() const override;
  uint64_t dropped() const override { return 0; }
  std::string where() const override { return path_; }

 private:
  [[noreturn]] void write_failed(int errsv, size_t bytes);

  bool to_stdout_;
  std::string path_;          // what messages call the output: the path, or "stdout"
  FILE* file_ = nullptr;
  std::string line_;          // the line being written (kept to save an allocation)
  off_t complete_bytes_ = 0;  // the file's size after the last whole line
  std::atomic<uint64_t> lines_{0};
  std::atomic<bool> open_{false};
};

}  // namespace ta
