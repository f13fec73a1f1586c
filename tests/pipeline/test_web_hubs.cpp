// The live page's server parts in one process, over real loopback sockets: the embedded
// page, the request bounds, the MJPEG hub on a live videotestsrc pipeline, the event hub.
// The server runs its own main loop in a thread, as the app's main thread does; the
// clients are libsoup's SoupSession and plain sockets (for what a polite client would not
// send, and for clients that stop reading).
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <libsoup/soup.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "events.h"
#include "mjpeg.h"
#include "pipeline_helpers.h"
#include "test_web_helpers.h"
#include "web/page.h"

using namespace ta_test;

namespace {

// A SoupServer with the page, the MJPEG hub and the event hub, in a thread of its own, and
// a live pipeline whose tee feeds the hub's branch for camera "cam".
class WebServer {
 public:
  explicit WebServer(ta_app::MjpegOptions mo = {}, ta_app::EventOptions eo = {},
                     std::string pattern = "ball")
      : mo_(mo), eo_(eo), pattern_(std::move(pattern)) {}
  ~WebServer() { stop(); }

  // false with a failure when it does not come up.
  bool start(bool with_pipeline = true) {
    thread_ = std::thread([this, with_pipeline] { run(with_pipeline); });
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(30), [&] { return ready_; });
    if (port_ <= 0) ADD_FAILURE() << "the server did not start: " << error_;
    return port_ > 0;
  }

  void stop() {
    if (!thread_.joinable()) return;
    g_main_context_invoke(ctx_, [](gpointer l) { g_main_loop_quit(static_cast<GMainLoop*>(l)); return G_SOURCE_REMOVE; }, loop_);
    thread_.join();
  }

  // Runs `f` in the server's main context and waits for it.
  void call(const std::function<void()>& f) {
    struct Job { std::function<void()> f; std::mutex mu; std::condition_variable cv; bool done = false; } job;
    job.f = f;
    g_main_context_invoke(ctx_, [](gpointer p) {
      Job* j = static_cast<Job*>(p);
      j->f();
      std::lock_guard<std::mutex> lock(j->mu);
      j->done = true;
      j->cv.notify_all();
      return G_SOURCE_REMOVE;
    }, &job);
    std::unique_lock<std::mutex> lock(job.mu);
    job.cv.wait(lock, [&] { return job.done; });
  }

  ta_app::MjpegStats video_stats() {
    ta_app::MjpegStats st;
    call([&] { st = mjpeg_->stats("cam"); });
    return st;
  }
  ta_app::EventStats event_stats() {
    ta_app::EventStats st;
    call([&] { st = events_->stats(); });
    return st;
  }
  ta_app::EventHub& events() { return *events_; }
  int port() const { return port_; }
  int frames() const { return frames_.load(); }  // at the pipeline's own sink
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  void run(bool with_pipeline) {
    ctx_ = g_main_context_new();
    g_main_context_push_thread_default(ctx_);
    loop_ = g_main_loop_new(ctx_, FALSE);
    mjpeg_ = std::make_unique<ta_app::MjpegHub>(mo_);
    events_ = std::make_unique<ta_app::EventHub>(eo_);
    events_->set_cameras([] { return std::string("{\"cameras\": [{\"name\": \"cam\", \"state\": \"up\"}]}"); });
    SoupServer* server = soup_server_new("server-header", "torchanalytics-test ", nullptr);
    ta_web::install_request_limits(server);
    ta_web::add_page_handlers(server);
    mjpeg_->attach(server);
    events_->attach(server);
    GError* err = nullptr;
    int port = -1;
    if (soup_server_listen_local(server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &err)) {
      GSList* uris = soup_server_get_uris(server);
      if (uris) port = g_uri_get_port(static_cast<GUri*>(uris->data));
      g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
    } else {
      error_ = err->message;
      g_clear_error(&err);
    }
    GstElement* pipeline = nullptr;
    if (port > 0 && with_pipeline) {
      error_ = parse_pipeline(
          "videotestsrc is-live=true pattern=" + pattern_ + " ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 "
          "! tee name=t ! queue ! fakesink name=sink sync=false", &pipeline);
      if (pipeline) {
        GstElement* branch = mjpeg_->make_branch("cam");
        GstElement* tee = gst_bin_get_by_name(GST_BIN(pipeline), "t");
        gst_bin_add(GST_BIN(pipeline), branch);
        if (!gst_element_link(tee, branch)) error_ = "cannot link the video branch";
        gst_object_unref(tee);
        count_sink_buffers(pipeline, &frames_);
        if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
          error_ = "the pipeline did not start";
      }
      if (!error_.empty()) port = -1;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      port_ = port;
      ready_ = true;
      cv_.notify_all();
    }
    if (port > 0) g_main_loop_run(loop_);
    if (pipeline) {
      gst_element_set_state(pipeline, GST_STATE_NULL);
      gst_object_unref(pipeline);
    }
    mjpeg_.reset();
    events_.reset();
    soup_server_disconnect(server);
    g_object_unref(server);
    g_main_loop_unref(loop_);
    g_main_context_pop_thread_default(ctx_);
    // Sources the hubs or libsoup left (none expected) go with the context.
    g_main_context_unref(ctx_);
  }

