/* torchanalytics-app: an application that embeds torchclassify.
 *
 * It builds, in code,
 *
 *   file:   uridecodebin uri=URI ! videoconvert ! torchclassify ! fakesink
 *   rtsp:   [rtspsrc location=URI ! decodebin] ! videoconvert ! torchclassify ! fakesink
 *           (the source part in a bin of its own, rebuilt on failure)
 *
 * reads the classification meta in a pad probe on torchclassify's src pad, through the
 * installed header only (pkg-config gsttorchanalyticsmeta-1.0; no LibTorch here), and
 * prints one line per classified frame on stdout:
 *
 *   frame 12 pts=0:00:00.400000000 top1=tabby 0.8123
 *   frame 13 pts=0:00:00.433333333 source-pts=0:00:00.400000000 top1=tabby 0.8123
 *
 * (source-pts: the result was computed on that earlier frame, as torchclassify does on a
 * live stream, mode=auto, or with --interval.)
 *
 * A live (rtsp://) stream that fails or ends is not the end: the source part (rtspsrc
 * and decodebin) is torn down and built again after 1 s, 2 s, 4 s ... up to
 * --reconnect-max-backoff, while videoconvert, torchclassify (and its loaded model) and
 * the sink stay as they are. A file ends with exit status 0 at EOS. Errors of
 * torchclassify (a bad model) and of the rest of the pipeline are fatal (status 1).
 * SIGINT / SIGTERM stop it cleanly (status 0).
 *
 *   torchanalytics-app [OPTIONS] URI|PATH
 *   torchanalytics-app --model-location=model.ts rtsp://camera/stream
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/gst.h>
#include <glib-unix.h>

#include <gsttorchclassificationmeta.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

struct Options {
  std::string uri;
  std::string model_location;
  std::string weights_location;
  std::string labels_location;
  std::string device;
  int top_k = 0;                  // 0: the element's default
  int interval = 0;               // 0: the element's default
  std::string mode;               // "": the element's default (auto)
  gint64 max_frames = 0;          // 0: no limit
  int max_backoff_s = 30;
  int latency_ms = 200;
  bool tcp = false;
  int stall_timeout_s = 20;       // a live source that gives no frame this long is restarted
};

struct App {
  Options opt;
  bool live = false;              // rtsp: reconnect instead of exiting
  GMainLoop *loop = nullptr;
  GstElement *pipeline = nullptr;
  GstElement *classify = nullptr;
  GstElement *first = nullptr;    // where the source part links to (videoconvert)
  GstElement *src = nullptr;      // the source part: a bin of rtspsrc ! decodebin (live),
                                  // or uridecodebin (file)

  std::atomic<gint64> frames{0};        // classified frames, printed
  std::atomic<gint64> frames_at_build{0};
  std::atomic<gint64> last_frame_us{0}; // g_get_monotonic_time of the last frame
  gint64 built_us = 0;
  std::atomic<bool> stopping{false};

  guint restart_id = 0;           // pending rebuild of the source
  guint watchdog_id = 0;
  int backoff_s = 1;
  int exit_code = 0;
};

bool is_live_uri(const std::string &uri) {
  gchar *scheme = gst_uri_get_protocol(uri.c_str());
  const bool live = scheme && g_str_has_prefix(scheme, "rtsp");  // rtsp, rtsps, rtspt, rtspu...
  g_free(scheme);
  return live;
}

GstElement *make(const char *factory, const char *name = nullptr) {
  GstElement *e = gst_element_factory_make(factory, name);
  if (!e)
    g_printerr("error: element '%s' not found; is the GStreamer plugin that provides it (or "
               "torchanalytics, via GST_PLUGIN_PATH) installed?\n", factory);
  return e;
}

void post_app_message(App *app, const char *name) {
  gst_element_post_message(app->pipeline,
      gst_message_new_application(GST_OBJECT(app->pipeline), gst_structure_new_empty(name)));
}

/* ---- the results: a probe on torchclassify's src pad -------------------- */

