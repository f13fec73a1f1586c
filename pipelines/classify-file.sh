#!/usr/bin/env bash
# classify-file.sh: classify every frame of a video file; write an annotated MP4 and the
# results as JSON Lines.
#
#   filesrc ! decodebin ! videoconvert ! torchclassify ! tee
#     tee. ! queue ! torchmetasink location=$JSON
#     tee. ! queue ! torchoverlay ! videoconvert ! x264enc ! mp4mux ! filesink location=$OUTPUT
#
# Variables (defaults in brackets):
#   INPUT      the video file to read (required; any container and codec decodebin reads)
#   OUTPUT     annotated MP4 [${INPUT%.*}-annotated.mp4]
#   JSON       JSON Lines, one line per frame [${INPUT%.*}.jsonl]
#   STREAM     "stream" member of the JSON lines [the file's base name]
#   BITRATE    x264enc bitrate in kbit/s [2048]
#   MODEL, WEIGHTS, ARCH, NUM_CLASSES, LABELS, TORCH_DEVICE, TOP_K, MODE, INTERVAL, TC_EXTRA:
#              the model and torchclassify (see common.sh; none: the cached torchvision
#              ResNet50). A file runs in mode=sync: every frame gets its own result.
#   BUILD_DIR  build folder whose plugin to use when run from a checkout [<checkout>/build];
#              with an installed plugin nothing needs to be set.
#
#   INPUT=cat.mp4 pipelines/classify-file.sh
#   INPUT=clip.mkv MODEL=model.ts TORCH_DEVICE=cpu JSON=- pipelines/classify-file.sh  # JSON on stdout
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[ -n "${INPUT:-}" ] || ta_die "set INPUT=<video file>"
[ -f "$INPUT" ] || ta_die "INPUT '$INPUT' is not a file"
OUTPUT=${OUTPUT:-${INPUT%.*}-annotated.mp4}
JSON=${JSON:-${INPUT%.*}.jsonl}
STREAM=${STREAM:-$(basename "$INPUT")}
BITRATE=${BITRATE:-2048}
ta_check_plugin

# -e: Ctrl-C sends EOS first, so the MP4 is finished and playable.
# The JSON branch's queue holds up to 300 frames: x264enc keeps up to rc-lookahead (40 by
# default, 250 at most) frames before its first output, and until the MP4 branch has
# prerolled the JSON branch cannot drain; a queue of the default 1 s would fill and
# stall the pipeline at start.
exec $GST_LAUNCH -e \
  filesrc location="$INPUT" ! decodebin ! videoconvert ! \
  torchclassify "${TC_PROPS[@]}" ! tee name=t \
  t. ! queue max-size-buffers=300 max-size-bytes=0 max-size-time=0 ! torchmetasink location="$JSON" stream-name="$STREAM" \
  t. ! queue ! torchoverlay ! videoconvert ! x264enc bitrate="$BITRATE" ! mp4mux ! \
  filesink location="$OUTPUT"
