#!/usr/bin/env python3
"""The loop the PyTorch docs teach, timed on the same frames as torchclassify:
PIL image -> Resize(256) -> CenterCrop(224) -> ToTensor -> Normalize -> resnet50 -> softmax
-> top-5, one frame at a time, on the CPU. Prints preprocessing and end-to-end frames/s.
Usage: python_baseline.py WEIGHTS.pth FRAMES W H   (FRAMES: raw RGB frames back to back)
"""
import sys
import time

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms

weights, path, w, h = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
raw = np.fromfile(path, dtype=np.uint8).reshape(-1, h, w, 3)
model = torchvision.models.resnet50()
model.load_state_dict(torch.load(weights, map_location="cpu"))
model.eval()
tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                         transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
with torch.inference_mode():
    model(tf(Image.fromarray(raw[0])).unsqueeze(0))  # warm up
    t0 = time.perf_counter()
    for f in raw:
        tf(Image.fromarray(f))
    t1 = time.perf_counter()
    for f in raw:
        torch.softmax(model(tf(Image.fromarray(f)).unsqueeze(0)), 1).topk(5)
    t2 = time.perf_counter()
n = len(raw)
print(f"python_preprocess_ms {1000 * (t1 - t0) / n:.2f}")
print(f"python_fps {n / (t2 - t1):.2f}")
