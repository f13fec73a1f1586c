#!/usr/bin/env bash
# faces.sh: find the faces of a video with OpenCV's facedetect, classify each face, and
# write an annotated MP4 and the results (one entry per face) as JSON Lines.
#
#   filesrc ! decodebin ! videoconvert ! facedetect display=false
#     ! torchclassify inference-region=roi-list object-class=face ! tee
#     tee. ! queue ! torchmetasink location=$JSON
#     tee. ! queue ! torchoverlay ! videoconvert ! x264enc ! mp4mux ! filesink location=$OUTPUT
#
# facedetect (Debian: gstreamer1.0-opencv, its cascades in opencv-data) attaches a
# GstVideoRegionOfInterestMeta of type "face" per face; torchclassify classifies each crop
# (a secondary classifier, as DeepStream's nvinfer process-mode=2 or DL Streamer's
# gvaclassify inference-region=roi-list); torchoverlay draws each face's box with its labels.
# OpenCV may print "Can't open file ... haarcascade_mcs_*.xml": Debian's opencv-data lacks
# facedetect's optional eye/nose/mouth cascades; faces are found without them.
#
# Variables (defaults in brackets):
#   INPUT      the video file [Megamind.avi of Debian's opencv-doc, which scripts/install-deps
#              unpacks into ~/.cache/torchanalytics/media]
#   OUTPUT     annotated MP4 [<input name>-faces.mp4 in the current folder]
#   JSON       JSON Lines, one line per frame, one classification per face [<input name>-faces.jsonl]
#   STREAM     "stream" member of the JSON lines [the file's base name]
#   FRAMES     stop after about this many frames (identity eos-after) [all]
#   MIN_SIZE   smallest face facedetect reports, in pixels [30]
#   PROFILE    facedetect's cascade file [its default, haarcascade_frontalface_default.xml]
#   MAX_ROIS, ROI_MIN_SIZE  torchclassify max-rois and roi-min-size [torchclassify's defaults]
#   BITRATE    x264enc bitrate in kbit/s [2048]
#   MODEL, WEIGHTS, ARCH, NUM_CLASSES, LABELS, TORCH_DEVICE, TOP_K, MODE, INTERVAL, TC_EXTRA:
#              the model and torchclassify (see common.sh; none: the cached torchvision
#              ResNet50). A face classifier trained with torchvision (e.g. a ResNet18 with
#              NUM_CLASSES=2 for masked/unmasked) goes in WEIGHTS.
#   BUILD_DIR  build folder whose plugin to use when run from a checkout [<checkout>/build]
#
#   pipelines/faces.sh
#   INPUT=door.mp4 WEIGHTS=mask-resnet18.pth ARCH=resnet18 NUM_CLASSES=2 LABELS=mask.txt pipelines/faces.sh
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ -z "${INPUT:-}" ]; then
  INPUT=${TORCHANALYTICS_CACHE:-$HOME/.cache/torchanalytics}/media/usr/share/doc/opencv-doc/examples/data/Megamind.avi
  [ -f "$INPUT" ] || INPUT=/usr/share/doc/opencv-doc/examples/data/Megamind.avi
  [ -f "$INPUT" ] || ta_die "set INPUT=<video file> (or run scripts/install-deps, which fetches Megamind.avi)"
fi
[ -f "$INPUT" ] || ta_die "INPUT '$INPUT' is not a file"
name=$(basename "${INPUT%.*}")
OUTPUT=${OUTPUT:-$name-faces.mp4}
JSON=${JSON:-$name-faces.jsonl}
STREAM=${STREAM:-$(basename "$INPUT")}
BITRATE=${BITRATE:-2048}
ta_check_plugin
if [ "$GST_LAUNCH" = gst-launch-1.0 ] && ! gst-inspect-1.0 facedetect > /dev/null 2>&1; then
  ta_die "GStreamer has no facedetect: apt-get install gstreamer1.0-opencv opencv-data"
fi

FD=(facedetect display=false min-size-width="${MIN_SIZE:-30}" min-size-height="${MIN_SIZE:-30}")
[ -n "${PROFILE:-}" ] && FD+=(profile="$PROFILE")
TC=(torchclassify inference-region=roi-list object-class=face "${TC_PROPS[@]}")
[ -n "${MAX_ROIS:-}" ] && TC+=(max-rois="$MAX_ROIS")
[ -n "${ROI_MIN_SIZE:-}" ] && TC+=(roi-min-size="$ROI_MIN_SIZE")
P=(filesrc location="$INPUT" ! decodebin !)
[ -n "${FRAMES:-}" ] && P+=(identity eos-after="$FRAMES" !)
# The JSON branch's queue holds what x264enc keeps before its first output (classify-file.sh).
P+=(videoconvert ! "${FD[@]}" ! "${TC[@]}" ! tee name=t
  t. ! queue max-size-buffers=300 max-size-bytes=0 max-size-time=0 ! torchmetasink location="$JSON" stream-name="$STREAM"
  t. ! queue ! torchoverlay ! videoconvert ! x264enc bitrate="$BITRATE" ! mp4mux ! filesink location="$OUTPUT")
# -e: Ctrl-C sends EOS first, so the MP4 is finished and playable.
exec $GST_LAUNCH -e "${P[@]}"
