/* The application's one HTTP server (libsoup 3), shared by its modules.
 *
 * One SoupServer listens on one or more ports; each port has one or more *listener names*
 * ("metrics", "control", "web", ...): `--metrics-port`, `--control-port` and `--http-port`
 * may be the same port or different ones. A module adds handlers for a path on the listener
 * names it serves; a request for that path on a port that does not carry one of those names
 * gets 404, so e.g. the control endpoints exist only on the control port, and nowhere when
 * there is no `--control-port`.
 *
 * Everything here runs on the thread of the GMainContext that was the thread default when
 * the server was made (the app's main loop): handlers are called there, and the methods
 * must be called there too. Handlers that need data of the streaming threads read it
 * through the thread-safe Camera API (camera.h).
 *
 * Typical use (main.cpp):
 *
 *   ta_app::HttpServer http;
 *   int port = 0;
 *   std::string err;
 *   if (!http.listen("127.0.0.1", 9100, "metrics", &port, &err)) ...;
 *   http.add_handler("/metrics", "metrics", [](SoupServerMessage *msg, const char *path) {
 *     ta_app::HttpServer::respond(msg, 200, "text/plain; version=0.0.4", body);
 *   });
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <libsoup/soup.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ta_app {

class HttpServer {
 public:
  // Called on the main thread for a request whose path is `path` or below it (soup's
  // matching: the handler of the longest registered prefix wins). The handler must set a
  // status on `msg` (respond() does), or pause the message (soup_server_message_pause)
  // and finish it later, e.g. for a stream such as Server-Sent Events or MJPEG.
  using Handler = std::function<void(SoupServerMessage *msg, const char *path)>;

  HttpServer();
  ~HttpServer();
  HttpServer(const HttpServer &) = delete;
  HttpServer &operator=(const HttpServer &) = delete;

  // Listens on `address` (an IPv4 or IPv6 literal such as "127.0.0.1", "::1", "0.0.0.0")
  // and `port` (0: a free one), serving the listener `name` there. When that address and
  // port already listen (another name asked for the same port), `name` is added to it;
  // the same port on another address is an error.
  // `*bound_port` (may be null) gets the port. false with `*error` set when it cannot
  // listen (the port is taken, the address is not one of this host...).
  bool listen(const std::string &address, int port, const std::string &name, int *bound_port,
      std::string *error);

  // Whether some port serves the listener `name`.
  bool has_listener(const std::string &name) const;

  // Adds `handler` for `path` on the ports that serve `listener`. Several listeners may
  // have handlers for the same path (each port gets its own). A second handler for the
  // same path and listener replaces the first.
  void add_handler(const std::string &path, const std::string &listener, Handler handler);
  void remove_handler(const std::string &path, const std::string &listener);

  // The server itself, for what this class does not wrap (e.g. WebSocket handlers).
  // Handlers added to it directly are served on every port.
  SoupServer *server() const { return server_; }

  // Finishes `msg` with `status` and `body` of type `content_type`.
  static void respond(SoupServerMessage *msg, int status, const char *content_type,
      const std::string &body);
  // A JSON error {"error": "..."} with `status`.
  static void respond_error(SoupServerMessage *msg, int status, const std::string &message);
  // The request body as a string ("" when none).
  static std::string request_body(SoupServerMessage *msg);

 private:
  struct Route {
    std::string listener;
    Handler handler;
  };
  static void on_request(SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *,
      gpointer self);
  // The listener names served on the port `msg` came in on.
  const std::vector<std::string> *names_for(SoupServerMessage *msg) const;

  SoupServer *server_ = nullptr;
  std::map<int, std::vector<std::string>> names_by_port_;  // bound port -> listener names
  std::map<int, std::string> address_by_port_;             // bound port -> its address
  std::map<std::string, std::vector<Route>> routes_;       // path -> routes
};

}  // namespace ta_app
