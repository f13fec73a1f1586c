/* Cameras of the application: see camera.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "camera.h"

#include <gsttorchclassificationmeta.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cinttypes>
#include <deque>
#include <map>
#include <mutex>

#include "stats.h"

namespace ta_app {

const char *camera_state_name(CameraState state) {
  switch (state) {
    case CameraState::kConnecting: return "connecting";
    case CameraState::kUp: return "up";
    case CameraState::kReconnecting: return "reconnecting";
    case CameraState::kDown: return "down";
  }
  return "unknown";
}

namespace {

bool is_live_uri(const std::string &uri) {
  gchar *scheme = gst_uri_get_protocol(uri.c_str());
  const bool live = scheme && g_str_has_prefix(scheme, "rtsp");  // rtsp, rtsps, rtspt, rtspu...
  g_free(scheme);
  return live;
}

GstElement *make(const char *factory, const char *name, std::string *error) {
  GstElement *e = gst_element_factory_make(factory, name);
  if (!e && error)
    *error = std::string("element '") + factory + "' not found; is the GStreamer plugin that "
             "provides it (or torchanalytics, via GST_PLUGIN_PATH) installed?";
  return e;
}

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

std::string time_str(GstClockTime t) {
  if (!GST_CLOCK_TIME_IS_VALID(t))
    return "none";
  gchar buf[64];
  g_snprintf(buf, sizeof buf, "%" GST_TIME_FORMAT, GST_TIME_ARGS(t));
  return buf;
}

}  // namespace

/* ---- Camera::Impl -------------------------------------------------------- */

// What a camera calls back into its registry.
struct RegistryHooks {
  CameraRegistry::LineCallback on_line;
  CameraRegistry::DownCallback on_down;
};

struct CameraRegistry::Impl : RegistryHooks {
  ModelSettings model;
  std::vector<std::shared_ptr<Camera>> cameras;
  std::map<uint64_t, Watcher> watchers;
  uint64_t next_watch = 1;

  std::string sha_path, sha_value;  // the last file hashed

  // SHA-256 of the model file (model-location or weights-location), "" when none is set
  // or it cannot be read. Hashed once per file name.
  std::string model_file_sha() {
    const std::string &path =
        model.model_location.empty() ? model.weights_location : model.model_location;
    if (path.empty())
      return "";
    if (path == sha_path)
      return sha_value;
    std::string hex;
    FILE *f = std::fopen(path.c_str(), "rb");
    if (f) {
      GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
      std::vector<guchar> buf(1 << 16);
      size_t n;
      while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0)
        g_checksum_update(sum, buf.data(), (gssize)n);
      if (!std::ferror(f))
        hex = g_checksum_get_string(sum);
      g_checksum_free(sum);
      std::fclose(f);
    }
    sha_path = path;
    sha_value = hex;
    return hex;
  }

  void notify(const std::shared_ptr<Camera> &cam, Event ev) {
    auto copy = watchers;  // a watcher may unwatch itself
    for (auto &w : copy)
      w.second(cam, ev);
  }
};

struct Camera::Impl {
  CameraConfig cfg;
  ModelSettings model;
  std::string file_sha;  // SHA-256 of the model file the camera was given ("" for the hub's)
  // Null once the camera left its registry. Read on the streaming thread.
  std::atomic<RegistryHooks *> owner{nullptr};
  std::weak_ptr<Camera> self;
  bool live = false;

  GstElement *pipeline = nullptr;
  GstElement *convert = nullptr;
  GstElement *classify = nullptr;
  GstElement *tee = nullptr;
  GstElement *src = nullptr;  // the source part; null while reconnecting
  bool has_stats_property = false;

  guint bus_watch = 0;
  guint restart_id = 0;
  guint watchdog_id = 0;
  int backoff_s = 1;

  std::atomic<int> state{static_cast<int>(CameraState::kConnecting)};
  std::atomic<bool> stopping{false};
  std::atomic<int64_t> frames{0};
  std::atomic<int64_t> results{0};
  std::atomic<int64_t> dropped{0};
  std::atomic<int64_t> reconnects{0};
  std::atomic<int64_t> results_at_build{0};
  std::atomic<gint64> last_frame_us{0};
  gint64 built_us = 0;

  mutable std::mutex mu;  // what follows
  std::string latest_json;
  std::string model_name, model_sha;
  int width = 0, height = 0;
  GstClockTime last_source_pts = GST_CLOCK_TIME_NONE;
  LatencyWindow latency;
  RateWindow rate;
  ArrivalTimes arrivals;  // when frames (by pts) reached torchclassify

