/* LivePage: the app's live web page (--http-port), wiring the page, the MJPEG hub and the
 * event hub (page.h, ../mjpeg.h, ../events.h) to the cameras (../camera.h) and to the
 * "web" listener of the app's server (../http.h).
 *
 *   /                      the page (index.html, style.css, app.js)
 *   /api/cameras           every camera: state, latest result, stats (JSON)
 *   /api/events            Server-Sent Events: "result" per classified frame, "state"
 *   /video/NAME.mjpg       the camera's annotated video, MJPEG; /video/NAME.jpg: a still
 *
 * Every camera of the registry, those added later included, gets a video branch on its
 * tee (torchoverlay at the reduced size and rate, then jpegenc) and a result subscription.
 * docs/guides/browser.md describes the page, the endpoints and their JSON.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <memory>
#include <string>

#include "camera.h"
#include "events.h"
#include "http.h"
#include "mjpeg.h"

namespace ta_app {

struct LivePageOptions {
  MjpegOptions video;  // --video-fps, --video-width, --video-quality, --http-max-clients
  EventOptions events;
};

class LivePage {
 public:
  // Main thread, after `http` listens for "web". Both must outlive the page.
  LivePage(HttpServer *http, CameraRegistry *registry, const LivePageOptions &opt);
  ~LivePage();  // main thread, before the registry goes
  LivePage(const LivePage &) = delete;
  LivePage &operator=(const LivePage &) = delete;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The /api/cameras document for `registry` (main thread): {"cameras": [...]}.
std::string cameras_json(const CameraRegistry &registry, const MjpegHub *video);

}  // namespace ta_app
