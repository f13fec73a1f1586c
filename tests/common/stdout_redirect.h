// Points file descriptor 1 at a file for the object's lifetime (or until restore()), and
// back at the old stdout afterwards: for checking what an element writes to stdout.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace ta_test {

class StdoutRedirect {
 public:
  explicit StdoutRedirect(const std::string& path) {
    fflush(stdout);
    saved_ = dup(STDOUT_FILENO);
    const int fd = open(path.c_str(), O_WRONLY | O_TRUNC | O_CREAT, 0644);
    EXPECT_GE(fd, 0) << "cannot open " << path;
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      close(fd);
    }
  }
  ~StdoutRedirect() { restore(); }
  StdoutRedirect(const StdoutRedirect&) = delete;
  StdoutRedirect& operator=(const StdoutRedirect&) = delete;
  void restore() {
    if (saved_ < 0) return;
    fflush(stdout);
    dup2(saved_, STDOUT_FILENO);
    close(saved_);
    saved_ = -1;
  }

 private:
  int saved_ = -1;
};

}  // namespace ta_test
