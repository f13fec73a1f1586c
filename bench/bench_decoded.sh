#!/usr/bin/env bash
# torchclassify on decoded H.264 (the case users feel): one encoded 1280x720 file, decoded
# by decodebin in the pipeline, classified by a seeded ResNet50 on the CPU with
#   the defaults (batch-size=0: auto batching), batch-size=1, batch-size=8, and bf16 at
#   auto, 1 and 8.
# Prints frames/s of each and the ratios to batch-size=1, all from this one run, plus
# whether every frame's top-1 equals batch 1's. Called by scripts/bench; alone:
#   BUILD_DIR=build bench/bench_decoded.sh WEIGHTS.pth [FRAMES]
set -euo pipefail
W=$1
N=${2:-90}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
gst-launch-1.0 -q videotestsrc num-buffers="$N" pattern=ball ! video/x-raw,width=1280,height=720,framerate=30/1 ! \
  x264enc speed-preset=veryfast tune=zerolatency sliced-threads=false threads=1 ! h264parse ! \
  mp4mux ! filesink location="$WORK/clip.mp4"
run() {  # name, torchclassify properties
  local name=$1 t0 t1
  shift
  t0=$(date +%s.%N)
  gst-launch-1.0 -q filesrc location="$WORK/clip.mp4" ! decodebin ! videoconvert ! \
    torchclassify device=cpu weights-location="$W" top-k=5 "$@" ! \
    torchmetasink location="$WORK/$name.jsonl"
  t1=$(date +%s.%N)
  echo "$name $(python3 -c "print($t1 - $t0)")"
}
{
  run batch1 batch-size=1
  run default
  run batch8 batch-size=8
  run bf16 precision=bf16
  run bf16_batch1 precision=bf16 batch-size=1
  run bf16_batch8 precision=bf16 batch-size=8
} > "$WORK/times.txt"
python3 - "$WORK" "$N" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
t = dict((l.split()[0], float(l.split()[1])) for l in open(f"{work}/times.txt"))
res = {k: [json.loads(l)["classifications"][0]["labels"] for l in open(f"{work}/{k}.jsonl")] for k in t}
def score_of(labels, cid):
    return next((l["score"] for l in labels if l["id"] == cid), 0.0)
for k in ("batch1", "default", "batch8", "bf16", "bf16_batch1", "bf16_batch8"):
    ref = res["batch1"]
    same = sum(a[0]["id"] == b[0]["id"] for a, b in zip(res[k], ref))
    # the largest change of the fp32 batch-1 top-1 class's score
    diff = max(abs(score_of(a, b[0]["id"]) - b[0]["score"]) for a, b in zip(res[k], ref))
    print(f"decoded 720p H.264, {k:11s}: {n / t[k]:6.2f} frames/s, {t['batch1'] / t[k]:.2f}x batch-size=1 fp32, "
          f"top-1 equal on {same}/{len(ref)} frames, max |score diff| {diff:.2e} (whole pipeline, start included)")
PY