GstPadProbeReturn on_classified(GstPad *, GstPadProbeInfo *info, gpointer user_data) {
  App *app = static_cast<App *>(user_data);
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
  if (app->stopping.load())
    return GST_PAD_PROBE_DROP;

  GstTorchClassificationMeta *meta = gst_buffer_get_torch_classification_meta(buf);
  if (!meta)
    return GST_PAD_PROBE_OK;  // not classified: nothing to print

  const gint64 n = app->frames.fetch_add(1);
  app->last_frame_us.store(g_get_monotonic_time());
  gchar pts[64];
  if (GST_BUFFER_PTS_IS_VALID(buf))
    g_snprintf(pts, sizeof pts, "%" GST_TIME_FORMAT, GST_TIME_ARGS(GST_BUFFER_PTS(buf)));
  else
    g_strlcpy(pts, "none", sizeof pts);
  gchar source[80] = "";
  if (GST_CLOCK_TIME_IS_VALID(meta->source_pts))
    g_snprintf(source, sizeof source, " source-pts=%" GST_TIME_FORMAT, GST_TIME_ARGS(meta->source_pts));
  const GstTorchClassLabel *top = gst_torch_classification_meta_get_label(meta, 0);
  if (top)
    std::printf("frame %" PRId64 " pts=%s%s top1=%s %.4f\n", n, pts, source, top->label, top->score);
  else
    std::printf("frame %" PRId64 " pts=%s%s top1=none\n", n, pts, source);  // all under `threshold`
  std::fflush(stdout);

  if (app->opt.max_frames > 0 && n + 1 >= app->opt.max_frames) {
    app->stopping.store(true);
    post_app_message(app, "max-frames");
  }
  return GST_PAD_PROBE_OK;
}

/* A live stream's EOS must not reach the sink (a sink that saw EOS takes no more data):
 * it is turned into a restart of the source. */
GstPadProbeReturn on_source_event(GstPad *, GstPadProbeInfo *info, gpointer user_data) {
  App *app = static_cast<App *>(user_data);
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
  if (GST_EVENT_TYPE(ev) == GST_EVENT_EOS && app->live) {
    post_app_message(app, "source-eos");
    return GST_PAD_PROBE_DROP;
  }
  return GST_PAD_PROBE_OK;
}

/* ---- the source part ---------------------------------------------------- */

bool caps_are(GstPad *pad, const char *media_prefix, const char *rtp_media) {
  GstCaps *caps = gst_pad_get_current_caps(pad);
  if (!caps)
    caps = gst_pad_query_caps(pad, nullptr);
  bool ok = false;
  if (caps && !gst_caps_is_empty(caps)) {
    const GstStructure *s = gst_caps_get_structure(caps, 0);
    if (rtp_media) {
      const gchar *media = gst_structure_get_string(s, "media");
      ok = gst_structure_has_name(s, "application/x-rtp") && media &&
           g_str_equal(media, rtp_media);
    } else {
      ok = g_str_has_prefix(gst_structure_get_name(s), media_prefix);
    }
  }
  if (caps)
    gst_caps_unref(caps);
  return ok;
}

// Links a new pad to `target`'s sink pad if it is of the right kind and the sink is free.
void link_if_free(GstPad *pad, GstElement *target, const char *what) {
  GstPad *sink = gst_element_get_static_pad(target, "sink");
  if (!gst_pad_is_linked(sink)) {
    const GstPadLinkReturn r = gst_pad_link(pad, sink);
    if (r != GST_PAD_LINK_OK)
      g_printerr("warning: could not link the %s pad: %s\n", what, gst_pad_link_get_name(r));
  }
  gst_object_unref(sink);
}

// uridecodebin (file): the first decoded video pad goes to videoconvert.
void on_decoded_pad(GstElement *, GstPad *pad, gpointer user_data) {
  App *app = static_cast<App *>(user_data);
  if (caps_are(pad, "video/", nullptr))
    link_if_free(pad, app->first, "decoded video");
}