  std::mutex sub_mu;  // held while callbacks run: unsubscribe() waits for them
  std::map<uint64_t, Camera::ResultCallback> subscribers;
  uint64_t next_sub = 1;

  std::vector<GstElement *> branches;  // the queue in front of each, for remove_branch

  CameraState get_state() const { return static_cast<CameraState>(state.load()); }
  void set_state(CameraState s) { state.store(static_cast<int>(s)); }

  bool build(std::string *error);
  bool build_source(std::string *error);
  void remove_source();
  void schedule_restart(const char *why);
  void go_down(bool failed, const std::string &why);
  void stop();
  bool from_source(GstObject *obj) const {
    return src && (obj == GST_OBJECT(src) || gst_object_has_as_ancestor(obj, GST_OBJECT(src)));
  }
  bool stale(GstObject *obj) const {
    return obj != GST_OBJECT(pipeline) && !gst_object_has_as_ancestor(obj, GST_OBJECT(pipeline));
  }

  GstPadProbeReturn on_classified(GstBuffer *buf);
  static gboolean on_bus(GstBus *, GstMessage *msg, gpointer self);
  static gboolean start_source(gpointer self);
  static gboolean watchdog(gpointer self);
};

void Camera::Impl::go_down(bool failed, const std::string &why) {
  if (get_state() == CameraState::kDown)
    return;
  g_printerr("%s: %s\n", cfg.name.c_str(), why.c_str());
  stop();
  RegistryHooks *hooks = owner.load();
  if (hooks && hooks->on_down) {
    auto cam = self.lock();
    if (cam)
      hooks->on_down(cam, failed);
  }
}

void Camera::Impl::stop() {
  stopping.store(true);
  set_state(CameraState::kDown);
  if (restart_id) {
    g_source_remove(restart_id);
    restart_id = 0;
  }
  if (watchdog_id) {
    g_source_remove(watchdog_id);
    watchdog_id = 0;
  }
  if (pipeline)
    gst_element_set_state(pipeline, GST_STATE_NULL);
}