  ta_app::MjpegOptions mo_;
  ta_app::EventOptions eo_;
  std::string pattern_;
  std::thread thread_;
  GMainContext* ctx_ = nullptr;
  GMainLoop* loop_ = nullptr;
  std::unique_ptr<ta_app::MjpegHub> mjpeg_;
  std::unique_ptr<ta_app::EventHub> events_;
  std::atomic<int> frames_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool ready_ = false;
  int port_ = -1;
  std::string error_;
};

struct Reply {
  guint status = 0;
  std::string body, type, error;
  SoupMessageHeaders* headers = nullptr;  // a reference
  ~Reply() { if (headers) soup_message_headers_unref(headers); }
  std::string header(const char* name) const {
    const char* v = headers ? soup_message_headers_get_one(headers, name) : nullptr;
    return v ? v : "";
  }
};

// One request with libsoup's client.
std::unique_ptr<Reply> fetch(const std::string& url, const char* method = "GET",
                             const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  auto r = std::make_unique<Reply>();
  SoupSession* session = soup_session_new_with_options("timeout", 20u, nullptr);
  SoupMessage* msg = soup_message_new(method, url.c_str());
  if (!msg) {
    r->error = "bad URL " + url;
    g_object_unref(session);
    return r;
  }
  for (const auto& h : headers)
    soup_message_headers_append(soup_message_get_request_headers(msg), h.first.c_str(), h.second.c_str());
  GError* err = nullptr;
  GBytes* body = soup_session_send_and_read(session, msg, nullptr, &err);
  if (err) {
    r->error = err->message;
    g_clear_error(&err);
  }
  r->status = soup_message_get_status(msg);
  r->headers = soup_message_headers_ref(soup_message_get_response_headers(msg));
  const char* t = soup_message_headers_get_content_type(r->headers, nullptr);
  r->type = t ? t : "";
  if (body) {
    gsize n = 0;
    const char* d = static_cast<const char*>(g_bytes_get_data(body, &n));
    r->body.assign(d ? d : "", n);
    g_bytes_unref(body);
  }
  g_object_unref(msg);
  g_object_unref(session);
  return r;
}

// The JPEG parts of a multipart/x-mixed-replace body (whole parts only).
std::vector<std::string> jpeg_parts(const std::string& raw) {
  std::vector<std::string> parts;
  size_t i = 0;
  while ((i = raw.find("Content-Length: ", i)) != std::string::npos) {
    const size_t len = std::strtoul(raw.c_str() + i + 16, nullptr, 10);
    const size_t start = raw.find("\r\n\r\n", i);
    if (start == std::string::npos || start + 4 + len > raw.size()) break;
    parts.push_back(raw.substr(start + 4, len));
    i = start + 4 + len;
  }
  return parts;
}

// Waits (bounded) until `pred` holds.
bool eventually(const std::function<bool()>& pred, double seconds) {
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(Seconds(seconds));
  while (Clock::now() < end) {
    if (pred()) return true;
    g_usleep(50 * 1000);
  }
  return pred();
}

