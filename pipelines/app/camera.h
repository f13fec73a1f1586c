/* Cameras of the application: each one a GstPipeline of its own,
 *
 *   [source] ! videoconvert ! torchclassify ! tee ─ queue ! fakesink
 *                                                └ (branches added by modules, e.g. the web page)
 *
 * where [source] is `rtspsrc ! decodebin` in a bin (live URIs: rtsp://...) or uridecodebin
 * (anything else: a file). All cameras' torchclassify elements share one model and one
 * batching queue through `model-instance-id`. A live camera whose source fails, ends or
 * goes quiet has its source part rebuilt with exponential backoff (1 s, 2 s, 4 s ... up to a
 * cap), on its own: the other cameras, the model and the branches stay as they are.
 *
 * Threads. The registry and the Camera methods marked "main thread" are called on the
 * thread of the app's GMainLoop (HTTP handlers run there too). The getters marked
 * "any thread" are safe everywhere. Result callbacks run on the camera's streaming thread.
 * Cameras are handed out as std::shared_ptr: a removed camera stays valid (kDown, its
 * pipeline in NULL) while someone holds it. Drop the last reference on the main thread.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ta_app {

// What a camera is doing. kConnecting: its source is built, no frame has come through yet;
// kUp: frames come; kReconnecting: the source was lost and is rebuilt after the backoff;
// kDown: it stopped for good (a file ended, --max-frames reached, a fatal error, removed).
enum class CameraState { kConnecting, kUp, kReconnecting, kDown };
const char *camera_state_name(CameraState state);  // "connecting", "up", "reconnecting", "down"

// The torchclassify settings all cameras share (one model). Empty / 0: the element's default.
struct ModelSettings {
  std::string model_location;    // TorchScript
  std::string weights_location;  // torchvision state dict
  std::string labels_location;
  std::string device;
  std::string mode;              // auto, sync, live
  int top_k = 0;
  int interval = 0;
  int batch_size = 0;
  int batch_timeout_ms = -1;     // -1: the element's default
  std::string instance_id = "torchanalytics-app";  // model-instance-id of every camera
};

// How one camera is reached.
struct CameraConfig {
  std::string name;          // [A-Za-z0-9_.-]+, unique in the process
  std::string uri;           // rtsp://... (live: reconnects) or file:// (ends at EOS)
  int latency_ms = 200;      // rtspsrc jitter buffer
  bool tcp = false;          // RTSP over TCP
  int max_backoff_s = 30;    // longest wait between reconnections
  int stall_timeout_s = 20;  // a live source without a frame this long is rebuilt
  int connect_timeout_s = 30; // a rebuilt source without its first frame this long is rebuilt
                             // (the larger of the two applies until that frame)
  int64_t max_frames = 0;    // the camera stops (kDown) after this many results; 0: never
};

// A snapshot of a camera's numbers (Camera::stats()).
struct CameraStats {
  CameraState state = CameraState::kConnecting;
  int64_t frames_total = 0;          // frames that left torchclassify
  int64_t results_total = 0;         // of them, frames that carried a result (own or borrowed)
  int64_t dropped_results_total = 0; // frames that left torchclassify without any result
  int64_t reconnects_total = 0;      // source rebuilds after a loss
  double fps = 0;                    // frames per second over the last few seconds
  // Frame -> result latency, seconds: torchclassify's own numbers (its `stats` property or
  // the meta's latency field) when it has them, else measured between its pads. NaN when
  // no result yet.
  double latency_p50_s = NAN, latency_p99_s = NAN;
  double latency_sum_s = 0;          // of all latencies measured so far ...
  int64_t latency_count = 0;         // ... and their number (a Prometheus summary)
  std::string model;                 // model name of the latest result
  std::string model_sha256;          // its file's SHA-256 (lowercase hex), "" when unknown
  int width = 0, height = 0;         // of the latest frame
  double seconds_since_frame = -1;   // since the latest frame, -1 before the first
};

// One classified frame, for result subscribers.
struct CameraResult {
  const std::string &camera;  // the camera's name
  int64_t frame;              // the camera's result counter, from 0
  GstClockTime pts;           // of the frame (GST_CLOCK_TIME_NONE when it had none)
  const std::string &json;    // one JSON object, the torchmetasink schema (DESIGN.md), stream =
                              // the camera name; valid only during the callback
  GstBuffer *buffer;          // the frame with its meta, borrowed: valid only during the callback
};

class CameraRegistry;

class Camera {
 public:
  using ResultCallback = std::function<void(const CameraResult &)>;

  ~Camera();
  Camera(const Camera &) = delete;
  Camera &operator=(const Camera &) = delete;

  // Any thread.
  const std::string &name() const;
  const std::string &uri() const;
  CameraState state() const;
  CameraStats stats() const;
  // The latest result as one JSON object (as CameraResult::json), "" before the first.
  std::string latest_result_json() const;

  // Calls `cb` for every classified frame, on the camera's streaming thread: keep it
  // short (copy what you need, hand it to your own thread or g_main_context_invoke). Any
  // thread; returns an id for unsubscribe(). unsubscribe() waits for a call in progress
  // on another thread to end, so never call it from inside the callback.
  uint64_t subscribe(ResultCallback cb);
  void unsubscribe(uint64_t id);

  // Main thread. Links `branch` (an element or bin with an always "sink" pad, e.g. a bin
  // `torchoverlay ! videorate ! videoscale ! jpegenc ! appsink` with a ghost sink pad) to the
  // camera's tee, behind a leaky queue of its own, so a slow branch drops frames instead of
  // holding the camera back. The frames carry their classification meta. The camera takes
  // the (floating) reference; the branch stays across reconnections, until
  // remove_branch() or the camera's end. false (and the branch released) when it cannot
  // be linked.
  bool add_branch(GstElement *branch);
  // Main thread. Unlinks and releases a branch added with add_branch().
  void remove_branch(GstElement *branch);

  // The camera's pipeline (borrowed), e.g. for GST_DEBUG_BIN_TO_DOT_FILE.
  GstElement *pipeline() const;

 private:
  friend class CameraRegistry;
  struct Impl;
  explicit Camera(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The cameras of the process, by name. Main thread only.
class CameraRegistry {
 public:
  // Called on the main thread after a camera was added (it is built and starting: branches
  // can be added) or just before one is removed (remove its branches and subscriptions
  // now if you like; the camera's pipeline stops right after).
  enum class Event { kAdded, kRemoved };
  using Watcher = std::function<void(const std::shared_ptr<Camera> &, Event)>;
  // A camera's console output line for each result (the app prints it; a test reads it).
  using LineCallback = std::function<void(const Camera &, const std::string &line)>;

  explicit CameraRegistry(ModelSettings model);
  ~CameraRegistry();  // stops every camera
  CameraRegistry(const CameraRegistry &) = delete;
  CameraRegistry &operator=(const CameraRegistry &) = delete;

  // Builds the camera and sets it PLAYING. nullptr with `*error` when the name is taken or
  // invalid, an element is missing, or torchclassify cannot start (a bad model): the
  // other cameras are not touched either way.
  std::shared_ptr<Camera> add(const CameraConfig &config, std::string *error);
  // Stops the camera and forgets it; false when there is none of that name.
  bool remove(const std::string &name);
  std::shared_ptr<Camera> find(const std::string &name) const;
  std::vector<std::shared_ptr<Camera>> cameras() const;  // in the order they were added

  // Sets the model files on every camera's classifier (they share one model, which swaps
  // while PLAYING when torchclassify supports it) and on the cameras added later. Empty
  // strings leave a property as it is. false with `*error` when no file was given.
  bool set_model(const std::string &model_location, const std::string &weights_location,
      const std::string &labels_location, std::string *error);
  const ModelSettings &model() const;

  uint64_t watch(Watcher w);
  void unwatch(uint64_t id);
  void set_line_callback(LineCallback cb);

  // Called (main thread) when a camera went kDown by itself (a file's end, a fatal
  // error): `failed` tells whether it was an error.
  using DownCallback = std::function<void(const std::shared_ptr<Camera> &, bool failed)>;
  void set_down_callback(DownCallback cb);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ta_app
