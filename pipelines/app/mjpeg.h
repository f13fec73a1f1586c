/* MjpegHub: the live annotated video of each camera as MJPEG over HTTP.
 *
 * Per camera, make_branch() gives a bin to link after torchoverlay (through a tee):
 *
 *   queue leaky=downstream max-size-buffers=1 ! videorate drop-only=true max-rate=FPS
 *     ! videoscale ! capsfilter width<=WIDTH ! [torchoverlay] ! videoconvert
 *     ! jpegenc quality=Q ! appsink max-buffers=1 drop=true sync=false
 *
 * (torchoverlay with `overlay`: it draws the results at the reduced size and rate, the
 * classification meta being rescaled by videoscale)
 *
 * so the camera's pipeline never waits for it: a frame the branch is not ready for is
 * dropped at the leaky queue. attach() serves, on the app's SoupServer,
 *
 *   GET /video/NAME.mjpg   multipart/x-mixed-replace; boundary=tajpeg: one JPEG part per
 *                          frame, for as long as the client reads (an <img> shows it)
 *   GET /video/NAME.jpg    the newest JPEG (503 while there is none yet)
 *
 * Each client has at most one frame in libsoup's queue and one waiting behind it; a newer
 * frame replaces the waiting one (newest wins, counted as skipped), so a slow client sees
 * fewer frames and costs no memory. A client that took no byte for `stall_timeout_ms` is
 * disconnected. Over `max_clients` streams (all cameras together): 503.
 *
 * Threads: frames arrive on the streaming threads; clients are served in the main context
 * that was the thread default when the hub was made (the SoupServer's). Destroy the hub
 * in that thread, after the pipelines that hold its branches are in NULL.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>
#include <libsoup/soup.h>

#include <cstdint>
#include <memory>
#include <string>

namespace ta_app {

struct MjpegOptions {
  int fps = 5;                 // at most this many frames a second per camera
  int width = 640;             // at most this wide, never scaled up; the height keeps the aspect
  int quality = 70;            // jpegenc quality, 1..100
  int max_clients = 32;        // MJPEG streams at once, all cameras together
  int stall_timeout_ms = 10000;  // a client that read nothing this long is disconnected
  bool overlay = false;        // draw the results (torchoverlay) on the frames
};

struct MjpegStats {
  uint64_t frames = 0;         // JPEGs made by the branch
  uint64_t sent = 0;           // parts handed to clients (all clients together)
  uint64_t skipped = 0;        // parts a slow client never got (a newer frame replaced them)
  uint64_t dropped = 0;        // clients disconnected for not reading
  int clients = 0;             // streaming now
};

class MjpegHub {
 public:
  explicit MjpegHub(const MjpegOptions &opt);
  ~MjpegHub();
  MjpegHub(const MjpegHub &) = delete;
  MjpegHub &operator=(const MjpegHub &) = delete;

  // A new bin (floating reference) with one "sink" pad, for camera `name`: add it to the
  // camera's pipeline and link a tee's src pad to it. One branch per name; nullptr (and a
  // message on stderr) when an element is missing or the name is taken.
  GstElement *make_branch(const std::string &name);

  // Main context. Forgets camera `name` (its branch is out of its pipeline, or in NULL):
  // its clients are disconnected, and a new branch may take the name.
  void forget(const std::string &name);

  // Answers a request for /video/... (main context): the app's HttpServer calls it.
  void handle(SoupServerMessage *msg, const char *path);
  // Or: registers handle() for /video on every port of `server`.
  void attach(SoupServer *server);

  MjpegStats stats(const std::string &name) const;  // zeros for an unknown name
  int clients() const;                              // all cameras

  const MjpegOptions &options() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Checks the options; "" or what is wrong (for the command line).
std::string validate(const MjpegOptions &opt);

}  // namespace ta_app
