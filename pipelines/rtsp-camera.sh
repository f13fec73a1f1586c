#!/usr/bin/env bash
# rtsp-camera.sh: classify an RTSP camera live, show the annotated picture and publish the
# results to an MQTT broker.
#
#   rtspsrc location=$URL latency=$LATENCY ! decodebin ! videoconvert ! torchclassify ! tee
#     tee. ! queue ! torchoverlay ! videoconvert ! autovideosink
#     tee. ! queue ! torchmetasink mqtt-host=$MQTT_HOST ...       (when MQTT_HOST is set)
#     tee. ! queue ! torchmetasink location=$JSON                 (when JSON is set)
#
# Variables (defaults in brackets):
#   URL          the camera, rtsp://[user:password@]host[:554]/path (required; see
#                docs/guides/rtsp.md for the paths of common cameras)
#   LATENCY      rtspsrc jitter buffer in ms: more absorbs network jitter, less is more
#                current [200]
#   PROTOCOLS    rtspsrc protocols: tcp when UDP is blocked or lossy (Wi-Fi, NAT, VPN)
#                [rtspsrc's default: udp, udp-mcast, tcp]
#   MQTT_HOST    broker host; unset: no MQTT [unset]
#   MQTT_PORT    broker port [1883]
#   MQTT_TOPIC   topic [torchmetasink's default, torchanalytics/<stream>]
#   STREAM       stream name in the results [cam0]
#   JSON         also write JSON Lines to this file (- for stdout) [unset]
#   SINK         display element; fakesink for a headless box [autovideosink]
#   MODEL, WEIGHTS, ARCH, NUM_CLASSES, LABELS, TORCH_DEVICE, TOP_K, MODE, INTERVAL, TC_EXTRA:
#                the model and torchclassify (see common.sh; none: the cached torchvision
#                ResNet50). On a live source torchclassify's mode=auto is live: frames never
#                wait for the model and get the newest finished result.
#   BUILD_DIR    build folder whose plugin to use when run from a checkout [<checkout>/build]
#
# gst-launch-1.0 stops when the camera goes away; for a stream that reconnects by itself
# use the application, build/pipelines/torchanalytics-app (docs/guides/rtsp.md).
#
#   URL=rtsp://admin:secret@192.168.1.64:554/Streaming/Channels/101 MQTT_HOST=localhost \
#     pipelines/rtsp-camera.sh
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[ -n "${URL:-}" ] || ta_die "set URL=rtsp://host/path"
LATENCY=${LATENCY:-200}
STREAM=${STREAM:-cam0}
SINK=${SINK:-autovideosink}
ta_check_plugin

P=(rtspsrc location="$URL" latency="$LATENCY")
[ -n "${PROTOCOLS:-}" ] && P+=(protocols="$PROTOCOLS")
P+=(! decodebin ! videoconvert ! torchclassify "${TC_PROPS[@]}" ! tee name=t)
if [ -n "${MQTT_HOST:-}" ]; then
  M=(torchmetasink stream-name="$STREAM" mqtt-host="$MQTT_HOST" mqtt-port="${MQTT_PORT:-1883}")
  [ -n "${MQTT_TOPIC:-}" ] && M+=(mqtt-topic="$MQTT_TOPIC")
  P+=(t. ! queue ! "${M[@]}")
fi
if [ -n "${JSON:-}" ]; then
  P+=(t. ! queue ! torchmetasink stream-name="$STREAM" location="$JSON")
fi
# shellcheck disable=SC2206  # SINK may carry properties: "fakesink sync=false"
P+=(t. ! queue ! torchoverlay ! videoconvert ! $SINK)
exec $GST_LAUNCH "${P[@]}"
