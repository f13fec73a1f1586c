#!/usr/bin/env bash
# rtsp-restream.sh: classify a camera (or any video) and serve the annotated picture again
# over RTSP, with gst-rtsp-server, for any RTSP player (VLC, ffplay, gst-play-1.0, an NVR).
#
#   served at rtsp://<this host>:$PORT$MOUNT:
#   ( rtspsrc location=$URL latency=$LATENCY ! decodebin ! videoconvert ! torchclassify
#       ! torchoverlay ! videoconvert ! x264enc tune=zerolatency sliced-threads=false threads=1
#       ! rtph264pay name=pay0 config-interval=-1 )
#
# The stream is shared: every client sees the same encoded picture and the camera is
# read, and the model run, once. It starts with the first client and stops after the last.
#
# Variables (defaults in brackets):
#   URL          the source: rtsp://... or any URI uridecodebin reads (file:///..., http://...)
#                (required)
#   PORT         port to serve on; 0 picks a free one [8554]
#   MOUNT        path of the served stream [/annotated]
#   ADDRESS      address to listen on; 127.0.0.1 for this machine only [0.0.0.0]
#   LATENCY      rtspsrc latency of the source in ms [200]
#   PROTOCOLS    rtspsrc protocols of the source, e.g. tcp [rtspsrc's default]
#   BITRATE      x264enc bitrate in kbit/s [2048]
#   MODEL, WEIGHTS, ARCH, NUM_CLASSES, LABELS, TORCH_DEVICE, TOP_K, MODE, INTERVAL, TC_EXTRA:
#                the model and torchclassify (see common.sh; none: the cached torchvision
#                ResNet50). On a live source torchclassify's mode=auto is live: frames never
#                wait for the model and get the newest finished result.
#   PYTHON       a Python 3 with GObject introspection for GStreamer and GstRtspServer
#                [/usr/bin/python3; Debian: python3-gst-1.0 gir1.2-gst-rtsp-server-1.0]
#   BUILD_DIR    build folder whose plugin to use when run from a checkout [<checkout>/build]
#
# It prints "READY rtsp://ADDRESS:PORT/MOUNT" once it serves. Without the Python bindings
# the build's rtsp-test-server serves the same line: rtsp-test-server --address 0.0.0.0
# --mount /annotated --launch "( ... )" 8554.
#
#   URL=rtsp://192.168.1.64/stream1 pipelines/rtsp-restream.sh
#   gst-play-1.0 rtsp://localhost:8554/annotated
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[ -n "${URL:-}" ] || ta_die "set URL=rtsp://camera/path (or file:///path/video.mp4)"
PORT=${PORT:-8554}
MOUNT=${MOUNT:-/annotated}
ADDRESS=${ADDRESS:-0.0.0.0}
LATENCY=${LATENCY:-200}
BITRATE=${BITRATE:-2048}
PYTHON=${PYTHON:-/usr/bin/python3}
ta_check_plugin
"$PYTHON" -c "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer" \
  2> /dev/null || ta_die "$PYTHON lacks GstRtspServer (Debian: apt install python3-gst-1.0 gir1.2-gst-rtsp-server-1.0)"

# gst-launch syntax: values in double quotes, so that URLs with ?, &, = or @ survive.
q() { printf '"%s"' "${1//\"/\\\"}"; }
case "$URL" in
  rtsp*://*)
    SRC="rtspsrc location=$(q "$URL") latency=$LATENCY${PROTOCOLS:+ protocols=$PROTOCOLS} ! decodebin" ;;
  *)
    SRC="uridecodebin uri=$(q "$URL")" ;;
esac
TC=""
for p in "${TC_PROPS[@]}"; do TC+=" ${p%%=*}=$(q "${p#*=}")"; done
# One slice a frame (sliced-threads=false) and one encoder thread (threads=1): x264's sliced
# threads (what tune=zerolatency turns on) cut a key frame into several slices, and
# rtph264pay config-interval=-1 puts SPS and PPS in front of each IDR slice, so ffmpeg (and
# every client that follows the H.264 access-unit rules) takes each slice for a picture of
# its own; frame threads instead (sliced-threads=false alone) hold back threads-1 frames.
# docs/guides/rtsp.md has the measurements.
LAUNCH="( $SRC ! videoconvert ! torchclassify$TC ! torchoverlay ! videoconvert ! \
x264enc tune=zerolatency sliced-threads=false threads=1 speed-preset=veryfast bitrate=$BITRATE \
key-int-max=30 ! rtph264pay name=pay0 pt=96 config-interval=-1 )"

exec "$PYTHON" - "$ADDRESS" "$PORT" "$MOUNT" "$LAUNCH" <<'PY'
import signal
import sys

import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

address, port, mount, launch = sys.argv[1:5]
Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address(address)
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(launch)
factory.set_shared(True)
server.get_mount_points().add_factory(mount, factory)
if server.attach(None) == 0:
    sys.exit(f"rtsp-restream: cannot listen on {address}:{port}")
loop = GLib.MainLoop()
for sig in (signal.SIGINT, signal.SIGTERM):
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
print(f"READY rtsp://{address}:{server.get_bound_port()}{mount}", flush=True)
print(f"serving {launch}", file=sys.stderr, flush=True)
loop.run()
PY