GstPadProbeReturn Camera::Impl::on_classified(GstBuffer *buf) {
  if (stopping.load())
    return GST_PAD_PROBE_DROP;
  const gint64 now = g_get_monotonic_time();
  frames.fetch_add(1);
  last_frame_us.store(now);
  int expected = static_cast<int>(CameraState::kConnecting);
  state.compare_exchange_strong(expected, static_cast<int>(CameraState::kUp));

  GstTorchClassificationMeta *meta = gst_buffer_get_torch_classification_meta(buf);
  const GstClockTime pts = GST_BUFFER_PTS(buf);
  std::unique_lock<std::mutex> lock(mu);
  rate.add(now);
  if (!meta) {
    dropped.fetch_add(1);
    return GST_PAD_PROBE_OK;
  }
  const int64_t n = results.fetch_add(1);
  const GstClockTime source = meta->source_pts;

  // The latency of a result: torchclassify's own number (the meta's field), else the time
  // since the frame it was computed on reached torchclassify, counted once per result (a
  // borrowed result is not measured again).
  const bool new_result = !GST_CLOCK_TIME_IS_VALID(source) || source != last_source_pts;
  if (new_result) {
    last_source_pts = source;
    if (GST_CLOCK_TIME_IS_VALID(meta->latency)) {
      latency.add(meta->latency / 1e9);
    } else {
      const gint64 arrived = arrivals.take(GST_CLOCK_TIME_IS_VALID(source) ? source : pts);
      if (arrived > 0)
        latency.add((now - arrived) / 1e6);
    }
  }
  model_name = meta->model ? meta->model : "";
  if (meta->model_sha256)
    model_sha = meta->model_sha256;
  width = meta->width;
  height = meta->height;

  // One line of the torchmetasink schema, for the whole frame's results.
  nlohmann::json j;
  j["stream"] = cfg.name;
  j["frame"] = n;
  j["pts"] = GST_CLOCK_TIME_IS_VALID(pts) ? nlohmann::json(pts) : nlohmann::json(nullptr);
  nlohmann::json cls = nlohmann::json::array();
  gpointer state_it = nullptr;
  GstTorchClassificationMeta *m;
  while ((m = gst_buffer_iterate_torch_classification_meta(buf, &state_it))) {
    nlohmann::json c;
    c["model"] = m->model ? m->model : "";
    if (GST_CLOCK_TIME_IS_VALID(m->source_pts))
      c["source-pts"] = m->source_pts;
    if (m->model_sha256)
      c["model-sha256"] = m->model_sha256;
    c["roi"] = {{"x", m->x}, {"y", m->y}, {"w", m->width}, {"h", m->height}};
    if (m->roi_id >= 0)
      c["roi-id"] = m->roi_id;
    const gchar *type = gst_torch_classification_meta_get_roi_type_name(m);
    if (type)
      c["roi-type"] = type;
    nlohmann::json labels = nlohmann::json::array();
    for (guint i = 0; i < m->n_labels; i++)
      labels.push_back({{"id", m->labels[i].class_id},
          {"label", m->labels[i].label ? m->labels[i].label : ""},
          {"score", m->labels[i].score}});
    c["labels"] = labels;
    cls.push_back(c);
  }
  // The frame size: the full-frame region's, which is the frame.
  j["width"] = width;
  j["height"] = height;
  j["classifications"] = cls;
  latest_json = j.dump();
  const std::string json = latest_json;
  lock.unlock();  // the callbacks below may read the camera's stats

  RegistryHooks *hooks = owner.load();
  if (hooks && hooks->on_line) {
    const GstTorchClassLabel *top = gst_torch_classification_meta_get_label(meta, 0);
    gchar text[256];
    const std::string src_part =
        GST_CLOCK_TIME_IS_VALID(source) ? " source-pts=" + time_str(source) : std::string();
    if (top)
      g_snprintf(text, sizeof text, "frame %" PRId64 " pts=%s%s top1=%s %.4f", n,
          time_str(pts).c_str(), src_part.c_str(), top->label, top->score);
    else
      g_snprintf(text, sizeof text, "frame %" PRId64 " pts=%s%s top1=none", n,
          time_str(pts).c_str(), src_part.c_str());  // all under `threshold`
    auto cam = self.lock();
    if (cam)
      hooks->on_line(*cam, text);
  }
  {
    std::lock_guard<std::mutex> sl(sub_mu);
    if (!subscribers.empty()) {
      const CameraResult r{cfg.name, n, pts, json, buf};
      for (auto &s : subscribers)
        s.second(r);
    }
  }
  if (cfg.max_frames > 0 && n + 1 >= cfg.max_frames) {
    stopping.store(true);
    gst_element_post_message(pipeline, gst_message_new_application(GST_OBJECT(pipeline),
        gst_structure_new_empty("max-frames")));
  }
  return GST_PAD_PROBE_OK;
}

// The live source part is a bin, rtspsrc ! decodebin, with one ghost src pad. Its
// async-handling keeps decodebin's preroll inside it: otherwise a decodebin added to the
// PLAYING pipeline (a reconnection) would take the whole pipeline back to PAUSED until
// it prerolled, which it cannot do while rtspsrc waits in PAUSED for the pipeline.
bool Camera::Impl::build_source(std::string *error) {
  if (live) {
    GstElement *rtsp = make("rtspsrc", "rtsp", error);
    GstElement *decode = make("decodebin", "decode", error);
    if (!rtsp || !decode) {
      if (rtsp)
        gst_object_unref(rtsp);
      if (decode)
        gst_object_unref(decode);
      return false;
    }
    g_object_set(rtsp, "location", cfg.uri.c_str(), "latency", (guint)cfg.latency_ms, nullptr);
    if (cfg.tcp)
      gst_util_set_object_arg(G_OBJECT(rtsp), "protocols", "tcp");
    g_signal_connect(rtsp, "pad-added", G_CALLBACK(on_rtsp_pad), decode);
    g_signal_connect(decode, "pad-added", G_CALLBACK(on_live_decoded_pad), nullptr);
    src = gst_bin_new("source");
    g_object_set(src, "async-handling", TRUE, nullptr);
    gst_bin_add_many(GST_BIN(src), rtsp, decode, nullptr);
    gst_element_add_pad(src, gst_ghost_pad_new_no_target("src", GST_PAD_SRC));
    gst_bin_add(GST_BIN(pipeline), src);
    if (!gst_element_link(src, convert)) {
      *error = "cannot link the RTSP source to videoconvert";
      return false;
    }
  } else {
    src = make("uridecodebin", "source", error);
    if (!src)
      return false;
    g_object_set(src, "uri", cfg.uri.c_str(), nullptr);
    g_signal_connect(src, "pad-added", G_CALLBACK(+[](GstElement *, GstPad *pad, gpointer c) {
      if (caps_are(pad, "video/", nullptr))
        link_if_free(pad, static_cast<GstElement *>(c), "decoded video");
    }), convert);
    gst_bin_add(GST_BIN(pipeline), src);
  }
  results_at_build.store(results.load());
  built_us = g_get_monotonic_time();
  return true;
}

