// Helpers of the web tests: plain HTTP over loopback sockets (for what a polite client
// would not send, and for clients that stop reading), a JPEG's size, PNG checks.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace ta_test {

// A TCP connection to 127.0.0.1:port; -1 when none. `rcvbuf` > 0: that receive buffer
// (set before connecting, so the window stays small), for a client that reads slowly.
inline int connect_loopback(int port, int rcvbuf = 0) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

inline bool send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads until the peer closes, `max` bytes came, or nothing came for `idle_ms`.
// `*closed` (when given): whether the peer closed (or reset) the connection.
inline std::string read_some(int fd, size_t max, int idle_ms, bool* closed = nullptr) {
  std::string out;
  char buf[16384];
  if (closed) *closed = false;
  while (out.size() < max) {
    pollfd p{fd, POLLIN, 0};
    const int r = poll(&p, 1, idle_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    const ssize_t n = ::recv(fd, buf, std::min(sizeof buf, max - out.size()), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (closed) *closed = true;
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// One raw request; the response (or what came of it). The connection is closed after.
inline std::string raw_request(int port, const std::string& request, int idle_ms = 3000) {
  const int fd = connect_loopback(port);
  if (fd < 0) return "";
  send_all(fd, request);
  std::string r = read_some(fd, 1 << 20, idle_ms);
  close(fd);
  return r;
}

// "HTTP/1.1 404 Not Found\r\n..." -> 404; 0 when it is not a status line.
inline int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return 0;
  return std::atoi(response.c_str() + 9);
}

// The body of a raw response with "Transfer-Encoding: chunked", its chunks joined (as far
// as they came); the raw body when it is not chunked.
inline std::string http_body(const std::string& raw) {
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return "";
  const std::string head = raw.substr(0, end);
  std::string rest = raw.substr(end + 4);
  if (head.find("Transfer-Encoding: chunked") == std::string::npos) return rest;
  std::string out;
  size_t i = 0;
  while (i < rest.size()) {
    const size_t nl = rest.find("\r\n", i);
    if (nl == std::string::npos) break;
    const size_t n = std::strtoul(rest.c_str() + i, nullptr, 16);
    if (n == 0 || nl + 2 + n > rest.size()) {
      if (n > 0) out += rest.substr(nl + 2);  // a chunk that is still coming
      break;
    }
    out += rest.substr(nl + 2, n);
    i = nl + 2 + n + 2;
  }
  return out;
}

// Width and height from a baseline or progressive JPEG's SOF marker; false when none.
inline bool jpeg_size(const std::string& jpg, int* w, int* h) {
  if (jpg.size() < 4 || static_cast<unsigned char>(jpg[0]) != 0xFF ||
      static_cast<unsigned char>(jpg[1]) != 0xD8)
    return false;
  size_t i = 2;
  while (i + 9 < jpg.size()) {
    if (static_cast<unsigned char>(jpg[i]) != 0xFF) return false;
    const unsigned char m = static_cast<unsigned char>(jpg[i + 1]);
    const size_t len = (static_cast<unsigned char>(jpg[i + 2]) << 8) | static_cast<unsigned char>(jpg[i + 3]);
    if (m == 0xC0 || m == 0xC1 || m == 0xC2) {
      *h = (static_cast<unsigned char>(jpg[i + 5]) << 8) | static_cast<unsigned char>(jpg[i + 6]);
      *w = (static_cast<unsigned char>(jpg[i + 7]) << 8) | static_cast<unsigned char>(jpg[i + 8]);
      return true;
    }
    i += 2 + len;
  }
  return false;
}

// Resident memory of a process, kB (from /proc); -1 when unknown.
inline long rss_kb(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string l;
  while (std::getline(f, l))
    if (l.rfind("VmRSS:", 0) == 0) return std::atol(l.c_str() + 6);
  return -1;
}

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

}  // namespace ta_test
