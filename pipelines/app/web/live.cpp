/* LivePage: see live.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "live.h"

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "page.h"

namespace ta_app {

namespace {

constexpr const char *kListener = "web";
constexpr guint kStatePollMs = 250;  // how soon a state change reaches the browsers

struct Watched {
  std::shared_ptr<Camera> cam;
  GstElement *branch = nullptr;  // the video branch, owned by the camera's pipeline
  uint64_t subscription = 0;
  CameraState last = CameraState::kConnecting;
};

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

std::string state_event(const std::string &name, const char *state, bool removed) {
  nlohmann::json j = {{"camera", name}, {"state", state}};
  if (removed)
    j["removed"] = true;
  return j.dump();
}

}  // namespace

struct LivePage::Impl {
  HttpServer *http = nullptr;
  CameraRegistry *registry = nullptr;
  LivePageOptions opt;
  std::unique_ptr<MjpegHub> video;
  std::unique_ptr<EventHub> events;
  std::map<std::string, Watched> cams;
  uint64_t watch_id = 0;
  guint timer = 0;

  void add(const std::shared_ptr<Camera> &cam) {
    const std::string name = cam->name();
    if (cams.count(name))
      return;
    Watched w;
    w.cam = cam;
    w.last = cam->state();
    GstElement *branch = video->make_branch(name);
    if (branch) {
      if (cam->add_branch(branch)) {
        w.branch = branch;
      } else {
        g_printerr("%s: warning: the browser's video branch could not be linked\n", name.c_str());
        video->forget(name);
      }
    }
    EventHub *ev = events.get();
    const std::string quoted = ta_web::json_string(name);
    // Streaming thread: one string, handed to the hub's queue.
    w.subscription = cam->subscribe([ev, quoted](const CameraResult &r) {
      ev->publish("result", "{\"camera\": " + quoted + ", \"frame\": " + std::to_string(r.frame) +
          ", \"result\": " + r.json + "}");
    });
    events->publish("state", state_event(name, camera_state_name(w.last), false));
    cams.emplace(name, std::move(w));
  }

  void remove(const std::string &name, bool publish) {
    auto it = cams.find(name);
    if (it == cams.end())
      return;
    Watched &w = it->second;
    w.cam->unsubscribe(w.subscription);
    if (w.branch)
      w.cam->remove_branch(w.branch);
    video->forget(name);
    if (publish)
      events->publish("state", state_event(name, "down", true));
    cams.erase(it);
  }

  static gboolean poll_states(gpointer user_data) {
    Impl *self = static_cast<Impl *>(user_data);
    for (auto &kv : self->cams) {
      const CameraState s = kv.second.cam->state();
      if (s != kv.second.last) {
        kv.second.last = s;
        self->events->publish("state", state_event(kv.first, camera_state_name(s), false));
      }
    }
    return G_SOURCE_CONTINUE;
  }
};

std::string cameras_json(const CameraRegistry &registry, const MjpegHub *video) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto &cam : registry.cameras()) {
    const CameraStats st = cam->stats();
    nlohmann::json c;
    c["name"] = cam->name();
    c["state"] = camera_state_name(st.state);
    // Not the URI: it may hold a camera's password (rtsp://user:pass@...).
    const std::string latest = cam->latest_result_json();
    c["result"] = latest.empty() ? nlohmann::json(nullptr)
                                 : nlohmann::json::parse(latest, nullptr, false);
    if (c["result"].is_discarded())
      c["result"] = nullptr;
    c["stats"] = {
      {"fps", number_or_null(st.fps)},
      {"frames", st.frames_total},
      {"results", st.results_total},
      {"reconnects", st.reconnects_total},
      {"latency-ms", number_or_null(st.latency_p50_s * 1000)},
      {"latency-p99-ms", number_or_null(st.latency_p99_s * 1000)},
      {"width", st.width},
      {"height", st.height},
      {"seconds-since-frame", number_or_null(st.seconds_since_frame)},
      {"model", st.model},
    };
    nlohmann::json v = {{"url", "/video/" + cam->name() + ".mjpg"}};
    if (video) {
      const MjpegStats ms = video->stats(cam->name());
      v["clients"] = ms.clients;
      v["frames"] = ms.frames;
      v["sent"] = ms.sent;
      v["skipped"] = ms.skipped;
      v["dropped-clients"] = ms.dropped;
    }
    c["video"] = v;
    list.push_back(c);
  }
  return nlohmann::json({{"cameras", list}}).dump(1);
}

LivePage::LivePage(HttpServer *http, CameraRegistry *registry, const LivePageOptions &opt)
    : impl_(new Impl) {
  Impl *p = impl_.get();
  p->http = http;
  p->registry = registry;
  p->opt = opt;
  p->opt.video.overlay = true;
  p->video = std::make_unique<MjpegHub>(p->opt.video);
  p->events = std::make_unique<EventHub>(p->opt.events);
  p->events->set_cameras([p] { return cameras_json(*p->registry, p->video.get()); });

  ta_web::install_request_limits(http->server());
  http->add_handler("/", kListener, [](SoupServerMessage *msg, const char *path) {
    ta_web::handle_page(msg, path);
  });
  MjpegHub *video = p->video.get();
  EventHub *events = p->events.get();
  http->add_handler("/video", kListener, [video](SoupServerMessage *msg, const char *path) {
    video->handle(msg, path);
  });
  http->add_handler("/api/events", kListener, [events](SoupServerMessage *msg, const char *path) {
    events->handle_events(msg, path);
  });
  http->add_handler("/api/cameras", kListener, [events](SoupServerMessage *msg, const char *path) {
    events->handle_cameras(msg, path);
  });

  p->watch_id = registry->watch([p](const std::shared_ptr<Camera> &cam, CameraRegistry::Event e) {
    if (e == CameraRegistry::Event::kAdded)
      p->add(cam);
    else
      p->remove(cam->name(), true);
  });
  for (const auto &cam : registry->cameras())
    p->add(cam);
  p->timer = g_timeout_add(kStatePollMs, Impl::poll_states, p);
}

LivePage::~LivePage() {
  Impl *p = impl_.get();
  g_source_remove(p->timer);
  p->registry->unwatch(p->watch_id);
  for (const char *path : {"/", "/video", "/api/events", "/api/cameras"})
    p->http->remove_handler(path, kListener);
  while (!p->cams.empty())
    p->remove(p->cams.begin()->first, false);
  p->events.reset();
  p->video.reset();
}

}  // namespace ta_app