void Camera::Impl::remove_source() {
  if (!src)
    return;
  // To NULL first: its streaming threads stop (they may be blocked pushing downstream),
  // then out of the pipeline, which unlinks it and drops the last reference.
  gst_element_set_locked_state(src, TRUE);
  gst_element_set_state(src, GST_STATE_NULL);
  gst_bin_remove(GST_BIN(pipeline), src);
  src = nullptr;
}

gboolean Camera::Impl::start_source(gpointer user_data) {
  Impl *c = static_cast<Impl *>(user_data);
  c->restart_id = 0;
  g_printerr("%s: connecting to %s\n", c->cfg.name.c_str(), c->cfg.uri.c_str());
  std::string error;
  if (!c->build_source(&error)) {
    c->go_down(true, error);
    return G_SOURCE_REMOVE;
  }
  c->set_state(CameraState::kConnecting);
  gst_element_sync_state_with_parent(c->src);
  return G_SOURCE_REMOVE;
}

// Tears the source part down and builds it again later, with exponential backoff.
void Camera::Impl::schedule_restart(const char *why) {
  if (restart_id || stopping.load())
    return;
  // A source that gave results since it was built was a working connection: start over at 1 s.
  if (results.load() > results_at_build.load())
    backoff_s = 1;
  remove_source();
  set_state(CameraState::kReconnecting);
  reconnects.fetch_add(1);
  g_printerr("%s: source lost (%s): reconnecting in %d s\n", cfg.name.c_str(), why, backoff_s);
  restart_id = g_timeout_add_seconds((guint)backoff_s, start_source, this);
  backoff_s = std::min(backoff_s * 2, std::max(cfg.max_backoff_s, 1));
}

// A live source can also just go quiet (a camera that hangs without closing the
// connection): restart it when no frame came for stall_timeout_s.
gboolean Camera::Impl::watchdog(gpointer user_data) {
  Impl *c = static_cast<Impl *>(user_data);
  if (c->restart_id || c->stopping.load() || !c->src)
    return G_SOURCE_CONTINUE;
  const gint64 now = g_get_monotonic_time();
  const gint64 last = c->last_frame_us.load();
  // Until its first frame a rebuilt source is connecting (RTSP DESCRIBE/SETUP/PLAY, the
  // decoder's first keyframe, the first model call): that gets connect_timeout_s, which
  // on a loaded machine can be many times a stall of a running stream.
  const bool running = last >= c->built_us;
  const gint64 since = running ? last : c->built_us;
  const int limit_s = running ? c->cfg.stall_timeout_s
                              : std::max(c->cfg.stall_timeout_s, c->cfg.connect_timeout_s);
  if (now - since > (gint64)limit_s * G_USEC_PER_SEC)
    c->schedule_restart(running ? "no frames" : "no first frame");
  return G_SOURCE_CONTINUE;
}