// decodebin (live): the first decoded video pad becomes the source bin's output.
void on_live_decoded_pad(GstElement *decode, GstPad *pad, gpointer) {
  if (!caps_are(pad, "video/", nullptr))
    return;
  GstElement *bin = GST_ELEMENT(gst_object_get_parent(GST_OBJECT(decode)));
  if (!bin)
    return;
  GstPad *ghost = gst_element_get_static_pad(bin, "src");
  GstPad *target = gst_ghost_pad_get_target(GST_GHOST_PAD(ghost));
  if (!target)
    gst_ghost_pad_set_target(GST_GHOST_PAD(ghost), pad);
  else
    gst_object_unref(target);
  gst_object_unref(ghost);
  gst_object_unref(bin);
}

void on_rtsp_pad(GstElement *, GstPad *pad, gpointer user_data) {
  GstElement *decode = static_cast<GstElement *>(user_data);
  // A camera may also send audio or metadata streams: only the first video one is decoded.
  if (caps_are(pad, nullptr, "video"))
    link_if_free(pad, decode, "RTP video");
}

// The live source part is a bin, rtspsrc ! decodebin, with one ghost src pad. Its
// async-handling keeps decodebin's preroll inside it: otherwise a decodebin added to the
// PLAYING pipeline (a reconnection) would take the whole pipeline back to PAUSED until
// it prerolled, which it cannot do while rtspsrc waits in PAUSED for the pipeline.
bool build_source(App *app) {
  if (app->live) {
    GstElement *rtsp = make("rtspsrc", "rtsp");
    GstElement *decode = make("decodebin", "decode");
    if (!rtsp || !decode) {
      if (rtsp)
        gst_object_unref(rtsp);
      if (decode)
        gst_object_unref(decode);
      return false;
    }
    g_object_set(rtsp, "location", app->opt.uri.c_str(), "latency", (guint)app->opt.latency_ms,
        nullptr);
    if (app->opt.tcp)
      gst_util_set_object_arg(G_OBJECT(rtsp), "protocols", "tcp");
    g_signal_connect(rtsp, "pad-added", G_CALLBACK(on_rtsp_pad), decode);
    g_signal_connect(decode, "pad-added", G_CALLBACK(on_live_decoded_pad), nullptr);

    app->src = gst_bin_new("source");
    g_object_set(app->src, "async-handling", TRUE, nullptr);
    gst_bin_add_many(GST_BIN(app->src), rtsp, decode, nullptr);
    gst_element_add_pad(app->src, gst_ghost_pad_new_no_target("src", GST_PAD_SRC));
    gst_bin_add(GST_BIN(app->pipeline), app->src);
    if (!gst_element_link(app->src, app->first)) {
      g_printerr("error: cannot link the RTSP source to videoconvert\n");
      return false;
    }
  } else {
    app->src = make("uridecodebin", "source");
    if (!app->src)
      return false;
    g_object_set(app->src, "uri", app->opt.uri.c_str(), nullptr);
    g_signal_connect(app->src, "pad-added", G_CALLBACK(on_decoded_pad), app);
    gst_bin_add(GST_BIN(app->pipeline), app->src);
  }
  app->frames_at_build.store(app->frames.load());
  app->built_us = g_get_monotonic_time();
  return true;
}

void remove_source(App *app) {
  if (!app->src)
    return;
  // To NULL first: its streaming threads stop (they may be blocked pushing downstream),
  // then out of the pipeline, which unlinks it and drops the last reference.
  gst_element_set_locked_state(app->src, TRUE);
  gst_element_set_state(app->src, GST_STATE_NULL);
  gst_bin_remove(GST_BIN(app->pipeline), app->src);
  app->src = nullptr;
}

gboolean start_source(gpointer user_data) {
  App *app = static_cast<App *>(user_data);
  app->restart_id = 0;
  g_printerr("connecting to %s\n", app->opt.uri.c_str());
  if (!build_source(app)) {
    app->exit_code = 1;
    g_main_loop_quit(app->loop);
    return G_SOURCE_REMOVE;
  }
  gst_element_sync_state_with_parent(app->src);
  return G_SOURCE_REMOVE;
}

