/* Prometheus metrics of the cameras: GET /metrics on the "metrics" listener, in the text
 * exposition format 0.0.4. The series, per camera (label camera="NAME"):
 *
 *   torchanalytics_camera_up                    gauge    1 while frames come, else 0
 *   torchanalytics_camera_state{state=...}      gauge    1 for the current state
 *   torchanalytics_camera_frames_total          counter  frames through torchclassify
 *   torchanalytics_camera_results_total         counter  of them, frames with a result
 *   torchanalytics_camera_dropped_results_total counter  of them, frames without one
 *   torchanalytics_camera_reconnects_total      counter  source rebuilds
 *   torchanalytics_camera_fps                   gauge    frames per second, last 5 s
 *   torchanalytics_camera_latency_seconds       summary  frame -> result, p50 and p99
 *   torchanalytics_camera_last_frame_age_seconds gauge   since the latest frame
 *   torchanalytics_camera_model_info{model=,sha256=}  gauge 1: the model of the latest result
 *
 * and torchanalytics_cameras (gauge): the number of cameras. docs/guides/operations.md.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <string>

#include "camera.h"
#include "http.h"

namespace ta_app {

class Metrics {
 public:
  // Adds GET /metrics to `http`'s "metrics" listener. Both must outlive this object.
  Metrics(HttpServer *http, CameraRegistry *registry);
  ~Metrics();

  // The exposition text for the registry's cameras now.
  static std::string render(const CameraRegistry &registry);

 private:
  HttpServer *http_;
};

}  // namespace ta_app