gboolean Camera::Impl::on_bus(GstBus *, GstMessage *msg, gpointer user_data) {
  Impl *c = static_cast<Impl *>(user_data);
  const char *name = c->cfg.name.c_str();
  switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_ERROR: {
      if (c->stale(msg->src) || c->get_state() == CameraState::kDown)
        break;
      GError *err = nullptr;
      gchar *dbg = nullptr;
      gst_message_parse_error(msg, &err, &dbg);
      if (c->live && c->from_source(msg->src)) {
        g_printerr("%s: source error from %s: %s\n", name, GST_OBJECT_NAME(msg->src), err->message);
        c->schedule_restart(err->message);
      } else {
        // torchclassify (a bad model) or the rest of the pipeline: not a source to reconnect.
        c->go_down(true, std::string("error from ") + GST_OBJECT_NAME(msg->src) + ": " +
            err->message + (dbg ? std::string("\n") + dbg : std::string()));
      }
      g_clear_error(&err);
      g_free(dbg);
      break;
    }
    case GST_MESSAGE_WARNING: {
      if (c->stale(msg->src))
        break;
      GError *err = nullptr;
      gst_message_parse_warning(msg, &err, nullptr);
      g_printerr("%s: warning from %s: %s\n", name, GST_OBJECT_NAME(msg->src), err->message);
      g_clear_error(&err);
      break;
    }
    case GST_MESSAGE_EOS:
      // Only a file gets here: a live stream's EOS is stopped before the sink.
      c->go_down(false, "end of stream after " + std::to_string(c->results.load()) + " frames");
      break;
    case GST_MESSAGE_APPLICATION: {
      const GstStructure *s = gst_message_get_structure(msg);
      if (gst_structure_has_name(s, "source-eos"))
        c->schedule_restart("end of stream");
      else if (gst_structure_has_name(s, "max-frames"))
        c->go_down(false, "stopped after " + std::to_string(c->cfg.max_frames) + " frames");
      break;
    }
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

bool Camera::Impl::build(std::string *error) {
  live = is_live_uri(cfg.uri);
  gchar *pname = g_strdup_printf("camera-%s", cfg.name.c_str());
  pipeline = gst_pipeline_new(pname);
  g_free(pname);
  convert = make("videoconvert", "convert", error);
  classify = make("torchclassify", "classify", error);
  tee = make("tee", "tee", error);
  GstElement *queue = make("queue", "sinkqueue", error);
  GstElement *sink = make("fakesink", "sink", error);
  if (!convert || !classify || !tee || !queue || !sink) {
    for (GstElement *e : {convert, classify, tee, queue, sink})
      if (e)
        gst_object_unref(e);
    convert = classify = tee = nullptr;
    return false;
  }
  const ModelSettings &o = model;
  if (!o.model_location.empty())
    g_object_set(classify, "model-location", o.model_location.c_str(), nullptr);
  if (!o.weights_location.empty())
    g_object_set(classify, "weights-location", o.weights_location.c_str(), nullptr);
  if (!o.labels_location.empty())
    g_object_set(classify, "labels-location", o.labels_location.c_str(), nullptr);
  if (!o.device.empty())
    g_object_set(classify, "device", o.device.c_str(), nullptr);
  if (o.top_k > 0)
    g_object_set(classify, "top-k", o.top_k, nullptr);
  if (o.interval > 0)
    g_object_set(classify, "interval", o.interval, nullptr);
  if (o.batch_size > 0)
    g_object_set(classify, "batch-size", o.batch_size, nullptr);
  if (o.batch_timeout_ms >= 0)
    g_object_set(classify, "batch-timeout", o.batch_timeout_ms, nullptr);
  if (!o.instance_id.empty())
    g_object_set(classify, "model-instance-id", o.instance_id.c_str(), nullptr);
  // mode=auto (the default) is live on an RTSP stream: frames never wait for the model,
  // each gets the newest finished result, so a model slower than the camera does not
  // make the stream fall behind.
  if (!o.mode.empty())
    gst_util_set_object_arg(G_OBJECT(classify), "mode", o.mode.c_str());
  has_stats_property =
      g_object_class_find_property(G_OBJECT_GET_CLASS(classify), "stats") != nullptr;
  // No clock sync: a result is reported as soon as it is computed. async=false: the sink
  // does not hold the pipeline's state while a source is being rebuilt.
  g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
  // The tee's branches must not wait for each other: allow-not-linked for a branch being
  // removed, a queue before each sink.
  g_object_set(tee, "allow-not-linked", TRUE, nullptr);

  gst_bin_add_many(GST_BIN(pipeline), convert, classify, tee, queue, sink, nullptr);
  if (!gst_element_link_many(convert, classify, tee, queue, sink, nullptr)) {
    *error = "cannot link videoconvert ! torchclassify ! tee ! queue ! fakesink";
    return false;
  }

  GstPad *pad = gst_element_get_static_pad(classify, "src");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad *, GstPadProbeInfo *info, gpointer c) {
        return static_cast<Impl *>(c)->on_classified(GST_PAD_PROBE_INFO_BUFFER(info));
      }, this, nullptr);
  gst_object_unref(pad);
  pad = gst_element_get_static_pad(classify, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad *, GstPadProbeInfo *info, gpointer c) {
        Impl *self = static_cast<Impl *>(c);
        GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
        if (GST_BUFFER_PTS_IS_VALID(b)) {
          std::lock_guard<std::mutex> lock(self->mu);
          self->arrivals.add(GST_BUFFER_PTS(b), g_get_monotonic_time());
        }
        return GST_PAD_PROBE_OK;
      }, this, nullptr);
  gst_object_unref(pad);
  // A live stream's EOS must not reach the sink (a sink that saw EOS takes no more data):
  // it is turned into a restart of the source.
  pad = gst_element_get_static_pad(convert, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
      [](GstPad *, GstPadProbeInfo *info, gpointer c) {
        Impl *self = static_cast<Impl *>(c);
        if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_EOS && self->live) {
          gst_element_post_message(self->pipeline, gst_message_new_application(
              GST_OBJECT(self->pipeline), gst_structure_new_empty("source-eos")));
          return GST_PAD_PROBE_DROP;
        }
        return GST_PAD_PROBE_OK;
      }, this, nullptr);
  gst_object_unref(pad);

  GstBus *bus = gst_element_get_bus(pipeline);
  bus_watch = gst_bus_add_watch(bus, on_bus, this);
  gst_object_unref(bus);
  return build_source(error);
}