// Tears the source part down and builds it again later, with exponential backoff.
void schedule_restart(App *app, const char *why) {
  if (app->restart_id || app->stopping.load())
    return;
  // A source that gave frames since it was built was a working connection: start over at 1 s.
  if (app->frames.load() > app->frames_at_build.load())
    app->backoff_s = 1;
  remove_source(app);
  g_printerr("source lost (%s): reconnecting in %d s\n", why, app->backoff_s);
  app->restart_id = g_timeout_add_seconds(app->backoff_s, start_source, app);
  app->backoff_s = MIN(app->backoff_s * 2, MAX(app->opt.max_backoff_s, 1));
}

// A live source can also just go quiet (a camera that hangs without closing the
// connection): restart it when no frame came for --stall-timeout seconds.
gboolean watchdog(gpointer user_data) {
  App *app = static_cast<App *>(user_data);
  if (app->restart_id || app->stopping.load() || !app->src)
    return G_SOURCE_CONTINUE;
  const gint64 now = g_get_monotonic_time();
  const gint64 since = MAX(app->last_frame_us.load(), app->built_us);
  if (now - since > (gint64)app->opt.stall_timeout_s * G_USEC_PER_SEC)
    schedule_restart(app, "no frames");
  return G_SOURCE_CONTINUE;
}

/* ---- the bus ------------------------------------------------------------ */

bool from_source(App *app, GstObject *obj) {
  return app->src && (obj == GST_OBJECT(app->src) || gst_object_has_as_ancestor(obj, GST_OBJECT(app->src)));
}

// A message from an element that is no longer in the pipeline (a source torn down
// while its last messages were on the bus).
bool stale(App *app, GstObject *obj) {
  return obj != GST_OBJECT(app->pipeline) && !gst_object_has_as_ancestor(obj, GST_OBJECT(app->pipeline));
}

gboolean on_bus(GstBus *, GstMessage *msg, gpointer user_data) {
  App *app = static_cast<App *>(user_data);
  switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_ERROR: {
      if (stale(app, msg->src))
        break;
      GError *err = nullptr;
      gchar *dbg = nullptr;
      gst_message_parse_error(msg, &err, &dbg);
      const bool source = from_source(app, msg->src);
      if (app->live && source) {
        g_printerr("source error from %s: %s\n", GST_OBJECT_NAME(msg->src), err->message);
        schedule_restart(app, err->message);
      } else {
        g_printerr("error from %s: %s\n%s%s", GST_OBJECT_NAME(msg->src), err->message,
            dbg ? dbg : "", dbg ? "\n" : "");
        app->exit_code = 1;
        g_main_loop_quit(app->loop);
      }
      g_clear_error(&err);
      g_free(dbg);
      break;
    }
    case GST_MESSAGE_WARNING: {
      if (stale(app, msg->src))
        break;
      GError *err = nullptr;
      gst_message_parse_warning(msg, &err, nullptr);
      g_printerr("warning from %s: %s\n", GST_OBJECT_NAME(msg->src), err->message);
      g_clear_error(&err);
      break;
    }
    case GST_MESSAGE_EOS:
      // Only a file gets here: a live stream's EOS is stopped before the sink.
      g_printerr("end of stream after %" PRId64 " frames\n", app->frames.load());
      g_main_loop_quit(app->loop);
      break;
    case GST_MESSAGE_APPLICATION: {
      const GstStructure *s = gst_message_get_structure(msg);
      if (gst_structure_has_name(s, "source-eos"))
        schedule_restart(app, "end of stream");
      else if (gst_structure_has_name(s, "max-frames"))
        g_main_loop_quit(app->loop);
      break;
    }
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

gboolean on_signal(gpointer user_data) {
  App *app = static_cast<App *>(user_data);
  g_printerr("stopping\n");
  app->stopping.store(true);
  g_main_loop_quit(app->loop);
  return G_SOURCE_CONTINUE;
}

/* ---- the pipeline ------------------------------------------------------- */

bool build_pipeline(App *app) {
  app->pipeline = gst_pipeline_new("torchanalytics-app");
  GstElement *convert = make("videoconvert", "convert");
  app->classify = make("torchclassify", "classify");
  GstElement *sink = make("fakesink", "sink");
  if (!convert || !app->classify || !sink)
    return false;

  const Options &o = app->opt;
  if (!o.model_location.empty())
    g_object_set(app->classify, "model-location", o.model_location.c_str(), nullptr);
  if (!o.weights_location.empty())
    g_object_set(app->classify, "weights-location", o.weights_location.c_str(), nullptr);
  if (!o.labels_location.empty())
    g_object_set(app->classify, "labels-location", o.labels_location.c_str(), nullptr);
  if (!o.device.empty())
    g_object_set(app->classify, "device", o.device.c_str(), nullptr);
  if (o.top_k > 0)
    g_object_set(app->classify, "top-k", o.top_k, nullptr);
  if (o.interval > 0)
    g_object_set(app->classify, "interval", o.interval, nullptr);
  // mode=auto (the default) is live on an RTSP stream: frames never wait for the model,
  // each gets the newest finished result, so a model slower than the camera does not
  // make the stream fall behind.
  if (!o.mode.empty())
    gst_util_set_object_arg(G_OBJECT(app->classify), "mode", o.mode.c_str());
  // No clock sync: a result is printed as soon as it is computed. async=false: the sink
  // does not hold the pipeline's state while a source is being rebuilt.
  g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);

  gst_bin_add_many(GST_BIN(app->pipeline), convert, app->classify, sink, nullptr);
  if (!gst_element_link_many(convert, app->classify, sink, nullptr)) {
    g_printerr("error: cannot link videoconvert ! torchclassify ! fakesink\n");
    return false;
  }
  app->first = convert;

  GstPad *pad = gst_element_get_static_pad(app->classify, "src");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_classified, app, nullptr);
  gst_object_unref(pad);
  pad = gst_element_get_static_pad(app->first, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, on_source_event, app, nullptr);
  gst_object_unref(pad);

  return build_source(app);
}

