#!/usr/bin/env bash
# camera.sh: classify a V4L2 camera (a USB webcam) live and show the annotated picture.
#
#   v4l2src device=$DEVICE ! videoconvert ! torchclassify ! torchoverlay
#     ! videoconvert ! autovideosink
#
# Variables (defaults in brackets):
#   DEVICE       the camera [/dev/video0]
#   CAPS         caps to ask the camera for, e.g. video/x-raw,width=1280,height=720 [none]
#   SINK         display element [autovideosink]
#   JSON         also write the results as JSON Lines to this file (- for stdout) [none]
#   MODEL, WEIGHTS, ARCH, NUM_CLASSES, LABELS, TORCH_DEVICE, TOP_K, MODE, INTERVAL, TC_EXTRA:
#                the model and torchclassify (see common.sh; none: the cached torchvision
#                ResNet50). On a live source torchclassify's mode=auto is live: frames never
#                wait for the model and get the newest finished result.
#   BUILD_DIR    build folder whose plugin to use when run from a checkout [<checkout>/build]
#
#   pipelines/camera.sh
#   DEVICE=/dev/video2 CAPS=video/x-raw,width=640,height=480 pipelines/camera.sh
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DEVICE=${DEVICE:-/dev/video0}
SINK=${SINK:-autovideosink}
[ -e "$DEVICE" ] || ta_die "no camera at DEVICE=$DEVICE (ls /dev/video*)"
ta_check_plugin

P=(v4l2src device="$DEVICE" !)
[ -n "${CAPS:-}" ] && P+=("$CAPS" !)
P+=(videoconvert ! torchclassify "${TC_PROPS[@]}" !)
if [ -n "${JSON:-}" ]; then
  P+=(tee name=t t. ! queue ! torchmetasink location="$JSON" t. ! queue !)
fi
# shellcheck disable=SC2206  # SINK may carry properties: "fpsdisplaysink sync=false"
P+=(torchoverlay ! videoconvert ! $SINK)
exec $GST_LAUNCH "${P[@]}"
