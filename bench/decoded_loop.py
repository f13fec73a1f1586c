#!/usr/bin/env python3
"""The loop users write instead of a pipeline, on an encoded file: OpenCV VideoCapture
decodes, each frame goes BGR -> RGB -> PIL -> Resize(256) -> CenterCrop(224) -> ToTensor ->
Normalize, batches of BATCH go through torchvision's resnet50 (fp32, or bf16 under CPU
autocast), softmax, top-5. Prints "seconds FRAMES", the seconds from opening the file to the
last result (imports and model load excluded; bench_decoded.sh times the whole process, as
it times the pipeline, and takes the steady rate from two file lengths), and writes each frame's top-1 class id, one per line, to OUT.
Usage: decoded_loop.py WEIGHTS.pth VIDEO BATCH fp32|bf16 OUT
"""
import sys
import time

import cv2
import torch
import torchvision
from PIL import Image
from torchvision import transforms

weights, video, batch, precision, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
model = torchvision.models.resnet50()
model.load_state_dict(torch.load(weights, map_location="cpu"))
model.eval()
tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                         transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])


def run(x):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        return torch.softmax(model(x).float(), 1).topk(5)


with torch.inference_mode():
    run(torch.zeros(batch, 3, 224, 224))  # warm up at the batch size
    top1, pending = [], []
    t0 = time.perf_counter()
    cap = cv2.VideoCapture(video)
    if not cap.isOpened():
        sys.exit(f"OpenCV cannot open {video}")
    while True:
        ok, bgr = cap.read()
        if ok:
            pending.append(tf(Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))))
        if pending and (len(pending) == batch or not ok):
            top1 += run(torch.stack(pending)).indices[:, 0].tolist()
            pending = []
        if not ok:
            break
    t1 = time.perf_counter()
with open(out, "w") as f:
    f.writelines(f"{c}\n" for c in top1)
print(f"{t1 - t0:.3f} {len(top1)}")