/* ---- Camera -------------------------------------------------------------- */

Camera::Camera(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Camera::~Camera() {
  Impl *c = impl_.get();
  c->stop();
  if (c->bus_watch)
    g_source_remove(c->bus_watch);
  if (c->pipeline)
    gst_object_unref(c->pipeline);
}

const std::string &Camera::name() const { return impl_->cfg.name; }
const std::string &Camera::uri() const { return impl_->cfg.uri; }
CameraState Camera::state() const { return impl_->get_state(); }
GstElement *Camera::pipeline() const { return impl_->pipeline; }

std::string Camera::latest_result_json() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->latest_json;
}

CameraStats Camera::stats() const {
  const Impl *c = impl_.get();
  CameraStats s;
  s.state = c->get_state();
  s.frames_total = c->frames.load();
  s.results_total = c->results.load();
  s.dropped_results_total = c->dropped.load();
  s.reconnects_total = c->reconnects.load();
  const gint64 now = g_get_monotonic_time();
  const gint64 last = c->last_frame_us.load();
  s.seconds_since_frame = last > 0 ? (now - last) / 1e6 : -1;
  {
    std::lock_guard<std::mutex> lock(c->mu);
    s.model_sha256 = c->file_sha;  // the model file's, until torchclassify tells its own
    s.fps = c->rate.per_second(now);
    s.latency_p50_s = c->latency.quantile(0.5);
    s.latency_p99_s = c->latency.quantile(0.99);
    s.latency_sum_s = c->latency.sum();
    s.latency_count = c->latency.count();
    s.model = c->model_name;
    if (!c->model_sha.empty())
      s.model_sha256 = c->model_sha;
    s.width = c->width;
    s.height = c->height;
  }
  // torchclassify's own numbers, where it has a `stats` property (a GstStructure).
  if (c->has_stats_property && c->classify) {
    GstStructure *st = nullptr;
    g_object_get(c->classify, "stats", &st, nullptr);
    if (st) {
      read_classify_stats(st, &s);
      gst_structure_free(st);
    }
  }
  return s;
}

uint64_t Camera::subscribe(ResultCallback cb) {
  std::lock_guard<std::mutex> lock(impl_->sub_mu);
  const uint64_t id = impl_->next_sub++;
  impl_->subscribers[id] = std::move(cb);
  return id;
}

void Camera::unsubscribe(uint64_t id) {
  std::lock_guard<std::mutex> lock(impl_->sub_mu);
  impl_->subscribers.erase(id);
}

bool Camera::add_branch(GstElement *branch) {
  Impl *c = impl_.get();
  gst_object_ref_sink(branch);
  GstElement *queue = gst_element_factory_make("queue", nullptr);
  if (!queue || c->get_state() == CameraState::kDown) {
    if (queue)
      gst_object_unref(queue);
    gst_object_unref(branch);
    return false;
  }
  // Leaky: a branch that cannot keep up (an encoder, a slow client) loses frames, the
  // camera does not wait for it.
  g_object_set(queue, "leaky", 2 /* downstream */, "max-size-buffers", 2, "max-size-bytes", 0,
      "max-size-time", (guint64)0, nullptr);
  gst_bin_add_many(GST_BIN(c->pipeline), queue, branch, nullptr);
  gst_object_unref(branch);  // the pipeline holds it now
  if (!gst_element_link(queue, branch) || !gst_element_link(c->tee, queue)) {
    gst_bin_remove_many(GST_BIN(c->pipeline), queue, branch, nullptr);
    return false;
  }
  gst_element_sync_state_with_parent(branch);
  gst_element_sync_state_with_parent(queue);
  c->branches.push_back(queue);
  return true;
}

