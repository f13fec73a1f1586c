// Loopback sockets and system programs for the tests that start real servers (mosquitto,
// the RTSP test server): a free port, whether something accepts on it, where a program is.
#pragma once

#include <arpa/inet.h>
#include <glib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace ta_test {

// A loopback port nobody listens on now (the kernel's pick for an ephemeral bind).
inline int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

// Whether something accepts TCP connections on 127.0.0.1:port.
inline bool accepts_tcp(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

// `usual` when it is an executable, else `name` on PATH, else "".
inline std::string find_program(const char* name, const char* usual) {
  if (g_file_test(usual, G_FILE_TEST_IS_EXECUTABLE)) return usual;
  gchar* p = g_find_program_in_path(name);
  std::string s = p ? p : "";
  g_free(p);
  return s;
}

}  // namespace ta_test
