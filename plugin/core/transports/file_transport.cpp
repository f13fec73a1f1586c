// JSON Lines to a file or stdout: see file_transport.h.
#include "file_transport.h"

#include "error.h"

#include <stdio_ext.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ta {

namespace {

// A failed write: NoSpaceLeft with a hint for a full disk or quota, else Write.
Error write_error(const std::string& path, int errsv, const std::string& detail) {
  const bool full = errsv == ENOSPC || errsv == EDQUOT;
  return Error(full ? ErrorKind::NoSpaceLeft : ErrorKind::Write,
               "Could not write to \"" + path + "\": " + (errsv ? std::strerror(errsv) : "short write") + "." +
                   (full ? " Free space on its file system, or set location to a file on a disk with room." : ""),
               detail);
}

}  // namespace

FileTransport::FileTransport(std::string location)
    : to_stdout_(is_stdout(location)), path_(to_stdout_ ? std::string("stdout") : std::move(location)) {}

FileTransport::~FileTransport() {
  // stop() closes the file; this only covers a transport destroyed while started.
  if (file_ && !to_stdout_) fclose(file_);
}

void FileTransport::start() {
  if (file_) return;
  complete_bytes_ = 0;
  lines_ = 0;
  if (to_stdout_) {
    file_ = stdout;
  } else {
    file_ = fopen(path_.c_str(), "w");
    if (!file_) {
      const int errsv = errno;
      throw Error(ErrorKind::OpenWrite, "Could not open \"" + path_ + "\" for writing: " + std::strerror(errsv) + ".",
                  "fopen (\"" + path_ + "\", \"w\") failed: " + std::strerror(errsv));
    }
  }
  open_ = true;
}

void FileTransport::write_failed(int errsv, size_t bytes) {
  // Keep what was written whole: drop what stdio still holds of this line and cut the
  // part of it that reached the file, so that the file ends with the last complete line.
  bool cut = false;
  if (!to_stdout_) {
    __fpurge(file_);
    cut = ftruncate(fileno(file_), complete_bytes_) == 0 && fseeko(file_, complete_bytes_, SEEK_SET) == 0;
  }
  clearerr(file_);
  const std::string n = std::to_string(lines_);
  throw write_error(path_, errsv,
                    "line " + n + " (from 0), " + std::to_string(bytes) + " bytes; the file keeps the " + n +
                        " whole lines before it" + (cut ? "" : " (and maybe part of this one)"));
}

void FileTransport::publish(const std::string&, const std::string& payload) {
  if (!file_) throw Error(ErrorKind::Write, "No file open for writing.", "publish called before start");
  line_.assign(payload);
  line_ += '\n';
  // One fwrite of the whole line, then a flush.
  errno = 0;
  if (fwrite(line_.data(), 1, line_.size(), file_) != line_.size() || fflush(file_) != 0)
    write_failed(errno, line_.size());
  complete_bytes_ += static_cast<off_t>(line_.size());
  lines_++;
}

size_t FileTransport::flush(std::chrono::milliseconds) {
  errno = 0;
  if (file_ && fflush(file_) != 0) {
    const int errsv = errno;
    clearerr(file_);
    throw write_error(path_, errsv, "fflush failed");
  }
  return 0;
}

size_t FileTransport::stop(std::chrono::milliseconds) {
  if (!file_) return 0;
  // Lines are flushed as they are written: a failure here is the close itself (a network
  // file system reporting a delayed write error). The file is gone either way.
  errno = 0;
  const int rc = to_stdout_ ? fflush(file_) : fclose(file_);
  const int errsv = errno;
  file_ = nullptr;
  open_ = false;
  if (rc != 0) throw Error(ErrorKind::Close, "Could not close \"" + path_ + "\": " + std::strerror(errsv) + ".");
  return 0;
}

TransportStats FileTransport::stats() const {
  TransportStats s;
  s.published = lines_;
  s.connected = open_;
  return s;
}

}  // namespace ta
