/* Control endpoints on the "control" listener (only with --control-port). JSON in, JSON out:
 *
 *   GET  /control/cameras          the cameras: [{"name", "uri", "state"}, ...]
 *   POST /control/cameras/add      {"name": "gate", "uri": "rtsp://...", optional "latency-ms",
 *                                  "tcp", "max-backoff-s", "stall-timeout-s",
 *                                  "connect-timeout-s"} -> 201
 *   POST /control/cameras/remove   {"name": "gate"} -> 200, 404 when there is none
 *   POST /control/model            {"model-location" | "weights-location": FILE, optional
 *                                  "labels-location": FILE} -> 202 (every camera's classifier
 *                                  gets it; the swap happens between two batches)
 *
 * Each one touches only what it names: the other cameras go on. Errors are
 * {"error": "..."} with 400 (bad request), 404, 405 (wrong method) or 409 (name taken).
 * docs/guides/operations.md.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "camera.h"
#include "http.h"

namespace ta_app {

class Control {
 public:
  // `defaults`: the settings of a camera added without them (the command line's).
  Control(HttpServer *http, CameraRegistry *registry, CameraConfig defaults);
  ~Control();

 private:
  HttpServer *http_;
};

}  // namespace ta_app
