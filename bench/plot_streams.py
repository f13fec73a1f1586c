#!/usr/bin/env python3
"""Draws frames/s against the number of streams (shared model vs one model per stream)
from bench_streams' output lines, as a PNG, with PIL only."""
import sys

from PIL import Image, ImageDraw

rows = [dict(kv.split("=") for kv in line.split()) for line in open(sys.argv[1]) if line.startswith("streams=")]
series = {}
for r in rows:
    key = "one shared model, batched" if r["shared"] == "1" else "a model per stream"
    series.setdefault(key, []).append((int(r["streams"]), float(r["fps"])))
base = [(int(r["streams"]), float(r["fps"])) for r in rows if r["streams"] == "1"]
for k in series:
    series[k] = sorted(set(series[k]) | set(base))

W, H, L, B, T, R = 720, 440, 70, 60, 40, 30
img = Image.new("RGB", (W, H), "white")
d = ImageDraw.Draw(img)
xmax = max(n for s in series.values() for n, _ in s)
ymax = max(f for s in series.values() for _, f in s) * 1.2
X = lambda n: L + (n - 1) / max(1, xmax - 1) * (W - L - R)
Y = lambda f: H - B - f / ymax * (H - B - T)
d.line([(L, T), (L, H - B), (W - R, H - B)], fill="black")
for n in sorted({n for s in series.values() for n, _ in s}):
    d.text((X(n) - 3, H - B + 8), str(n), fill="black")
for i in range(6):
    f = ymax * i / 5
    d.text((8, Y(f) - 6), f"{f:.0f}", fill="black")
    d.line([(L - 4, Y(f)), (L, Y(f))], fill="black")
d.text((W / 2 - 40, H - 25), "streams", fill="black")
d.text((10, 10), "total frames/s (ResNet50 fp32, CPU, 640x480)", fill="black")
colors = ["#1f77b4", "#d62728"]
for (name, pts), c in zip(sorted(series.items()), colors):
    d.line([(X(n), Y(f)) for n, f in pts], fill=c, width=3)
    for n, f in pts:
        d.ellipse([X(n) - 4, Y(f) - 4, X(n) + 4, Y(f) + 4], fill=c)
    d.text((X(pts[-1][0]) - 190, Y(pts[-1][1]) - 18), name, fill=c)
img.save(sys.argv[2])
