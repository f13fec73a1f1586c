#!/usr/bin/env bash
# torchclassify on decoded H.264 (the case users feel) against the loop users write instead
# (bench/decoded_loop.py: OpenCV VideoCapture -> PIL -> torchvision transforms -> resnet50),
# on the same encoded files in the same run: 1280x720 and 1920x1080 files made here,
# decoded in the pipeline by decodebin, a seeded ResNet50 on the CPU, batch 1 and 8, fp32
# and bf16, the element's defaults; then 4 such 720p files at once on one shared model; then,
# when Debian's opencv-doc media is there, fp32 against bf16 top-1 on a real video.
#
# Both sides are timed the same way, as whole processes (python's imports and model load,
# gst-launch's start and model load included) on files of N frames (180: 6 s of video):
# frames/s = N / time, the fastest of BENCH_REPEAT runs (3). (A steady rate taken from the
# difference of two file lengths was tried and dropped: on this noisy 2-core machine the
# difference of two fastest-of-3 times gave impossible rates.) Ratios are to the loop at
# batch 1 fp32, all from this one run. Also: whether every frame's top-1 equals the
# element's batch 1 fp32, each side's peak RSS, and the element's latency (frame in ->
# result, from torchmetasink include-model-info).
# Called by scripts/bench; alone:
#   BUILD_DIR=build BENCH_PY=python-with-cv2-and-torchvision bench/bench_decoded.sh WEIGHTS.pth [N]
set -euo pipefail
W=$1
N=${2:-180}
PY=${BENCH_PY:-python3}
MEDIA=${TA_MEDIA_DIR:-$HOME/.cache/torchanalytics/media}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

make_clip() {  # WIDTH HEIGHT FRAMES FILE
  gst-launch-1.0 -q videotestsrc num-buffers="$3" pattern=ball ! \
    video/x-raw,width=$1,height=$2,framerate=30/1 ! \
    x264enc speed-preset=veryfast tune=zerolatency sliced-threads=false threads=1 ! h264parse ! \
    mp4mux ! filesink location="$4"
}
# timed NAME KIND LENGTH command...: runs it REPEAT times (a 2-core machine is noisy: the
# same run varies by 20-30 %) and appends "NAME KIND LENGTH seconds peak-RSS-kB" of the
# fastest run to times.txt
REPEAT=${BENCH_REPEAT:-3}
timed() {
  local name=$1 kind=$2 len=$3 r
  shift 3
  for r in $(seq "$REPEAT"); do
    /usr/bin/time -o "$WORK/time.out" -f "%e %M" "$@" > /dev/null
    cat "$WORK/time.out"
  done | sort -n | head -n 1 | sed "s/^/$name $kind $len /" >> "$WORK/times.txt"
}
element() {  # NAME LENGTH CLIP torchclassify-properties...
  local name=$1 len=$2 clip=$3
  shift 3
  timed "$name" element "$len" gst-launch-1.0 -q filesrc location="$clip" ! decodebin ! videoconvert ! \
    torchclassify device=cpu weights-location="$W" top-k=5 "$@" ! \
    torchmetasink include-model-info=true location="$WORK/$name-$len.jsonl"
}
loop() {  # NAME LENGTH CLIP BATCH PRECISION
  timed "$1" loop "$2" "$PY" "$(dirname "$0")/decoded_loop.py" "$W" "$3" "$4" "$5" "$WORK/$1-$2.top1"
}
: > "$WORK/times.txt"
for size in 1280x720 1920x1080; do
  len=$N
  clip="$WORK/clip-$size-$len.mp4"
  make_clip "${size%x*}" "${size#*x}" "$len" "$clip"
  loop "$size-loop-b1" "$len" "$clip" 1 fp32
  loop "$size-loop-b8" "$len" "$clip" 8 fp32
  loop "$size-loop-b8-bf16" "$len" "$clip" 8 bf16
  element "$size-b1" "$len" "$clip" batch-size=1
  element "$size-default" "$len" "$clip"
  element "$size-b8" "$len" "$clip" batch-size=8
  element "$size-bf16" "$len" "$clip" precision=bf16
  element "$size-b8-bf16" "$len" "$clip" precision=bf16 batch-size=8
done

# Four files at once, one shared model (model-instance-id), default batching.
clip="$WORK/clip-1280x720-$N.mp4"
branches=()
for i in 0 1 2 3; do
  branches+=(filesrc location="$clip" ! decodebin ! videoconvert ! torchclassify device=cpu
    weights-location="$W" model-instance-id=bench ! torchmetasink location="$WORK/four-$i.jsonl")
