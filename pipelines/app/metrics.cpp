/* See metrics.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "metrics.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace ta_app {

namespace {

// A label value with \, " and newline escaped, as the text format wants.
std::string escape(const std::string &v) {
  std::string out;
  out.reserve(v.size());
  for (char ch : v) {
    if (ch == '\\')
      out += "\\\\";
    else if (ch == '"')
      out += "\\\"";
    else if (ch == '\n')
      out += "\\n";
    else
      out += ch;
  }
  return out;
}

std::string number(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void header(std::ostringstream &o, const char *name, const char *type, const char *help) {
  o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

}  // namespace

Metrics::Metrics(HttpServer *http, CameraRegistry *registry) : http_(http) {
  http_->add_handler("/metrics", "metrics", [registry](SoupServerMessage *msg, const char *) {
    if (soup_server_message_get_method(msg) != SOUP_METHOD_GET &&
        soup_server_message_get_method(msg) != SOUP_METHOD_HEAD) {
      HttpServer::respond_error(msg, 405, "GET /metrics");
      return;
    }
    HttpServer::respond(msg, 200, "text/plain; version=0.0.4; charset=utf-8", render(*registry));
  });
}

Metrics::~Metrics() { http_->remove_handler("/metrics", "metrics"); }

std::string Metrics::render(const CameraRegistry &registry) {
  struct Row {
    std::string label;  // camera="NAME"
    CameraStats s;
  };
  std::vector<Row> rows;
  for (const auto &cam : registry.cameras())
    rows.push_back(Row{"camera=\"" + escape(cam->name()) + "\"", cam->stats()});

  std::ostringstream o;
  header(o, "torchanalytics_cameras", "gauge", "Cameras in the process.");
  o << "torchanalytics_cameras " << rows.size() << '\n';

  header(o, "torchanalytics_camera_up", "gauge",
      "1 while the camera delivers frames (state up), else 0.");
  for (const auto &r : rows)
    o << "torchanalytics_camera_up{" << r.label << "} " << (r.s.state == CameraState::kUp) << '\n';

  header(o, "torchanalytics_camera_state", "gauge",
      "1 for the camera's current state: connecting, up, reconnecting or down.");
  for (const auto &r : rows)
    for (CameraState st : {CameraState::kConnecting, CameraState::kUp, CameraState::kReconnecting,
                           CameraState::kDown})
      o << "torchanalytics_camera_state{" << r.label << ",state=\"" << camera_state_name(st)
        << "\"} " << (r.s.state == st) << '\n';

  header(o, "torchanalytics_camera_frames_total", "counter",
      "Frames that passed torchclassify.");
  for (const auto &r : rows)
    o << "torchanalytics_camera_frames_total{" << r.label << "} " << r.s.frames_total << '\n';

  header(o, "torchanalytics_camera_results_total", "counter",
      "Frames that left torchclassify with a result (their own or a borrowed one).");
  for (const auto &r : rows)
    o << "torchanalytics_camera_results_total{" << r.label << "} " << r.s.results_total << '\n';

  header(o, "torchanalytics_camera_dropped_results_total", "counter",
      "Frames that left torchclassify without any result.");
  for (const auto &r : rows)
    o << "torchanalytics_camera_dropped_results_total{" << r.label << "} "
      << r.s.dropped_results_total << '\n';

  header(o, "torchanalytics_camera_reconnects_total", "counter",
      "Times the camera's source was lost and rebuilt.");
  for (const auto &r : rows)
    o << "torchanalytics_camera_reconnects_total{" << r.label << "} " << r.s.reconnects_total
      << '\n';

  header(o, "torchanalytics_camera_fps", "gauge", "Frames per second over the last 5 s.");
  for (const auto &r : rows)
    o << "torchanalytics_camera_fps{" << r.label << "} " << number(r.s.fps) << '\n';

  header(o, "torchanalytics_camera_latency_seconds", "summary",
      "Time from a frame's arrival at torchclassify to its result.");
  for (const auto &r : rows) {
    o << "torchanalytics_camera_latency_seconds{" << r.label << ",quantile=\"0.5\"} "
      << number(r.s.latency_p50_s) << '\n';
    o << "torchanalytics_camera_latency_seconds{" << r.label << ",quantile=\"0.99\"} "
      << number(r.s.latency_p99_s) << '\n';
    o << "torchanalytics_camera_latency_seconds_sum{" << r.label << "} "
      << number(r.s.latency_sum_s) << '\n';
    o << "torchanalytics_camera_latency_seconds_count{" << r.label << "} " << r.s.latency_count
      << '\n';
  }

  header(o, "torchanalytics_camera_last_frame_age_seconds", "gauge",
      "Seconds since the camera's latest frame (NaN before the first).");
  for (const auto &r : rows)
    o << "torchanalytics_camera_last_frame_age_seconds{" << r.label << "} "
      << number(r.s.seconds_since_frame < 0 ? NAN : r.s.seconds_since_frame) << '\n';

  header(o, "torchanalytics_camera_model_info", "gauge",
      "1, labelled with the model name and file SHA-256 of the camera's latest result.");
  for (const auto &r : rows)
    if (!r.s.model.empty() || !r.s.model_sha256.empty())
      o << "torchanalytics_camera_model_info{" << r.label << ",model=\"" << escape(r.s.model)
        << "\",sha256=\"" << escape(r.s.model_sha256) << "\"} 1\n";
  return o.str();
}

}  // namespace ta_app
