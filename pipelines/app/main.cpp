/* torchanalytics-app: an application that embeds torchclassify, for one camera or many.
 *
 * Each camera is a pipeline of its own (camera.h),
 *
 *   file:   uridecodebin uri=URI ! videoconvert ! torchclassify ! tee ! queue ! fakesink
 *   rtsp:   [rtspsrc location=URI ! decodebin] ! videoconvert ! torchclassify ! tee ! ...
 *           (the source part in a bin of its own, rebuilt on failure)
 *
 * and all share one model and one batching queue (torchclassify model-instance-id). The
 * app reads the classification meta in a pad probe, through the installed header only
 * (pkg-config gsttorchanalyticsmeta-1.0; no LibTorch here), and prints one line per
 * classified frame on stdout (with --camera, prefixed by the camera's name and ": "):
 *
 *   frame 12 pts=0:00:00.400000000 top1=tabby 0.8123
 *   frame 13 pts=0:00:00.433333333 source-pts=0:00:00.400000000 top1=tabby 0.8123
 *
 * (source-pts: the result was computed on that earlier frame, as torchclassify does on a
 * live stream, mode=auto, or with --interval.)
 *
 * A live (rtsp://) camera that fails, ends or goes quiet is not the end: its source part
 * (rtspsrc and decodebin) is torn down and built again after 1 s, 2 s, 4 s ... up to
 * --reconnect-max-backoff, on its own, while the other cameras, the model and the sink
 * stay as they are. A file camera ends at EOS. The app ends when every camera has ended
 * (status 0, or 1 when one of them failed) unless --control-port keeps it serving. A
 * camera that cannot start (a bad model) at startup is fatal (status 1).
 * SIGINT / SIGTERM stop it cleanly (status 0).
 *
 * --metrics-port serves Prometheus metrics (metrics.h), --control-port the control
 * endpoints (control.h), on one libsoup server (http.h). docs/guides/operations.md.
 *
 *   torchanalytics-app [OPTIONS] URI|PATH
 *   torchanalytics-app [OPTIONS] --camera NAME=URI [--camera NAME=URI ...]
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/gst.h>
#include <glib-unix.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "camera.h"
#include "control.h"
#include "http.h"
#include "metrics.h"
#include "web/live.h"

namespace {

struct Options {
  ta_app::ModelSettings model;
  ta_app::CameraConfig camera;  // the settings every camera gets (name and uri aside)
  std::vector<std::pair<std::string, std::string>> cameras;  // name, uri
  bool named = false;             // --camera given: lines carry the camera's name
  bool quiet = false;
  std::string metrics_address = "127.0.0.1", control_address = "127.0.0.1",
      http_address = "127.0.0.1";
  int metrics_port = -1, control_port = -1, http_port = -1;  // -1: off
  ta_app::LivePageOptions web;  // --video-*, --http-max-clients
};

// PATH or URI -> URI; "" with `*error` set.
std::string to_uri(const char *arg, std::string *error) {
  if (gst_uri_is_valid(arg))
    return arg;
  GError *err = nullptr;
  gchar *uri = gst_filename_to_uri(arg, &err);
  if (!uri) {
    *error = std::string("'") + arg + "': " + err->message;
    g_clear_error(&err);
    return "";
  }
  std::string s = uri;
  g_free(uri);
  return s;
}

bool parse_args(int *argc, char ***argv, Options *o) {
  gchar *model = nullptr, *weights = nullptr, *labels = nullptr, *device = nullptr, *mode = nullptr;
  gchar *maddr = nullptr, *caddr = nullptr, *haddr = nullptr, *instance = nullptr;
  gchar **cameras = nullptr;
  ta_app::CameraConfig &c = o->camera;
  gint top_k = 0, interval = 0, batch = 0, batch_timeout = -1, backoff = c.max_backoff_s,
       latency = c.latency_ms, stall = c.stall_timeout_s,
       connect = c.connect_timeout_s;
  gint mport = -1, cport = -1, hport = -1;
  gint64 max_frames = 0;
  gboolean tcp = FALSE, quiet = FALSE;
  GOptionEntry entries[] = {
    {"camera", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cameras,
        "A camera, NAME=URI (repeat for more; all share one model)", "NAME=URI"},
    {"model-location", 0, 0, G_OPTION_ARG_FILENAME, &model, "TorchScript classifier", "FILE"},
    {"weights-location", 0, 0, G_OPTION_ARG_FILENAME, &weights, "torchvision state dict", "FILE"},
    {"labels-location", 0, 0, G_OPTION_ARG_FILENAME, &labels, "Label file, one per line", "FILE"},
    {"device", 0, 0, G_OPTION_ARG_STRING, &device, "auto, cpu, cuda, cuda:N", "DEV"},
    {"top-k", 0, 0, G_OPTION_ARG_INT, &top_k, "Classes attached per frame", "K"},
    {"mode", 0, 0, G_OPTION_ARG_STRING, &mode,
        "torchclassify mode: auto (default: live on RTSP), sync, live", "MODE"},
    {"interval", 0, 0, G_OPTION_ARG_INT, &interval, "Classify one frame in N", "N"},
    {"batch-size", 0, 0, G_OPTION_ARG_INT, &batch,
        "Frames per model call, gathered across the cameras (default: the element's)", "N"},
    {"batch-timeout", 0, 0, G_OPTION_ARG_INT, &batch_timeout,
        "Longest wait for a batch to fill, ms (default: the element's)", "MS"},
    {"model-instance-id", 0, 0, G_OPTION_ARG_STRING, &instance,
        "torchclassify model-instance-id the cameras share (default torchanalytics-app)", "ID"},
    {"max-frames", 0, 0, G_OPTION_ARG_INT64, &max_frames,
        "Stop a camera after N frames (0: no limit)", "N"},
    {"reconnect-max-backoff", 0, 0, G_OPTION_ARG_INT, &backoff,
        "Longest wait between reconnections of a live source, seconds (default 30)", "S"},
    {"latency", 0, 0, G_OPTION_ARG_INT, &latency, "rtspsrc jitter buffer, ms (default 200)", "MS"},
    {"tcp", 0, 0, G_OPTION_ARG_NONE, &tcp, "RTSP over TCP (protocols=tcp)", nullptr},
    {"stall-timeout", 0, 0, G_OPTION_ARG_INT, &stall,
        "Reconnect a live source that gave no frame for S seconds (default 20)", "S"},
    {"connect-timeout", 0, 0, G_OPTION_ARG_INT, &connect,
        "Reconnect a live source whose first frame did not come in S seconds (default 30; "
        "at least --stall-timeout)", "S"},
    {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No line per frame on stdout", nullptr},
    {"metrics-port", 0, 0, G_OPTION_ARG_INT, &mport,
        "Serve Prometheus metrics on /metrics at this port (0: a free one)", "PORT"},
    {"metrics-address", 0, 0, G_OPTION_ARG_STRING, &maddr,
        "Address for --metrics-port (default 127.0.0.1)", "ADDR"},
    {"control-port", 0, 0, G_OPTION_ARG_INT, &cport,
        "Serve the control endpoints (add/remove cameras, swap the model) at this port", "PORT"},
    {"control-address", 0, 0, G_OPTION_ARG_STRING, &caddr,
        "Address for --control-port (default 127.0.0.1)", "ADDR"},
    {"http-port", 0, 0, G_OPTION_ARG_INT, &hport,
        "Serve the live web page at this port (0: a free one)", "PORT"},
    {"http-address", 0, 0, G_OPTION_ARG_STRING, &haddr,
        "Address for --http-port (default 127.0.0.1; others can then watch: see "
        "docs/guides/browser.md)", "ADDR"},
    {"video-fps", 0, 0, G_OPTION_ARG_INT, &o->web.video.fps,
        "Frames a second of the page's video, at most (default 5)", "N"},
    {"video-width", 0, 0, G_OPTION_ARG_INT, &o->web.video.width,
        "Width of the page's video, at most, pixels (default 640)", "W"},
    {"video-quality", 0, 0, G_OPTION_ARG_INT, &o->web.video.quality,
        "JPEG quality of the page's video, 1..100 (default 70)", "Q"},
    {"http-max-clients", 0, 0, G_OPTION_ARG_INT, &o->web.video.max_clients,
        "Video streams, and event streams, served at once (default 32)", "N"},
    {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}
  };
  GError *err = nullptr;
  GOptionContext *ctx = g_option_context_new(
      "[URI|PATH] - classify a video file or RTSP streams (one, or many with --camera)");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_option_context_add_group(ctx, gst_init_get_option_group());
  const gboolean ok = g_option_context_parse(ctx, argc, argv, &err);
  g_option_context_free(ctx);
  if (!ok) {
    g_printerr("torchanalytics-app: %s\n", err->message);
    g_clear_error(&err);
    return false;
  }
  auto take = [](gchar *s, std::string *dst) {
    if (s)
      *dst = s;
    g_free(s);
  };
  take(model, &o->model.model_location);
  take(weights, &o->model.weights_location);
  take(labels, &o->model.labels_location);
  take(device, &o->model.device);
  take(mode, &o->model.mode);
  take(instance, &o->model.instance_id);
  take(maddr, &o->metrics_address);
  take(caddr, &o->control_address);
  take(haddr, &o->http_address);
  o->model.top_k = top_k;
  o->model.interval = interval;
  o->model.batch_size = batch;
  o->model.batch_timeout_ms = batch_timeout;
  c.max_frames = max_frames;
  c.max_backoff_s = backoff;
  c.latency_ms = latency;
  c.tcp = tcp;
  c.stall_timeout_s = stall;
  c.connect_timeout_s = connect;
  o->quiet = quiet;
  o->metrics_port = mport;
  o->control_port = cport;
  o->http_port = hport;

  std::string error;
  bool good = true;
  for (gchar **p = cameras; p && *p; p++) {
    const char *eq = std::strchr(*p, '=');
    if (!eq || eq == *p || !eq[1]) {
      g_printerr("torchanalytics-app: --camera '%s': give NAME=URI\n", *p);
      good = false;
      continue;
    }
    const std::string uri = to_uri(eq + 1, &error);
    if (uri.empty()) {
      g_printerr("torchanalytics-app: --camera %s\n", error.c_str());
      good = false;
      continue;
    }
    o->cameras.emplace_back(std::string(*p, (size_t)(eq - *p)), uri);
  }
  g_strfreev(cameras);
  if (!good)
    return false;
  o->named = !o->cameras.empty();
  if (*argc == 2 && o->cameras.empty()) {
    const std::string uri = to_uri((*argv)[1], &error);
    if (uri.empty()) {
      g_printerr("torchanalytics-app: %s\n", error.c_str());
      return false;
    }
    o->cameras.emplace_back("cam0", uri);
  } else if (*argc != 1 || (o->cameras.empty() && cport < 0)) {
    g_printerr("torchanalytics-app: give one URI or file, or --camera NAME=URI (see --help)\n");
    return false;
  }
  if (top_k < 0 || interval < 0 || batch < 0 || batch_timeout < -1 || max_frames < 0 ||
      backoff < 1 || latency < 0 || stall < 1 || connect < 1) {
    g_printerr("torchanalytics-app: --top-k, --interval, --batch-size, --batch-timeout, "
               "--max-frames and --latency must be >= 0, --reconnect-max-backoff, "
               "--stall-timeout and --connect-timeout >= 1\n");
    return false;
  }
  for (int port : {mport, cport, hport}) {
    if (port < -1 || port > 65535) {
      g_printerr("torchanalytics-app: a port is 0..65535 (0: a free one)\n");
      return false;
    }
  }
  o->web.events.max_clients = o->web.video.max_clients;
  const std::string web_error = ta_app::validate(o->web.video);
  if (!web_error.empty()) {
    g_printerr("torchanalytics-app: %s\n", web_error.c_str());
    return false;
  }
  const std::string &m = o->model.mode;
  if (!m.empty() && m != "auto" && m != "sync" && m != "live") {
    g_printerr("torchanalytics-app: --mode is auto, sync or live\n");
    return false;
  }
  return true;
}

struct App {
  GMainLoop *loop = nullptr;
  bool serving = false;  // --control-port: the app runs on when every camera has ended
  int exit_code = 0;
};

gboolean on_signal(gpointer user_data) {
  App *app = static_cast<App *>(user_data);
  g_printerr("stopping\n");
  g_main_loop_quit(app->loop);
  return G_SOURCE_CONTINUE;
}

// Listens for `name` on address:port when port >= 0; prints where, or why not.
bool listen(ta_app::HttpServer *http, const std::string &address, int port, const char *name) {
  if (port < 0)
    return true;
  int bound = 0;
  std::string error;
  if (!http->listen(address, port, name, &bound, &error)) {
    g_printerr("torchanalytics-app: --%s-port: %s\n", name, error.c_str());
    return false;
  }
  const bool v6 = address.find(':') != std::string::npos;
  // One line a test or a script can read: "metrics: http://127.0.0.1:9100/".
  g_printerr("%s: http://%s%s%s:%d/\n", name, v6 ? "[" : "", address.c_str(), v6 ? "]" : "",
      bound);
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  Options opt;
  if (!parse_args(&argc, &argv, &opt))
    return 2;
  App app;
  app.loop = g_main_loop_new(nullptr, FALSE);
  app.serving = opt.control_port >= 0;

  auto registry = std::make_unique<ta_app::CameraRegistry>(opt.model);
  auto http = std::make_unique<ta_app::HttpServer>();
  std::unique_ptr<ta_app::Metrics> metrics;
  std::unique_ptr<ta_app::Control> control;

  if (!listen(http.get(), opt.metrics_address, opt.metrics_port, "metrics") ||
      !listen(http.get(), opt.control_address, opt.control_port, "control") ||
      !listen(http.get(), opt.http_address, opt.http_port, "web")) {
    http.reset();
    registry.reset();
    g_main_loop_unref(app.loop);
    return 1;
  }
  if (opt.metrics_port >= 0)
    metrics = std::make_unique<ta_app::Metrics>(http.get(), registry.get());
  if (opt.control_port >= 0)
    control = std::make_unique<ta_app::Control>(http.get(), registry.get(), opt.camera);
  std::unique_ptr<ta_app::LivePage> web;
  if (opt.http_port >= 0)
    web = std::make_unique<ta_app::LivePage>(http.get(), registry.get(), opt.web);

  if (!opt.quiet) {
    const bool named = opt.named;
    registry->set_line_callback([named](const ta_app::Camera &cam, const std::string &line) {
      if (named)
        std::printf("%s: %s\n", cam.name().c_str(), line.c_str());
      else
        std::printf("%s\n", line.c_str());
      std::fflush(stdout);
    });
  }
  registry->set_down_callback([&app, &registry](const std::shared_ptr<ta_app::Camera> &,
                                   bool failed) {
    if (failed)
      app.exit_code = 1;
    if (app.serving)
      return;
    for (const auto &c : registry->cameras())
      if (c->state() != ta_app::CameraState::kDown)
        return;
    g_main_loop_quit(app.loop);
  });

  for (const auto &nu : opt.cameras) {
    ta_app::CameraConfig cfg = opt.camera;
    cfg.name = nu.first;
    cfg.uri = nu.second;
    std::string error;
    if (!registry->add(cfg, &error)) {
      g_printerr("%s: %s\n", cfg.name.c_str(), error.c_str());
      app.exit_code = 1;
      break;
    }
  }

  const guint sigint = g_unix_signal_add(SIGINT, on_signal, &app);
  const guint sigterm = g_unix_signal_add(SIGTERM, on_signal, &app);
  if (app.exit_code == 0)
    g_main_loop_run(app.loop);

  // The server first: no handler runs while the cameras go.
  web.reset();
  control.reset();
  metrics.reset();
  http.reset();
  registry.reset();
  g_source_remove(sigint);
  g_source_remove(sigterm);
  g_main_loop_unref(app.loop);
  std::fflush(stdout);
  return app.exit_code;
}