done
timed four element "$N" gst-launch-1.0 -q "${branches[@]}"

real=""
for f in "$MEDIA"/usr/share/doc/opencv-doc/examples/data/Megamind.avi "$MEDIA"/Megamind.avi; do
  [ -f "$f" ] && real=$f && break
done
if [ -n "$real" ]; then
  for p in fp32 bf16; do
    gst-launch-1.0 -q filesrc location="$real" ! decodebin ! videoconvert ! \
      torchclassify device=cpu weights-location="$W" precision=$p ! torchmetasink location="$WORK/real-$p.jsonl"
  done
fi

python3 - "$WORK" "$N" <<'PY'
import json, os, sys
work, n = sys.argv[1], int(sys.argv[2])
t = {}
for l in open(f"{work}/times.txt"):
    name, kind, length, secs, rss = l.split()
    t[(name, int(length))] = (kind, float(secs), int(rss))
def labels(name, length):
    return [json.loads(l)["classifications"][0]["labels"] for l in open(f"{work}/{name}-{length}.jsonl")]
def top1(name, length):
    if t[(name, length)][0] == "loop":
        return [int(l) for l in open(f"{work}/{name}-{length}.top1")]
    return [ls[0]["id"] for ls in labels(name, length)]
def whole(name):
    return n / t[(name, n)][1]
def latency(name):
    ms = sorted(json.loads(l)["classifications"][0]["latency"] / 1e6 for l in open(f"{work}/{name}-{n}.jsonl"))
    return f"{ms[len(ms) // 2]:6.0f} {ms[min(len(ms) - 1, int(len(ms) * 0.99))]:6.0f}"
for size in ("1280x720", "1920x1080"):
    base_w = whole(f"{size}-loop-b1")
    ref = top1(f"{size}-b1", n)
    print(f"-- decoded {size} H.264, {n} frames, whole processes, fastest of {os.environ.get('BENCH_REPEAT', '3')}; "
          "ratios to the OpenCV+torchvision loop at batch 1 fp32")
    print("side    setting       frames/s ratio  peak RSS  latency p50 p99 ms  top-1 = element b1 fp32")
    for k in ("loop-b1", "loop-b8", "loop-b8-bf16", "b1", "default", "b8", "bf16", "b8-bf16"):
        name = f"{size}-{k}"
        kind = t[(name, n)][0]
        got = top1(name, n)
        same = sum(a == b for a, b in zip(got, ref))
        lat = latency(name) if kind == "element" else "     -      -"
        print(f"{'loop   ' if kind == 'loop' else 'element'} {k:13s} {whole(name):8.2f} {whole(name) / base_w:5.2f}x  "
              f"{t[(name, n)][2] / 1024:5.0f} MB  {lat}         {same}/{len(ref)} (of {len(got)})")
secs = t[("four", n)][1]
counts = [sum(1 for _ in open(f"{work}/four-{i}.jsonl")) for i in range(4)]
print(f"-- 4 files of 1280x720 ({n} frames each) at once, one shared model, defaults: {4 * n / secs:.2f} frames/s "
      f"whole job ({(4 * n / secs) / whole('1280x720-loop-b1'):.2f}x the loop's whole job at batch 1 on one file), "
      f"lines {counts}")
if os.path.exists(f"{work}/real-fp32.jsonl"):
    a = [json.loads(l)["classifications"][0]["labels"] for l in open(f"{work}/real-fp32.jsonl")]
    b = [json.loads(l)["classifications"][0]["labels"] for l in open(f"{work}/real-bf16.jsonl")]
    same = sum(x[0]["id"] == y[0]["id"] for x, y in zip(a, b))
    def score(ls, cid):
        return next((l["score"] for l in ls if l["id"] == cid), 0.0)
    diff = max(abs(score(y, x[0]["id"]) - x[0]["score"]) for x, y in zip(a, b))
    print(f"-- real video (opencv-doc Megamind.avi, {len(a)} frames): bf16 top-1 = fp32 on {same}/{len(a)}, "
          f"largest change of fp32's top-1 score {diff:.2e}")
else:
    print("-- real video: skipped, Debian's opencv-doc media is not in " + os.environ.get("TA_MEDIA_DIR", "~/.cache/torchanalytics/media"))
PY