bool parse_args(int *argc, char ***argv, Options *o) {
  gchar *model = nullptr, *weights = nullptr, *labels = nullptr, *device = nullptr, *mode = nullptr;
  gint top_k = 0, interval = 0, backoff = o->max_backoff_s, latency = o->latency_ms, stall = o->stall_timeout_s;
  gint64 max_frames = 0;
  gboolean tcp = FALSE;
  GOptionEntry entries[] = {
    {"model-location", 0, 0, G_OPTION_ARG_FILENAME, &model, "TorchScript classifier", "FILE"},
    {"weights-location", 0, 0, G_OPTION_ARG_FILENAME, &weights, "torchvision state dict", "FILE"},
    {"labels-location", 0, 0, G_OPTION_ARG_FILENAME, &labels, "Label file, one per line", "FILE"},
    {"device", 0, 0, G_OPTION_ARG_STRING, &device, "auto, cpu, cuda, cuda:N", "DEV"},
    {"top-k", 0, 0, G_OPTION_ARG_INT, &top_k, "Classes attached per frame", "K"},
    {"mode", 0, 0, G_OPTION_ARG_STRING, &mode,
        "torchclassify mode: auto (default: live on RTSP), sync, live", "MODE"},
    {"interval", 0, 0, G_OPTION_ARG_INT, &interval, "Classify one frame in N", "N"},
    {"max-frames", 0, 0, G_OPTION_ARG_INT64, &max_frames, "Stop after N frames (0: no limit)", "N"},
    {"reconnect-max-backoff", 0, 0, G_OPTION_ARG_INT, &backoff,
        "Longest wait between reconnections of a live source, seconds (default 30)", "S"},
    {"latency", 0, 0, G_OPTION_ARG_INT, &latency, "rtspsrc jitter buffer, ms (default 200)", "MS"},
    {"tcp", 0, 0, G_OPTION_ARG_NONE, &tcp, "RTSP over TCP (protocols=tcp)", nullptr},
    {"stall-timeout", 0, 0, G_OPTION_ARG_INT, &stall,
        "Reconnect a live source that gave no frame for S seconds (default 20)", "S"},
    {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}
  };
  GError *err = nullptr;
  GOptionContext *ctx = g_option_context_new("URI|PATH - classify a video file or an RTSP stream");
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
  take(model, &o->model_location);
  take(weights, &o->weights_location);
  take(labels, &o->labels_location);
  take(device, &o->device);
  take(mode, &o->mode);
  o->top_k = top_k;
  o->interval = interval;
  o->max_frames = max_frames;
  o->max_backoff_s = backoff;
  o->latency_ms = latency;
  o->tcp = tcp;
  o->stall_timeout_s = stall;
  if (*argc != 2) {
    g_printerr("torchanalytics-app: give one URI or file (see --help)\n");
    return false;
  }
  if (top_k < 0 || interval < 0 || max_frames < 0 || backoff < 1 || latency < 0 || stall < 1) {
    g_printerr("torchanalytics-app: --top-k, --interval, --max-frames and --latency must be >= 0, "
               "--reconnect-max-backoff and --stall-timeout >= 1\n");
    return false;
  }
  if (!o->mode.empty() && o->mode != "auto" && o->mode != "sync" && o->mode != "live") {
    g_printerr("torchanalytics-app: --mode is auto, sync or live\n");
    return false;
  }
  const char *arg = (*argv)[1];
  if (gst_uri_is_valid(arg)) {
    o->uri = arg;
  } else {
    gchar *uri = gst_filename_to_uri(arg, &err);
    if (!uri) {
      g_printerr("torchanalytics-app: '%s': %s\n", arg, err->message);
      g_clear_error(&err);
      return false;
    }
    o->uri = uri;
    g_free(uri);
  }
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  App app;
  if (!parse_args(&argc, &argv, &app.opt))
    return 2;
  app.live = is_live_uri(app.opt.uri);
  app.loop = g_main_loop_new(nullptr, FALSE);

  if (!build_pipeline(&app)) {
    if (app.pipeline)
      gst_object_unref(app.pipeline);
    return 1;
  }
  GstBus *bus = gst_element_get_bus(app.pipeline);
  const guint bus_watch = gst_bus_add_watch(bus, on_bus, &app);
  gst_object_unref(bus);
  const guint sigint = g_unix_signal_add(SIGINT, on_signal, &app);
  const guint sigterm = g_unix_signal_add(SIGTERM, on_signal, &app);

  if (app.live)
    g_printerr("connecting to %s\n", app.opt.uri.c_str());
  // torchclassify loads its model in READY->PAUSED: a model that does not load fails
  // here, or posts its error on the bus.
  if (gst_element_set_state(app.pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    // The element that failed posted why on the bus.
    GstBus *b = gst_element_get_bus(app.pipeline);
    GstMessage *m = gst_bus_pop_filtered(b, GST_MESSAGE_ERROR);
    gst_object_unref(b);
    if (m) {
      GError *err = nullptr;
      gchar *dbg = nullptr;
      gst_message_parse_error(m, &err, &dbg);
      g_printerr("error from %s: %s\n%s%s", GST_OBJECT_NAME(m->src), err->message,
          dbg ? dbg : "", dbg ? "\n" : "");
      g_clear_error(&err);
      g_free(dbg);
      gst_message_unref(m);
    } else {
      g_printerr("error: the pipeline did not start\n");
    }
    app.exit_code = 1;
  }
  if (app.exit_code == 0) {
    if (app.live)
      app.watchdog_id = g_timeout_add_seconds(1, watchdog, &app);
    g_main_loop_run(app.loop);
  }

  app.stopping.store(true);
  if (app.restart_id)
    g_source_remove(app.restart_id);
  if (app.watchdog_id)
    g_source_remove(app.watchdog_id);
  gst_element_set_state(app.pipeline, GST_STATE_NULL);
  g_source_remove(bus_watch);
  g_source_remove(sigint);
  g_source_remove(sigterm);
  gst_object_unref(app.pipeline);
  g_main_loop_unref(app.loop);
  std::fflush(stdout);
  return app.exit_code;
}
