/* EventHub: the app's state for the browser, as JSON.
 *
 *   GET /api/cameras   application/json: {"cameras": [...]}, one object per camera (its name,
 *                      state, latest result, stats; the app's provider writes it, see
 *                      docs/guides/browser.md for the fields)
 *   GET /api/events    text/event-stream (Server-Sent Events): every publish() as
 *                        event: TYPE
 *                        id: N
 *                        data: JSON
 *                      the app publishes "result" (one per classified frame, per camera) and
 *                      "state" (a camera's state changed); a comment line every
 *                      `keepalive_s` keeps proxies from closing an idle stream.
 *
 * Each client may have at most `max_queued_bytes` of events not yet written to its socket;
 * a client that falls further behind is disconnected (its EventSource reconnects by itself
 * and reads /api/cameras again). Over `max_clients` event streams: 503.
 *
 * publish() may be called from any thread (the streaming threads); clients are served in
 * the main context that was the thread default when the hub was made. Destroy the hub in
 * that thread.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <libsoup/soup.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace ta_app {

struct EventOptions {
  int max_clients = 32;                   // event streams at once
  size_t max_queued_bytes = 256 * 1024;   // per client, not yet written; more: disconnected
  int keepalive_s = 15;                   // a comment line this often
};

struct EventStats {
  uint64_t published = 0;   // events given to publish()
  uint64_t dropped = 0;     // clients disconnected for falling behind
  int clients = 0;          // streaming now
};

class EventHub {
 public:
  explicit EventHub(const EventOptions &opt);
  ~EventHub();
  EventHub(const EventHub &) = delete;
  EventHub &operator=(const EventHub &) = delete;

  // What GET /api/cameras answers: a JSON object, written in the main context for each
  // request. Unset: {"cameras": []}.
  void set_cameras(std::function<std::string()> provider);

  // Answer GET /api/events and GET /api/cameras (main context): the app's HttpServer
  // calls them.
  void handle_events(SoupServerMessage *msg, const char *path);
  void handle_cameras(SoupServerMessage *msg, const char *path);
  // Or: registers them on every port of `server`.
  void attach(SoupServer *server);

  // Any thread: one event to every client. `data`: one JSON value on one line.
  void publish(const std::string &type, const std::string &data);

  EventStats stats() const;  // main context

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace ta_app
