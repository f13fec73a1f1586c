/* The shared HTTP server: see http.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "http.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace ta_app {

HttpServer::HttpServer() {
  // No "server-header": the server does not advertise itself.
  server_ = soup_server_new(nullptr, nullptr);
}

HttpServer::~HttpServer() {
  soup_server_disconnect(server_);
  g_object_unref(server_);
}

bool HttpServer::listen(const std::string &address, int port, const std::string &name,
    int *bound_port, std::string *error) {
  if (port > 0) {
    auto it = names_by_port_.find(port);
    if (it != names_by_port_.end()) {
      // One port, one address: a listener never widens another's reach (control on
      // 0.0.0.0 because metrics asked for it).
      if (address_by_port_[port] != address) {
        *error = "port " + std::to_string(port) + " already listens on " +
                 address_by_port_[port] + " for " + it->second.front() +
                 ": give the same address or another port";
        return false;
      }
      if (std::find(it->second.begin(), it->second.end(), name) == it->second.end())
        it->second.push_back(name);
      if (bound_port)
        *bound_port = port;
      return true;
    }
  }
  if (port < 0 || port > 65535) {
    *error = "port " + std::to_string(port) + " is not in 0..65535";
    return false;
  }
  GSocketAddress *addr = g_inet_socket_address_new_from_string(address.c_str(), (guint)port);
  if (!addr) {
    *error = "'" + address + "' is not an IP address (give e.g. 127.0.0.1, ::1 or 0.0.0.0)";
    return false;
  }
  // The listening sockets there were, to find the one this call adds.
  GSList *before = soup_server_get_listeners(server_);

  GError *err = nullptr;
  const gboolean ok = soup_server_listen(server_, addr, (SoupServerListenOptions)0, &err);
  g_object_unref(addr);
  if (!ok) {
    g_slist_free(before);
    *error = "cannot listen on " + address + ":" + std::to_string(port) + ": " + err->message;
    g_clear_error(&err);
    return false;
  }
  int actual = port;
  GSList *listeners = soup_server_get_listeners(server_);
  for (GSList *l = listeners; l && port == 0; l = l->next) {
    if (g_slist_find(before, l->data))
      continue;
    GSocketAddress *local = g_socket_get_local_address(G_SOCKET(l->data), nullptr);
    if (local) {
      actual = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
      g_object_unref(local);
    }
  }
  g_slist_free(listeners);
  g_slist_free(before);
  names_by_port_[actual].push_back(name);
  address_by_port_[actual] = address;
  if (bound_port)
    *bound_port = actual;
  return true;
}

bool HttpServer::has_listener(const std::string &name) const {
  for (const auto &p : names_by_port_)
    if (std::find(p.second.begin(), p.second.end(), name) != p.second.end())
      return true;
  return false;
}

void HttpServer::add_handler(const std::string &path, const std::string &listener,
    Handler handler) {
  auto &routes = routes_[path];
  if (routes.empty())
    soup_server_add_handler(server_, path.c_str(), on_request, this, nullptr);
  for (auto &r : routes) {
    if (r.listener == listener) {
      r.handler = std::move(handler);
      return;
    }
  }
  routes.push_back(Route{listener, std::move(handler)});
}

void HttpServer::remove_handler(const std::string &path, const std::string &listener) {
  auto it = routes_.find(path);
  if (it == routes_.end())
    return;
  auto &routes = it->second;
  routes.erase(std::remove_if(routes.begin(), routes.end(),
      [&](const Route &r) { return r.listener == listener; }), routes.end());
  if (routes.empty()) {
    soup_server_remove_handler(server_, path.c_str());
    routes_.erase(it);
  }
}

const std::vector<std::string> *HttpServer::names_for(SoupServerMessage *msg) const {
  GSocketAddress *local = soup_server_message_get_local_address(msg);  // not owned
  if (!local || !G_IS_INET_SOCKET_ADDRESS(local))
    return nullptr;
  const int port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
  auto it = names_by_port_.find(port);
  return it == names_by_port_.end() ? nullptr : &it->second;
}

void HttpServer::on_request(SoupServer *, SoupServerMessage *msg, const char *path,
    GHashTable *, gpointer user_data) {
  HttpServer *self = static_cast<HttpServer *>(user_data);
  const std::vector<std::string> *names = self->names_for(msg);
  // The longest registered prefix of `path` is the one soup called us for.
  const Route *route = nullptr;
  size_t best = 0;
  for (const auto &p : self->routes_) {
    const std::string &prefix = p.first;
    const bool match = prefix == path ||
        (g_str_has_prefix(path, prefix.c_str()) &&
         (prefix.back() == '/' || path[prefix.size()] == '/'));
    if (!match || prefix.size() < best)
      continue;
    for (const auto &r : p.second) {
      if (names && std::find(names->begin(), names->end(), r.listener) != names->end()) {
        route = &r;
        best = prefix.size();
      }
    }
  }
  if (!route) {
    respond_error(msg, 404, std::string("no ") + path + " on this port");
    return;
  }
  route->handler(msg, path);
}

void HttpServer::respond(SoupServerMessage *msg, int status, const char *content_type,
    const std::string &body) {
  soup_server_message_set_status(msg, (guint)status, nullptr);
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Cache-Control",
      "no-store");
  soup_server_message_set_response(msg, content_type, SOUP_MEMORY_COPY, body.data(), body.size());
}

void HttpServer::respond_error(SoupServerMessage *msg, int status, const std::string &message) {
  respond(msg, status, "application/json", nlohmann::json{{"error", message}}.dump() + "\n");
}

std::string HttpServer::request_body(SoupServerMessage *msg) {
  SoupMessageBody *body = soup_server_message_get_request_body(msg);
  if (!body)
    return "";
  GBytes *bytes = soup_message_body_flatten(body);
  gsize n = 0;
  const char *data = static_cast<const char *>(g_bytes_get_data(bytes, &n));
  std::string s(data ? data : "", n);
  g_bytes_unref(bytes);
  return s;
}

}  // namespace ta_app
