/* MjpegHub: see mjpeg.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "mjpeg.h"

#include <gst/app/gstappsink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "web/page.h"

namespace ta_app {

namespace {

constexpr const char *kBoundary = "tajpeg";
constexpr int kSendBuffer = 256 * 1024;  // bytes, per MJPEG client socket

struct Stream;

struct Client {
  MjpegHub::Impl *hub = nullptr;
  Stream *stream = nullptr;
  SoupServerMessage *msg = nullptr;  // a reference
  gulong chunk_id = 0, data_id = 0, finished_id = 0;
  int in_flight = 0;          // body chunks handed to libsoup, not yet written
  GBytes *waiting = nullptr;  // the newest frame, for when those are written
  gint64 waiting_since_us = 0;  // when libsoup last wrote a byte, or got a part to write
};

struct Stream {
  std::string name;
  MjpegHub::Impl *hub = nullptr;
  std::mutex mu;              // latest, idle: shared with the streaming thread
  GBytes *latest = nullptr;
  GSource *idle = nullptr;    // a pending hand-over of `latest` to the main context
  uint64_t frames = 0;
  // Main context only:
  std::vector<Client *> clients;
  uint64_t sent = 0, skipped = 0, dropped = 0;
};

}  // namespace

struct MjpegHub::Impl {
  MjpegOptions opt;
  GMainContext *ctx = nullptr;
  SoupServer *server = nullptr;
  GSource *timer = nullptr;
  mutable std::mutex mu;      // the map (make_branch may run on any thread)
  std::map<std::string, std::unique_ptr<Stream>> streams;
  int n_clients = 0;

  Stream *find(const std::string &name) const {
    std::lock_guard<std::mutex> lock(mu);
    auto it = streams.find(name);
    return it == streams.end() ? nullptr : it->second.get();
  }
};

namespace {

void hand(Client *c, GBytes *frame) {
  SoupMessageBody *body = soup_server_message_get_response_body(c->msg);
  gchar *head = g_strdup_printf("--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %" G_GSIZE_FORMAT
                                "\r\n\r\n", kBoundary, g_bytes_get_size(frame));
  soup_message_body_append(body, SOUP_MEMORY_TAKE, head, std::strlen(head));
  soup_message_body_append_bytes(body, frame);
  soup_message_body_append(body, SOUP_MEMORY_STATIC, "\r\n", 2);
  if (c->in_flight == 0)
    c->waiting_since_us = g_get_monotonic_time();
  c->in_flight += 3;
  c->stream->sent++;
  soup_server_message_unpause(c->msg);
}

void offer(Client *c, GBytes *frame) {
  if (c->in_flight == 0) {
    hand(c, frame);
    return;
  }
  if (c->waiting) {
    g_bytes_unref(c->waiting);
    c->stream->skipped++;
  }
  c->waiting = g_bytes_ref(frame);
}

// Forgets the client; `drop`: also closes its connection (it stopped reading).
void remove_client(Client *c, bool drop) {
  Stream *s = c->stream;
  s->clients.erase(std::remove(s->clients.begin(), s->clients.end(), c), s->clients.end());
  c->hub->n_clients--;
  g_signal_handler_disconnect(c->msg, c->chunk_id);
  g_signal_handler_disconnect(c->msg, c->data_id);
  g_signal_handler_disconnect(c->msg, c->finished_id);
  if (drop) {
    s->dropped++;
    ta_web::drop_connection(c->msg);
  }
  if (c->waiting)
    g_bytes_unref(c->waiting);
  g_object_unref(c->msg);
  delete c;
}

void on_wrote_chunk(SoupServerMessage *, gpointer user_data) {
  Client *c = static_cast<Client *>(user_data);
  c->in_flight--;
  c->waiting_since_us = g_get_monotonic_time();
  if (c->in_flight == 0 && c->waiting) {
    GBytes *f = c->waiting;
    c->waiting = nullptr;
    hand(c, f);
    g_bytes_unref(f);
  }
}

void on_wrote_data(SoupServerMessage *, guint, gpointer user_data) {
  static_cast<Client *>(user_data)->waiting_since_us = g_get_monotonic_time();
}

void on_finished(SoupServerMessage *, gpointer user_data) {
  remove_client(static_cast<Client *>(user_data), false);
}

gboolean dispatch(gpointer user_data) {
  Stream *s = static_cast<Stream *>(user_data);
  GBytes *frame = nullptr;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    if (s->latest)
      frame = g_bytes_ref(s->latest);
    g_source_unref(s->idle);
    s->idle = nullptr;
  }
  if (frame) {
    for (Client *c : std::vector<Client *>(s->clients))
      offer(c, frame);
    g_bytes_unref(frame);
  }
  return G_SOURCE_REMOVE;
}

// Streaming thread: the JPEG becomes the newest frame, handed to the clients from the
// main context. Never waits for a client.
GstFlowReturn on_sample(GstAppSink *sink, gpointer user_data) {
  Stream *s = static_cast<Stream *>(user_data);
  GstSample *sample = gst_app_sink_pull_sample(sink);
  if (!sample)
    return GST_FLOW_OK;
  GstBuffer *buf = gst_sample_get_buffer(sample);
  GstMapInfo map;
  GBytes *bytes = nullptr;
  if (buf && gst_buffer_map(buf, &map, GST_MAP_READ)) {
    bytes = g_bytes_new(map.data, map.size);
    gst_buffer_unmap(buf, &map);
  }
  gst_sample_unref(sample);
  if (!bytes)
    return GST_FLOW_OK;
  std::lock_guard<std::mutex> lock(s->mu);
  if (s->latest)
    g_bytes_unref(s->latest);
  s->latest = bytes;
  s->frames++;
  if (!s->idle) {
    s->idle = g_idle_source_new();
    g_source_set_priority(s->idle, G_PRIORITY_DEFAULT);
    g_source_set_callback(s->idle, dispatch, s, nullptr);
    g_source_attach(s->idle, s->hub->ctx);
  }
  return GST_FLOW_OK;
}

gboolean on_timer(gpointer user_data) {
  MjpegHub::Impl *hub = static_cast<MjpegHub::Impl *>(user_data);
  const gint64 now = g_get_monotonic_time();
  const gint64 limit = static_cast<gint64>(hub->opt.stall_timeout_ms) * 1000;
  std::vector<Stream *> streams;
  {
    std::lock_guard<std::mutex> lock(hub->mu);
    for (auto &kv : hub->streams)
      streams.push_back(kv.second.get());
  }
  for (Stream *s : streams)
    for (Client *c : std::vector<Client *>(s->clients))
      if (c->in_flight > 0 && now - c->waiting_since_us > limit) {
        g_printerr("http: dropping a client of /video/%s.mjpg that read nothing for %d ms\n",
            s->name.c_str(), hub->opt.stall_timeout_ms);
        remove_client(c, true);
      }
  return G_SOURCE_CONTINUE;
}

void on_video(MjpegHub::Impl *hub, SoupServerMessage *msg, const char *path) {
  const char *prefix = "/video/";
  if (!g_str_has_prefix(path, prefix)) {
    ta_web::respond(msg, SOUP_STATUS_NOT_FOUND, "text/plain; charset=utf-8", "not found\n");
    return;
  }
  std::string rest = path + std::strlen(prefix);
  bool still = false;
  if (g_str_has_suffix(rest.c_str(), ".mjpg")) {
    rest.resize(rest.size() - 5);
  } else if (g_str_has_suffix(rest.c_str(), ".jpg")) {
    rest.resize(rest.size() - 4);
    still = true;
  } else {
    ta_web::respond(msg, SOUP_STATUS_NOT_FOUND, "text/plain; charset=utf-8",
        "not found: /video/NAME.mjpg or /video/NAME.jpg\n");
    return;
  }
  gchar *name = g_uri_unescape_string(rest.c_str(), "/");
  Stream *s = name ? hub->find(name) : nullptr;
  g_free(name);
  if (!s) {
    ta_web::respond(msg, SOUP_STATUS_NOT_FOUND, "text/plain; charset=utf-8", "no such camera\n");
    return;
  }
  if (!ta_web::only_get(msg))
    return;
  SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
  if (still) {
    GBytes *frame = nullptr;
    {
      std::lock_guard<std::mutex> lock(s->mu);
      if (s->latest)
        frame = g_bytes_ref(s->latest);
    }
    if (!frame) {
      soup_message_headers_replace(h, "Retry-After", "1");
      ta_web::respond(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8",
          "no frame yet\n");
      return;
    }
    ta_web::set_common_headers(msg);
    soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
    gsize len = 0;
    const gconstpointer data = g_bytes_get_data(frame, &len);
    soup_server_message_set_response(msg, "image/jpeg", SOUP_MEMORY_COPY,
        static_cast<const char *>(data), len);
    g_bytes_unref(frame);
    return;
  }
  if (hub->n_clients >= hub->opt.max_clients) {
    soup_message_headers_replace(h, "Retry-After", "5");
    ta_web::respond(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8",
        "too many video clients (--http-max-clients)\n");
    return;
  }
  gchar *type = g_strdup_printf("multipart/x-mixed-replace; boundary=%s", kBoundary);
  if (soup_server_message_get_method(msg) == SOUP_METHOD_HEAD) {
    ta_web::respond(msg, SOUP_STATUS_OK, type, "");
    g_free(type);
    return;
  }
  ta_web::set_common_headers(msg);
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
  soup_message_headers_set_content_type(h, type, nullptr);
  g_free(type);
  // HTTP/1.0 has no chunks: the stream ends when the connection does.
  soup_message_headers_set_encoding(h,
      soup_server_message_get_http_version(msg) == SOUP_HTTP_1_0 ? SOUP_ENCODING_EOF
                                                                 : SOUP_ENCODING_CHUNKED);
  // Written chunks are freed, not kept for the whole (endless) response.
  soup_message_body_set_accumulate(soup_server_message_get_response_body(msg), FALSE);

  // A small send buffer: a client that stops reading holds little kernel memory, and
  // is seen to stall after a few frames rather than after megabytes.
  GSocket *sock = soup_server_message_get_socket(msg);
  if (sock)
    g_socket_set_option(sock, SOL_SOCKET, SO_SNDBUF, kSendBuffer, nullptr);
  Client *c = new Client;
  c->hub = hub;
  c->stream = s;
  c->msg = SOUP_SERVER_MESSAGE(g_object_ref(msg));
  c->chunk_id = g_signal_connect(msg, "wrote-chunk", G_CALLBACK(on_wrote_chunk), c);
  c->data_id = g_signal_connect(msg, "wrote-body-data", G_CALLBACK(on_wrote_data), c);
  c->finished_id = g_signal_connect(msg, "finished", G_CALLBACK(on_finished), c);
  s->clients.push_back(c);
  hub->n_clients++;
  GBytes *frame = nullptr;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    if (s->latest)
      frame = g_bytes_ref(s->latest);
  }
  if (frame) {  // the client sees a picture at once, not after the next frame
    hand(c, frame);
    g_bytes_unref(frame);
  }
  // With nothing to write yet, libsoup pauses the message itself; hand() unpauses it.
}

GstElement *make_element(const char *factory, const char *what) {
  GstElement *e = gst_element_factory_make(factory, nullptr);
  if (!e)
    g_printerr("error: element '%s' not found (%s for the browser's video); is its GStreamer "
               "plugin installed?\n", factory, what);
  return e;
}

}  // namespace

std::string validate(const MjpegOptions &o) {
  if (o.fps < 1 || o.fps > 60)
    return "--video-fps is 1..60";
  if (o.width < 16 || o.width > 7680)
    return "--video-width is 16..7680";
  if (o.quality < 1 || o.quality > 100)
    return "--video-quality is 1..100";
  if (o.max_clients < 1 || o.max_clients > 1000)
    return "--http-max-clients is 1..1000";
  if (o.stall_timeout_ms < 100)
    return "the stall timeout is at least 100 ms";
  return "";
}

MjpegHub::MjpegHub(const MjpegOptions &opt) : impl_(new Impl) {
  Impl *hub = impl_.get();
  hub->opt = opt;
  hub->ctx = g_main_context_ref_thread_default();
  const guint period = static_cast<guint>(CLAMP(hub->opt.stall_timeout_ms / 4, 50, 1000));
  hub->timer = g_timeout_source_new(period);
  g_source_set_callback(hub->timer, on_timer, hub, nullptr);
  g_source_attach(hub->timer, hub->ctx);
}

MjpegHub::~MjpegHub() {
  Impl *hub = impl_.get();
  if (hub->timer) {
    g_source_destroy(hub->timer);
    g_source_unref(hub->timer);
  }
  if (hub->server) {
    soup_server_remove_handler(hub->server, "/video");
    g_object_unref(hub->server);
  }
  for (auto &kv : hub->streams) {
    Stream *s = kv.second.get();
    for (Client *c : std::vector<Client *>(s->clients))
      remove_client(c, true);
    std::lock_guard<std::mutex> lock(s->mu);
    if (s->idle) {
      g_source_destroy(s->idle);
      g_source_unref(s->idle);
    }
    if (s->latest)
      g_bytes_unref(s->latest);
  }
  g_main_context_unref(hub->ctx);
}

const MjpegOptions &MjpegHub::options() const { return impl_->opt; }

GstElement *MjpegHub::make_branch(const std::string &name) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->streams.count(name)) {
      g_printerr("error: a second video branch for camera '%s'\n", name.c_str());
      return nullptr;
    }
  }
  const MjpegOptions &o = impl_->opt;
  GstElement *queue = make_element("queue", "queue");
  GstElement *rate = make_element("videorate", "videorate");
  GstElement *scale = make_element("videoscale", "videoscale");
  GstElement *filter = make_element("capsfilter", "capsfilter");
  GstElement *convert = make_element("videoconvert", "videoconvert");
  GstElement *enc = make_element("jpegenc", "jpegenc");
  GstElement *sink = make_element("appsink", "appsink");
  GstElement *overlay = o.overlay ? make_element("torchoverlay", "the results drawn") : nullptr;
  GstElement *all[] = {queue, rate, scale, filter, convert, enc, sink, overlay};
  if (!queue || !rate || !scale || !filter || !convert || !enc || !sink || (o.overlay && !overlay)) {
    for (GstElement *e : all)
      if (e)
        gst_object_unref(e);
    return nullptr;
  }
  // Never a full queue in front of the tee: the branch takes the newest frame it can.
  g_object_set(queue, "max-size-buffers", 1u, "max-size-bytes", 0u, "max-size-time",
      (guint64)0, nullptr);
  gst_util_set_object_arg(G_OBJECT(queue), "leaky", "downstream");
  g_object_set(rate, "drop-only", TRUE, "max-rate", o.fps, nullptr);
  // A range, not a width: a smaller frame keeps its size (videoscale fixates the width
  // nearest the input's, and the height for the same display aspect).
  // Square pixels: otherwise videoscale keeps the height and changes the pixel aspect.
  GstCaps *caps = gst_caps_new_simple("video/x-raw", "width", GST_TYPE_INT_RANGE, 16, o.width,
      "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, nullptr);
  g_object_set(filter, "caps", caps, nullptr);
  gst_caps_unref(caps);
  g_object_set(enc, "quality", o.quality, nullptr);
  // Not synchronised (the camera's branch is live already), no preroll held, one buffer.
  g_object_set(sink, "sync", FALSE, "async", FALSE, "max-buffers", 1u, "drop", TRUE,
      "enable-last-sample", FALSE, nullptr);

  GstElement *bin = gst_bin_new(("video-" + name).c_str());
  gst_bin_add_many(GST_BIN(bin), queue, rate, scale, filter, convert, enc, sink, nullptr);
  bool linked;
  if (overlay) {
    gst_bin_add(GST_BIN(bin), overlay);
    linked = gst_element_link_many(queue, rate, scale, filter, overlay, convert, enc, sink, nullptr);
  } else {
    linked = gst_element_link_many(queue, rate, scale, filter, convert, enc, sink, nullptr);
  }
  if (!linked) {
    g_printerr("error: cannot link the video branch of camera '%s'\n", name.c_str());
    gst_object_unref(bin);
    return nullptr;
  }
  GstPad *target = gst_element_get_static_pad(queue, "sink");
  gst_element_add_pad(bin, gst_ghost_pad_new("sink", target));
  gst_object_unref(target);

  auto s = std::make_unique<Stream>();
  s->name = name;
  s->hub = impl_.get();
  GstAppSinkCallbacks cb = {};
  cb.new_sample = on_sample;
  gst_app_sink_set_callbacks(GST_APP_SINK(sink), &cb, s.get(), nullptr);
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->streams[name] = std::move(s);
  return bin;
}

void MjpegHub::handle(SoupServerMessage *msg, const char *path) {
  on_video(impl_.get(), msg, path);
}

void MjpegHub::attach(SoupServer *server) {
  Impl *hub = impl_.get();
  if (hub->server)
    return;
  hub->server = SOUP_SERVER(g_object_ref(server));
  soup_server_add_handler(server, "/video", [](SoupServer *, SoupServerMessage *msg,
      const char *path, GHashTable *, gpointer self) {
    static_cast<MjpegHub *>(self)->handle(msg, path);
  }, this, nullptr);
}

void MjpegHub::forget(const std::string &name) {
  Impl *hub = impl_.get();
  std::unique_ptr<Stream> s;
  {
    std::lock_guard<std::mutex> lock(hub->mu);
    auto it = hub->streams.find(name);
    if (it == hub->streams.end())
      return;
    s = std::move(it->second);
    hub->streams.erase(it);
  }
  for (Client *c : std::vector<Client *>(s->clients))
    remove_client(c, true);
  std::lock_guard<std::mutex> lock(s->mu);
  if (s->idle) {
    g_source_destroy(s->idle);
    g_source_unref(s->idle);
    s->idle = nullptr;
  }
  if (s->latest)
    g_bytes_unref(s->latest);
  s->latest = nullptr;
}

MjpegStats MjpegHub::stats(const std::string &name) const {
  MjpegStats st;
  Stream *s = impl_->find(name);
  if (!s)
    return st;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    st.frames = s->frames;
  }
  st.sent = s->sent;
  st.skipped = s->skipped;
  st.dropped = s->dropped;
  st.clients = static_cast<int>(s->clients.size());
  return st;
}

int MjpegHub::clients() const { return impl_->n_clients; }

}  // namespace ta_app
