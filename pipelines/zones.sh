#!/usr/bin/env bash
# zones.sh: classify the fixed zones of a camera (parking bays, a door, a conveyor) live:
# torchregions attaches them to every frame, torchclassify classifies each one, torchoverlay
# draws them.
#
#   v4l2src device=$DEVICE ! videoconvert
#     ! torchregions regions=$REGIONS        (or location=$REGIONS_FILE)
#     ! torchclassify inference-region=roi-list ! tee
#     tee. ! queue ! torchmetasink location=$JSON              (when JSON is set)
#     tee. ! queue ! torchoverlay ! videoconvert ! $SINK
#
# Without a camera at DEVICE the source is INPUT (a video file) when set, else videotestsrc;
# the script says so on stderr.
#
# Variables (defaults in brackets):
#   DEVICE        the camera [/dev/video0]
#   CAPS          caps to ask the camera for, e.g. video/x-raw,width=1280,height=720 [none]
#   INPUT         video file to use when there is no camera [none: videotestsrc]
#   REGIONS       the zones, "[type:]x,y,w,h;..." in pixels, or in fractions of the frame with a
#                 decimal point (docs/elements/torchregions.md) [left:0.0,0.0,0.5,1.0;right:0.5,0.0,0.5,1.0]
#   REGIONS_FILE  a JSON file of the zones instead, {"regions": [{"type": "bay1", "x": 10, ...}]} [none]
#   FRAMES        stop after this many frames [none: until Ctrl-C, or the end of INPUT]
#   JSON          also write the results as JSON Lines to this file (- for stdout) [none]
#   STREAM        stream name in the results [cam0]
#   SINK          display element; fakesink for a headless box [autovideosink]
#   MODEL, WEIGHTS, ARCH, NUM_CLASSES, LABELS, TORCH_DEVICE, TOP_K, MODE, INTERVAL, TC_EXTRA:
#                 the model and torchclassify (see common.sh; none: the cached torchvision
#                 ResNet50). On a camera torchclassify's mode=auto is live.
#   BUILD_DIR     build folder whose plugin to use when run from a checkout [<checkout>/build]
#
#   REGIONS="bay1:0,360,320,360;bay2:320,360,320,360" pipelines/zones.sh
#   REGIONS_FILE=lot.json WEIGHTS=bays.pth NUM_CLASSES=2 LABELS=bays.txt JSON=- SINK=fakesink pipelines/zones.sh
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DEVICE=${DEVICE:-/dev/video0}
SINK=${SINK:-autovideosink}
STREAM=${STREAM:-cam0}
REGIONS=${REGIONS:-left:0.0,0.0,0.5,1.0;right:0.5,0.0,0.5,1.0}
ta_check_plugin

if [ -e "$DEVICE" ]; then
  P=(v4l2src device="$DEVICE" !)
  [ -n "${FRAMES:-}" ] && P=(v4l2src device="$DEVICE" num-buffers="$FRAMES" !)
  [ -n "${CAPS:-}" ] && P+=("$CAPS" !)
elif [ -n "${INPUT:-}" ]; then
  [ -f "$INPUT" ] || ta_die "no camera at DEVICE=$DEVICE and INPUT '$INPUT' is not a file"
  echo "$(basename "$0"): no camera at $DEVICE: reading $INPUT" >&2
  P=(filesrc location="$INPUT" ! decodebin !)
  [ -n "${FRAMES:-}" ] && P+=(identity eos-after="$FRAMES" !)
else
  echo "$(basename "$0"): no camera at $DEVICE: showing videotestsrc (set DEVICE or INPUT)" >&2
  P=(videotestsrc pattern=ball)
  [ -n "${FRAMES:-}" ] && P+=(num-buffers="$FRAMES")
  P+=(! "video/x-raw,width=320,height=240,framerate=30/1" !)
fi
if [ -n "${REGIONS_FILE:-}" ]; then
  R=(torchregions location="$REGIONS_FILE")
else
  R=(torchregions regions="$REGIONS")
fi
P+=(videoconvert ! "${R[@]}" ! torchclassify inference-region=roi-list "${TC_PROPS[@]}" ! tee name=t)
if [ -n "${JSON:-}" ]; then
  P+=(t. ! queue ! torchmetasink stream-name="$STREAM" location="$JSON")
fi
# shellcheck disable=SC2206  # SINK may carry properties: "fakesink sync=false"
P+=(t. ! queue ! torchoverlay ! videoconvert ! $SINK)
exec $GST_LAUNCH "${P[@]}"