TEST(WebHubs, ServesTheEmbeddedPage) {
  WebServer web;
  ASSERT_TRUE(web.start(false));
  auto page = fetch(web.url("/"));
  ASSERT_EQ(page->status, 200u) << page->error;
  EXPECT_EQ(page->type, "text/html");
  EXPECT_NE(page->body.find("<script src=\"/app.js\""), std::string::npos) << page->body;
  // The page loads nothing from elsewhere, and runs only its own script.
  EXPECT_EQ(page->body.find("http://"), std::string::npos);
  EXPECT_EQ(page->body.find("https://"), std::string::npos);
  EXPECT_NE(page->header("Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(page->header("X-Content-Type-Options"), "nosniff");
  auto js = fetch(web.url("/app.js"));
  ASSERT_EQ(js->status, 200u);
  EXPECT_EQ(js->type, "text/javascript");
  EXPECT_NE(js->body.find("EventSource"), std::string::npos);
  EXPECT_EQ(js->body.find("innerHTML"), std::string::npos) << "server text goes in as textContent";
  auto css = fetch(web.url("/style.css"));
  ASSERT_EQ(css->status, 200u);
  EXPECT_EQ(css->type, "text/css");
  auto cams = fetch(web.url("/api/cameras"));
  ASSERT_EQ(cams->status, 200u);
  EXPECT_EQ(cams->type, "application/json");
  EXPECT_NE(cams->body.find("\"name\": \"cam\""), std::string::npos) << cams->body;
}

TEST(WebHubs, OtherPathsAre404AndWritesAreRefused_n) {
  WebServer web;
  ASSERT_TRUE(web.start());
  for (const char* p : {"/nope", "/index.htm", "/app.js/x", "/style.css.map", "/api", "/api/",
                        "/api/events/x", "/api/cameras.json", "/video", "/video/",
                        "/video/nosuch.mjpg", "/video/cam.png", "/video/cam", "/web/index.html",
                        "/org/torchanalytics/app/web/index.html", "/%2e%2e/etc/passwd",
                        "/video/..%2fcam.mjpg", "/metrics"}) {
    auto r = fetch(web.url(p));
    // libsoup itself refuses some odd paths (400); none is ever served.
    EXPECT_TRUE(r->status == 404u || r->status == 400u) << p << " " << r->status << " " << r->error;
    if (!strchr(p, '%')) {
      EXPECT_EQ(r->status, 404u) << p;
    }
  }
  // Absolute paths that step out: never a file.
  const std::string r = raw_request(web.port(), "GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(status_of(r) == 404 || status_of(r) == 400) << r.substr(0, 200);
  EXPECT_EQ(r.find("root:"), std::string::npos);
  for (const char* m : {"POST", "PUT", "DELETE", "PATCH"})
    for (const char* p : {"/", "/api/cameras", "/api/events", "/video/cam.mjpg", "/video/cam.jpg"}) {
      auto w = fetch(web.url(p), m);
      EXPECT_EQ(w->status, 405u) << m << " " << p;
      EXPECT_EQ(w->header("Allow"), "GET, HEAD") << m << " " << p;
    }
}

TEST(WebHubs, OversizeRequestsAreRefused_n) {
  WebServer web;
  ASSERT_TRUE(web.start(false));
  auto uri = fetch(web.url("/?" + std::string(4096, 'a')));
  EXPECT_EQ(uri->status, 414u) << uri->error;
  auto headers = fetch(web.url("/"), "GET", {{"X-Big", std::string(20000, 'b')}});
  EXPECT_EQ(headers->status, 431u) << headers->error;
  // A body over the bound is never read: a client that waits for "100 Continue" gets 413,
  // any other has its connection closed (libsoup would read the body before answering).
  std::string r = raw_request(web.port(), "POST /api/cameras HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(status_of(r), 413) << r.substr(0, 200);
  for (const char* req : {"POST /api/cameras HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n",
                          "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n"}) {
    const int fd = connect_loopback(web.port());
    ASSERT_GE(fd, 0);
    send_all(fd, req);
    bool closed = false;
    r = read_some(fd, 1 << 16, 10000, &closed);
    close(fd);
    EXPECT_TRUE(closed) << "the connection stays open, waiting for the body";
    EXPECT_TRUE(r.empty() || status_of(r) == 413) << r.substr(0, 200);
  }
  // Headers past libsoup's own limit: the connection is refused or closed, and the
  // server goes on.
  r = raw_request(web.port(), "GET / HTTP/1.1\r\nHost: x\r\nX-Huge: " + std::string(300 * 1024, 'c') + "\r\n\r\n");
  EXPECT_NE(status_of(r), 200) << r.substr(0, 200);
  auto ok = fetch(web.url("/"));
  EXPECT_EQ(ok->status, 200u) << ok->error;
}

TEST(WebHubs, MjpegStreamAndStill) {
  ta_app::MjpegOptions mo;
  mo.width = 160;
  mo.fps = 10;
  WebServer web(mo);
  ASSERT_TRUE(web.start());
  ASSERT_TRUE(eventually([&] { return web.video_stats().frames >= 2; }, 20)) << "no JPEG from the branch";
  auto still = fetch(web.url("/video/cam.jpg"));
  ASSERT_EQ(still->status, 200u) << still->error;
  EXPECT_EQ(still->type, "image/jpeg");
  int w = 0, h = 0;
  ASSERT_TRUE(jpeg_size(still->body, &w, &h));
  EXPECT_EQ(w, 160);  // scaled down to --video-width, the aspect kept
  EXPECT_EQ(h, 120);

  const int fd = connect_loopback(web.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET /video/cam.mjpg HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string raw;
  const auto end = Clock::now() + std::chrono::seconds(20);
  while (jpeg_parts(http_body(raw)).size() < 5 && Clock::now() < end) raw += read_some(fd, 4096, 500);
  close(fd);
  EXPECT_EQ(status_of(raw), 200) << raw.substr(0, 300);
  EXPECT_NE(raw.find("Content-Type: multipart/x-mixed-replace; boundary=tajpeg"), std::string::npos)
      << raw.substr(0, 300);
  EXPECT_NE(raw.find("--tajpeg\r\nContent-Type: image/jpeg\r\n"), std::string::npos);
  const auto parts = jpeg_parts(http_body(raw));
  ASSERT_GE(parts.size(), 5u);
  for (const auto& p : parts) {
    ASSERT_TRUE(jpeg_size(p, &w, &h));
    EXPECT_EQ(w, 160);
    EXPECT_EQ(static_cast<unsigned char>(p[p.size() - 2]), 0xFF);  // EOI: a whole JPEG
    EXPECT_EQ(static_cast<unsigned char>(p[p.size() - 1]), 0xD9);
  }
  // The stream's end is seen by the hub.
  EXPECT_TRUE(eventually([&] { return web.video_stats().clients == 0; }, 10));
}

// A client that stops reading is disconnected after the stall timeout; meanwhile the
// pipeline runs at its rate and a reading client still gets frames.
TEST(WebHubs, SlowMjpegClientIsDropped) {
  ta_app::MjpegOptions mo;
  mo.fps = 30;
  mo.quality = 95;            // big JPEGs of noise: the socket buffers fill fast
  mo.stall_timeout_ms = 1000;
  WebServer web(mo, {}, "snow");
  ASSERT_TRUE(web.start());
  ASSERT_TRUE(eventually([&] { return web.video_stats().frames >= 2; }, 20));
  const int slow = connect_loopback(web.port(), 4096);
  ASSERT_GE(slow, 0);
  ASSERT_TRUE(send_all(slow, "GET /video/cam.mjpg HTTP/1.1\r\nHost: x\r\n\r\n"));
  const int frames0 = web.frames();
  ASSERT_TRUE(eventually([&] { return web.video_stats().dropped >= 1; }, 30))
      << "the client that reads nothing is still there";
  const auto st = web.video_stats();
  EXPECT_EQ(st.clients, 0);
  EXPECT_GT(st.skipped, 0u) << "no frame was replaced by a newer one";
  EXPECT_GT(web.frames() - frames0, 15) << "the pipeline waited for the client";
  // What it had got ends, and the connection is closed.
  bool closed = false;
  for (int i = 0; i < 100 && !closed; i++) read_some(slow, 1 << 22, 200, &closed);
  EXPECT_TRUE(closed);
  close(slow);
  auto again = fetch(web.url("/video/cam.jpg"));
  EXPECT_EQ(again->status, 200u);
}

TEST(WebHubs, TooManyVideoClients_n) {
  ta_app::MjpegOptions mo;
  mo.max_clients = 2;
  WebServer web(mo);
  ASSERT_TRUE(web.start());
  const int a = connect_loopback(web.port()), b = connect_loopback(web.port());
  ASSERT_TRUE(send_all(a, "GET /video/cam.mjpg HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(send_all(b, "GET /video/cam.mjpg HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(eventually([&] { return web.video_stats().clients == 2; }, 10));
  auto third = fetch(web.url("/video/cam.mjpg"));
  EXPECT_EQ(third->status, 503u);
  EXPECT_EQ(third->header("Retry-After"), "5");
  close(a);
  close(b);
  EXPECT_TRUE(eventually([&] { return web.video_stats().clients == 0; }, 10));
}

TEST(WebHubs, EventsInOrder) {
  WebServer web;
  ASSERT_TRUE(web.start(false));
  const int fd = connect_loopback(web.port());
  ASSERT_TRUE(send_all(fd, "GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(eventually([&] { return web.event_stats().clients == 1; }, 10));
  std::thread publisher([&] {
    for (int i = 0; i < 50; i++)
      web.events().publish("result", "{\"camera\": \"cam\", \"frame\": " + std::to_string(i) + "}");
    web.events().publish("state", "{\"camera\": \"cam\", \"state\": \"reconnecting\"}");
  });
  publisher.join();
  std::string raw;
  const auto end = Clock::now() + std::chrono::seconds(15);
  while (raw.find("reconnecting") == std::string::npos && Clock::now() < end)
    raw += read_some(fd, 1 << 20, 300);
  close(fd);
  EXPECT_EQ(status_of(raw), 200);
  EXPECT_NE(raw.find("Content-Type: text/event-stream"), std::string::npos) << raw.substr(0, 300);
  EXPECT_NE(raw.find("retry: 2000\n"), std::string::npos);
  size_t at = 0;
  for (int i = 0; i < 50; i++) {
    const std::string ev = "event: result\nid: " + std::to_string(i) +
                           "\ndata: {\"camera\": \"cam\", \"frame\": " + std::to_string(i) + "}\n\n";
    const size_t p = raw.find(ev, at);
    ASSERT_NE(p, std::string::npos) << "event " << i << " missing or out of order";
    at = p;
  }
  EXPECT_NE(raw.find("event: state\nid: 50\ndata: {\"camera\": \"cam\", \"state\": \"reconnecting\"}\n\n"),
            std::string::npos);
}

// An event client that stops reading is dropped once it is max_queued_bytes behind; a
// reading one gets every event.
TEST(WebHubs, SlowEventClientIsDropped) {
  ta_app::EventOptions eo;
  eo.max_queued_bytes = 64 * 1024;
  WebServer web({}, eo);
  ASSERT_TRUE(web.start(false));
  const int slow = connect_loopback(web.port(), 4096);
  const int good = connect_loopback(web.port());
  ASSERT_TRUE(send_all(slow, "GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(send_all(good, "GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(eventually([&] { return web.event_stats().clients == 2; }, 10));
  const std::string pad(900, 'x');
  std::atomic<bool> done{false};
  std::atomic<int> seen{-1};  // the newest "n" the reading client has received
  std::string raw;            // the reader's until it is joined
  std::thread reader([&] {
    int waits_after_done = 0;  // bounded: 2000 reads of up to 10 ms once all is published
    while (raw.find("\"last\"") == std::string::npos &&
           (!done.load() || ++waits_after_done <= 2000)) {
      raw += read_some(good, 1 << 22, 10);
      const size_t at = raw.rfind("{\"n\": ");
      if (at != std::string::npos) seen.store(std::atoi(raw.c_str() + at + 6));
    }
  });
  // ~8 MB: more than the loopback socket buffers of the slow client can hold. The
  // publisher waits for the reading client every 20 events (18 kB, well under the 64 kB
  // bound), so on a loaded machine only the client that does not read falls behind.
  bool kept_up = true;
  for (int i = 0; i < 8000 && kept_up; i++) {
    web.events().publish("result", "{\"n\": " + std::to_string(i) + ", \"pad\": \"" + pad + "\"}");
    if (i % 20 != 19) continue;
    const auto until = Clock::now() + std::chrono::seconds(30);
    while (seen.load() < i && Clock::now() < until) g_usleep(1000);
    kept_up = seen.load() >= i;
  }
  EXPECT_TRUE(kept_up) << "the reading client got nothing for 30 s (last event " << seen.load() << ")";
  web.events().publish("result", "{\"last\": true}");
  done.store(true);
  reader.join();
  EXPECT_TRUE(eventually([&] { return web.event_stats().dropped == 1; }, 20));
  EXPECT_EQ(web.event_stats().clients, 1);
  EXPECT_NE(raw.find("\"n\": 7999,"), std::string::npos) << "the reading client lost events";
  EXPECT_NE(raw.find("{\"last\": true}"), std::string::npos);
  close(slow);
  close(good);
}

}  // namespace