void Camera::remove_branch(GstElement *branch) {
  Impl *c = impl_.get();
  GstPad *sink = gst_element_get_static_pad(branch, "sink");
  if (!sink)
    return;
  GstPad *peer = gst_pad_get_peer(sink);  // the queue's src pad
  gst_object_unref(sink);
  if (!peer)
    return;
  GstElement *queue = gst_pad_get_parent_element(peer);
  gst_object_unref(peer);
  auto it = std::find(c->branches.begin(), c->branches.end(), queue);
  if (it == c->branches.end()) {
    gst_object_unref(queue);
    return;
  }
  c->branches.erase(it);
  // Off the tee first, so no more buffers come; then to NULL and out.
  GstPad *qsink = gst_element_get_static_pad(queue, "sink");
  GstPad *teepad = gst_pad_get_peer(qsink);
  if (teepad) {
    gst_pad_unlink(teepad, qsink);
    gst_element_release_request_pad(c->tee, teepad);
    gst_object_unref(teepad);
  }
  gst_object_unref(qsink);
  gst_element_set_state(queue, GST_STATE_NULL);
  gst_element_set_state(branch, GST_STATE_NULL);
  gst_bin_remove_many(GST_BIN(c->pipeline), queue, branch, nullptr);
  gst_object_unref(queue);
}

/* ---- CameraRegistry ------------------------------------------------------ */

CameraRegistry::CameraRegistry(ModelSettings model) : impl_(std::make_unique<Impl>()) {
  impl_->model = std::move(model);
}

CameraRegistry::~CameraRegistry() {
  while (!impl_->cameras.empty())
    remove(impl_->cameras.back()->name());
}

static bool valid_name(const std::string &n) {
  if (n.empty() || n.size() > 64)
    return false;
  for (char ch : n)
    if (!g_ascii_isalnum(ch) && ch != '_' && ch != '-' && ch != '.')
      return false;
  return true;
}

