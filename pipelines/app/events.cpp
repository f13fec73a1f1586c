/* EventHub: see events.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "events.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <mutex>
#include <vector>

#include "web/page.h"

namespace ta_app {

namespace {

// Events published while the main context is busy wait here; past this many the oldest go
// (the main loop is stuck, and a browser gets the state again from /api/cameras).
constexpr size_t kMaxPending = 4096;

struct Client {
  EventHub::Impl *hub = nullptr;
  SoupServerMessage *msg = nullptr;  // a reference
  gulong chunk_id = 0, finished_id = 0;
  std::deque<size_t> sizes;  // of the chunks handed to libsoup, not yet written
  size_t queued = 0;         // their sum
};

}  // namespace

struct EventHub::Impl {
  EventOptions opt;
  GMainContext *ctx = nullptr;
  SoupServer *server = nullptr;
  GSource *keepalive = nullptr;
  std::function<std::string()> cameras;

  std::mutex mu;                    // pending, idle, published, next_id
  std::deque<std::string> pending;  // formatted events
  GSource *idle = nullptr;
  uint64_t published = 0;
  uint64_t next_id = 0;

  std::vector<Client *> clients;    // main context only
  uint64_t dropped = 0;
};

namespace {

void remove_client(Client *c, bool drop) {
  EventHub::Impl *hub = c->hub;
  hub->clients.erase(std::remove(hub->clients.begin(), hub->clients.end(), c), hub->clients.end());
  g_signal_handler_disconnect(c->msg, c->chunk_id);
  g_signal_handler_disconnect(c->msg, c->finished_id);
  if (drop) {
    hub->dropped++;
    ta_web::drop_connection(c->msg);
  }
  g_object_unref(c->msg);
  delete c;
}

void on_wrote_chunk(SoupServerMessage *, gpointer user_data) {
  Client *c = static_cast<Client *>(user_data);
  if (c->sizes.empty())
    return;
  c->queued -= c->sizes.front();
  c->sizes.pop_front();
}

void on_finished(SoupServerMessage *, gpointer user_data) {
  remove_client(static_cast<Client *>(user_data), false);
}

// Queues `text` to one client; false when that puts it over its bound (then it is gone).
bool send(Client *c, const std::string &text) {
  // The bound is on what is behind already: a batch that came while the main loop was
  // busy may be bigger than it.
  if (c->queued > c->hub->opt.max_queued_bytes) {
    g_printerr("http: dropping a client of /api/events that fell %" G_GSIZE_FORMAT
               " bytes behind\n", c->queued);
    remove_client(c, true);
    return false;
  }
  soup_message_body_append(soup_server_message_get_response_body(c->msg), SOUP_MEMORY_COPY,
      text.data(), text.size());
  c->sizes.push_back(text.size());
  c->queued += text.size();
  soup_server_message_unpause(c->msg);
  return true;
}

gboolean dispatch(gpointer user_data) {
  EventHub::Impl *hub = static_cast<EventHub::Impl *>(user_data);
  std::deque<std::string> events;
  {
    std::lock_guard<std::mutex> lock(hub->mu);
    events.swap(hub->pending);
    g_source_unref(hub->idle);
    hub->idle = nullptr;
  }
  if (events.empty() || hub->clients.empty())
    return G_SOURCE_REMOVE;
  // One chunk per client for the whole batch.
  std::string text;
  for (const std::string &e : events)
    text += e;
  for (Client *c : std::vector<Client *>(hub->clients))
    send(c, text);
  return G_SOURCE_REMOVE;
}

gboolean on_keepalive(gpointer user_data) {
  EventHub::Impl *hub = static_cast<EventHub::Impl *>(user_data);
  for (Client *c : std::vector<Client *>(hub->clients))
    send(c, ": keepalive\n\n");
  return G_SOURCE_CONTINUE;
}

void on_events(EventHub::Impl *hub, SoupServerMessage *msg, const char *path) {
  if (std::strcmp(path, "/api/events") != 0) {
    ta_web::respond(msg, SOUP_STATUS_NOT_FOUND, "text/plain; charset=utf-8", "not found\n");
    return;
  }
  if (!ta_web::only_get(msg))
    return;
  SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
  if (static_cast<int>(hub->clients.size()) >= hub->opt.max_clients) {
    soup_message_headers_replace(h, "Retry-After", "5");
    ta_web::respond(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8",
        "too many event clients (--http-max-clients)\n");
    return;
  }
  if (soup_server_message_get_method(msg) == SOUP_METHOD_HEAD) {
    ta_web::respond(msg, SOUP_STATUS_OK, "text/event-stream", "");
    return;
  }
  ta_web::set_common_headers(msg);
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
  soup_message_headers_set_content_type(h, "text/event-stream", nullptr);
  soup_message_headers_set_encoding(h,
      soup_server_message_get_http_version(msg) == SOUP_HTTP_1_0 ? SOUP_ENCODING_EOF
                                                                 : SOUP_ENCODING_CHUNKED);
  soup_message_body_set_accumulate(soup_server_message_get_response_body(msg), FALSE);
  Client *c = new Client;
  c->hub = hub;
  c->msg = SOUP_SERVER_MESSAGE(g_object_ref(msg));
  c->chunk_id = g_signal_connect(msg, "wrote-chunk", G_CALLBACK(on_wrote_chunk), c);
  c->finished_id = g_signal_connect(msg, "finished", G_CALLBACK(on_finished), c);
  hub->clients.push_back(c);
  // The headers go out at once (the browser's EventSource opens), with the reconnection
  // delay the browser should use.
  send(c, "retry: 2000\n: torchanalytics events\n\n");
}

void on_cameras(EventHub::Impl *hub, SoupServerMessage *msg, const char *path) {
  if (std::strcmp(path, "/api/cameras") != 0) {
    ta_web::respond(msg, SOUP_STATUS_NOT_FOUND, "text/plain; charset=utf-8", "not found\n");
    return;
  }
  if (!ta_web::only_get(msg))
    return;
  const std::string body = hub->cameras ? hub->cameras() : std::string("{\"cameras\": []}");
  ta_web::respond(msg, SOUP_STATUS_OK, "application/json", body + "\n");
}

}  // namespace

EventHub::EventHub(const EventOptions &opt) : impl_(new Impl) {
  Impl *hub = impl_.get();
  hub->opt = opt;
  hub->ctx = g_main_context_ref_thread_default();
  hub->keepalive = g_timeout_source_new_seconds(static_cast<guint>(MAX(hub->opt.keepalive_s, 1)));
  g_source_set_callback(hub->keepalive, on_keepalive, hub, nullptr);
  g_source_attach(hub->keepalive, hub->ctx);
}

EventHub::~EventHub() {
  Impl *hub = impl_.get();
  if (hub->keepalive) {
    g_source_destroy(hub->keepalive);
    g_source_unref(hub->keepalive);
  }
  if (hub->server) {
    soup_server_remove_handler(hub->server, "/api/events");
    soup_server_remove_handler(hub->server, "/api/cameras");
    g_object_unref(hub->server);
  }
  for (Client *c : std::vector<Client *>(hub->clients))
    remove_client(c, true);
  std::lock_guard<std::mutex> lock(hub->mu);
  if (hub->idle) {
    g_source_destroy(hub->idle);
    g_source_unref(hub->idle);
  }
  g_main_context_unref(hub->ctx);
}

void EventHub::set_cameras(std::function<std::string()> provider) {
  impl_->cameras = std::move(provider);
}

void EventHub::attach(SoupServer *server) {
  Impl *hub = impl_.get();
  if (hub->server)
    return;
  hub->server = SOUP_SERVER(g_object_ref(server));
  soup_server_add_handler(server, "/api/events", [](SoupServer *, SoupServerMessage *msg,
      const char *path, GHashTable *, gpointer self) {
    static_cast<EventHub *>(self)->handle_events(msg, path);
  }, this, nullptr);
  soup_server_add_handler(server, "/api/cameras", [](SoupServer *, SoupServerMessage *msg,
      const char *path, GHashTable *, gpointer self) {
    static_cast<EventHub *>(self)->handle_cameras(msg, path);
  }, this, nullptr);
}

void EventHub::handle_events(SoupServerMessage *msg, const char *path) {
  on_events(impl_.get(), msg, path);
}

void EventHub::handle_cameras(SoupServerMessage *msg, const char *path) {
  on_cameras(impl_.get(), msg, path);
}

void EventHub::publish(const std::string &type, const std::string &data) {
  Impl *hub = impl_.get();
  std::lock_guard<std::mutex> lock(hub->mu);
  hub->published++;
  std::string e = "event: " + type + "\nid: " + std::to_string(hub->next_id++) + "\ndata: ";
  // A newline would end the field: JSON from our serializer has none, but be safe.
  for (const char ch : data)
    e += (ch == '\n' || ch == '\r') ? ' ' : ch;
  e += "\n\n";
  hub->pending.push_back(std::move(e));
  if (hub->pending.size() > kMaxPending)
    hub->pending.pop_front();
  if (!hub->idle) {
    hub->idle = g_idle_source_new();
    g_source_set_priority(hub->idle, G_PRIORITY_DEFAULT);
    g_source_set_callback(hub->idle, dispatch, hub, nullptr);
    g_source_attach(hub->idle, hub->ctx);
  }
}

EventStats EventHub::stats() const {
  EventStats st;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    st.published = impl_->published;
  }
  st.dropped = impl_->dropped;
  st.clients = static_cast<int>(impl_->clients.size());
  return st;
}

}  // namespace ta_app