std::shared_ptr<Camera> CameraRegistry::add(const CameraConfig &config, std::string *error) {
  if (!valid_name(config.name)) {
    *error = "camera name '" + config.name + "' is not 1 to 64 of A-Z a-z 0-9 _ . -";
    return nullptr;
  }
  if (find(config.name)) {
    *error = "there is already a camera named '" + config.name + "'";
    return nullptr;
  }
  if (!gst_uri_is_valid(config.uri.c_str())) {
    *error = "'" + config.uri + "' is not a URI (rtsp://HOST/PATH or file:///PATH)";
    return nullptr;
  }
  auto impl = std::make_unique<Camera::Impl>();
  impl->cfg = config;
  impl->model = impl_->model;
  impl->file_sha = impl_->model_file_sha();
  Camera::Impl *c = impl.get();
  std::shared_ptr<Camera> cam(new Camera(std::move(impl)));
  c->self = cam;
  if (!c->build(error))
    return nullptr;  // ~Camera releases what was built
  c->owner.store(impl_.get());  // before PLAYING: the first frames print too
  if (c->live)
    g_printerr("%s: connecting to %s\n", config.name.c_str(), config.uri.c_str());
  // torchclassify loads its model in READY->PAUSED: a model that does not load fails
  // here, and its error says why.
  if (gst_element_set_state(c->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    GstBus *b = gst_element_get_bus(c->pipeline);
    GstMessage *m = gst_bus_pop_filtered(b, GST_MESSAGE_ERROR);
    gst_object_unref(b);
    if (m) {
      GError *err = nullptr;
      gchar *dbg = nullptr;
      gst_message_parse_error(m, &err, &dbg);
      *error = std::string("error from ") + GST_OBJECT_NAME(m->src) + ": " + err->message +
               (dbg ? std::string("\n") + dbg : std::string());
      g_clear_error(&err);
      g_free(dbg);
      gst_message_unref(m);
    } else {
      *error = "the pipeline of camera '" + config.name + "' did not start";
    }
    return nullptr;
  }
  if (c->live)
    c->watchdog_id = g_timeout_add_seconds(1, Camera::Impl::watchdog, c);
  impl_->cameras.push_back(cam);
  impl_->notify(cam, Event::kAdded);
  return cam;
}

bool CameraRegistry::remove(const std::string &name) {
  auto &v = impl_->cameras;
  auto it = std::find_if(v.begin(), v.end(), [&](const auto &c) { return c->name() == name; });
  if (it == v.end())
    return false;
  std::shared_ptr<Camera> cam = *it;
  impl_->notify(cam, Event::kRemoved);
  v.erase(std::find(v.begin(), v.end(), cam));
  // Stopped first: once its pipeline is in NULL no streaming thread of it runs, so none
  // holds a reference to it or calls into the registry any more.
  cam->impl_->stop();
  cam->impl_->owner.store(nullptr);
  return true;
}

std::shared_ptr<Camera> CameraRegistry::find(const std::string &name) const {
  for (const auto &c : impl_->cameras)
    if (c->name() == name)
      return c;
  return nullptr;
}

std::vector<std::shared_ptr<Camera>> CameraRegistry::cameras() const { return impl_->cameras; }

bool CameraRegistry::set_model(const std::string &model_location,
    const std::string &weights_location, const std::string &labels_location, std::string *error) {
  if (model_location.empty() && weights_location.empty() && labels_location.empty()) {
    *error = "give model-location, weights-location or labels-location";
    return false;
  }
  // A torchclassify that can change its model while PLAYING says so in the property's
  // flags; an older one would only keep the new name for its next start.
  GstElementFactory *f = gst_element_factory_find("torchclassify");
  GstPluginFeature *loaded = f ? gst_plugin_feature_load(GST_PLUGIN_FEATURE(f)) : nullptr;
  if (f)
    gst_object_unref(f);
  if (!loaded) {
    *error = "element 'torchclassify' not found (GST_PLUGIN_PATH?)";
    return false;
  }
  const GType type = gst_element_factory_get_element_type(GST_ELEMENT_FACTORY(loaded));
  gst_object_unref(loaded);
  GObjectClass *klass = G_OBJECT_CLASS(g_type_class_ref(type));
  for (const char *prop : {"model-location", "weights-location", "labels-location"}) {
    GParamSpec *ps = g_object_class_find_property(klass, prop);
    if (!ps || !(ps->flags & GST_PARAM_MUTABLE_PLAYING)) {
      g_type_class_unref(klass);
      *error = std::string("this torchclassify cannot change ") + prop + " while PLAYING "
               "(update the torchanalytics plugin, or restart the app with the new model)";
      return false;
    }
  }
  g_type_class_unref(klass);
  ModelSettings &m = impl_->model;
  // A TorchScript file replaces a state dict and the other way round.
  if (!model_location.empty()) {
    m.model_location = model_location;
    m.weights_location.clear();
  }
  if (!weights_location.empty()) {
    m.weights_location = weights_location;
    m.model_location.clear();
  }
  if (!labels_location.empty())
    m.labels_location = labels_location;
  const std::string sha = impl_->model_file_sha();
  for (const auto &cam : impl_->cameras) {
    GstElement *cls = cam->impl_->classify;
    cam->impl_->model = m;
    {
      // Until the camera's results name their model, the label follows what was set.
      std::lock_guard<std::mutex> lock(cam->impl_->mu);
      cam->impl_->file_sha = sha;
    }
    if (!cls)
      continue;
    // torchclassify takes one of the two: the other is cleared first when it is set (each
    // change is a swap request; the last one wins).
    auto clear_if_set = [cls](const char *prop) {
      gchar *v = nullptr;
      g_object_get(cls, prop, &v, nullptr);
      if (v)
        g_object_set(cls, prop, nullptr, nullptr);
      g_free(v);
    };
    if (!model_location.empty()) {
      clear_if_set("weights-location");
      g_object_set(cls, "model-location", model_location.c_str(), nullptr);
    }
    if (!weights_location.empty()) {
      clear_if_set("model-location");
      g_object_set(cls, "weights-location", weights_location.c_str(), nullptr);
    }
    if (!labels_location.empty())
      g_object_set(cls, "labels-location", labels_location.c_str(), nullptr);
  }
  return true;
}

const ModelSettings &CameraRegistry::model() const { return impl_->model; }

uint64_t CameraRegistry::watch(Watcher w) {
  const uint64_t id = impl_->next_watch++;
  impl_->watchers[id] = std::move(w);
  return id;
}

void CameraRegistry::unwatch(uint64_t id) { impl_->watchers.erase(id); }
void CameraRegistry::set_line_callback(LineCallback cb) { impl_->on_line = std::move(cb); }
void CameraRegistry::set_down_callback(DownCallback cb) { impl_->on_down = std::move(cb); }

}  // namespace ta_app
