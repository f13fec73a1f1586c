#!/usr/bin/env python3
"""A seeded ResNet50 state dict made with torch alone (no torchvision, Pillow or NumPy).

    make_resnet50_seeded.py OUT.pth [--seed N]

For scripts/gpu-check on a machine whose Python has torch but not torchvision: the state
dict has torchvision's resnet50 key names and shapes (conv1, bn1, layer1..layer4 of
Bottleneck blocks with downsample.0/.1, fc), so ta::Model loads it like any torchvision
checkpoint. Its weights are not those of the reference fixture resnet50_seeded.pth
(which make_fixtures.py calibrates on its PIL-made frames); they follow the same recipe on
seeded synthetic images made by torch: a smooth stem, BatchNorm scales that keep
activations finite, running statistics measured on those images, and a 1000-class head
fitted so that each image's softmax has a peaked, well separated top-5 (so that comparing
top-5 ids across devices means something).
"""

import argparse
import math
import os
import sys

import torch
import torch.nn as nn

SEED = 50


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, width, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet50(nn.Module):
    """torchvision's resnet50 layout (v1.5: the stride on the 3x3 conv)."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin = 64
        for i, (blocks, width, stride) in enumerate([(3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)]):
            layer = []
            for b in range(blocks):
                s = stride if b == 0 else 1
                down = None
                if b == 0 and (s != 1 or cin != width * 4):
                    down = nn.Sequential(nn.Conv2d(cin, width * 4, 1, stride=s, bias=False), nn.BatchNorm2d(width * 4))
                layer.append(Bottleneck(cin, width, s, down))
                cin = width * 4
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*layer))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x):
        return self.fc(self.features(x))


def synthetic_images(n, g):
    """n normalized 224x224 images: gradients, a sine wave and soft discs, seeded."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 224), torch.linspace(0, 1, 224), indexing="ij")
    out = torch.empty(n, 3, 224, 224)
    for i in range(n):
        for c in range(3):
            a, b, f1, f2, ph = (torch.rand(5, generator=g) * torch.tensor([2.0, 2.0, 4.0, 4.0, 6.28])).tolist()
            img = 0.5 + 0.4 * (a - 1) * (xx - 0.5) + 0.4 * (b - 1) * (yy - 0.5)
            img = img + 0.15 * torch.sin(2 * math.pi * (f1 * xx + f2 * yy) + ph)
            for _ in range(4):
                cx, cy, r, v = torch.rand(4, generator=g).tolist()
                img = img + (v - 0.5) * 0.6 * torch.sigmoid((0.05 + 0.2 * r - ((xx - cx) ** 2 + (yy - cy) ** 2).sqrt()) * 60)
            img = img + 0.01 * torch.randn(224, 224, generator=g)
            out[i, c] = (img.clamp(0, 1) - (0.485, 0.456, 0.406)[c]) / (0.229, 0.224, 0.225)[c]
    return out


def make(seed=SEED):
    torch.manual_seed(seed)
    m = ResNet50()
    g = torch.Generator().manual_seed(seed + 100000)
    calib = synthetic_images(8, g)
    with torch.no_grad():
        # Stem: smooth anisotropic Gaussians times a random colour mix.
        k = m.conv1.weight.shape[-1]
        r = torch.arange(k, dtype=torch.float32) - (k - 1) / 2
        for c in range(m.conv1.weight.shape[0]):
            sx, sy = (1.5 + torch.rand(2, generator=g)).tolist()
            cx, cy = (torch.rand(2, generator=g) * 2 - 1).tolist()
            prof = torch.exp(-((r[None, :] - cx) ** 2 / (2 * sx * sx) + (r[:, None] - cy) ** 2 / (2 * sy * sy)))
            m.conv1.weight[c] = torch.randn(3, generator=g)[:, None, None] * prof / prof.sum()
        last = {id(b.bn3) for b in m.modules() if isinstance(b, Bottleneck)}
        shortcut = {id(m.bn1)} | {id(b.downsample[1]) for b in m.modules()
                                  if isinstance(b, Bottleneck) and b.downsample is not None}
        bns = [x for x in m.modules() if isinstance(x, nn.BatchNorm2d)]
        for bn in bns:
            c = bn.num_features
            f = 0.2 if id(bn) in last else 1.0
            lo, hi = (1.0, 2.0) if id(bn) in shortcut else (-0.25, 0.25)
            bn.weight.copy_((0.6 + 0.8 * torch.rand(c, generator=g)) * f)
            bn.bias.copy_((lo + (hi - lo) * torch.rand(c, generator=g)) * f)
            bn.momentum = None  # cumulative average: one batch gives its exact statistics
            bn.reset_running_stats()
        m.train()
        m(calib)
        for bn in bns:
            bn.running_mean.add_(bn.running_var.sqrt() * 0.1 * torch.randn(bn.num_features, generator=g))
            bn.running_var.mul_(0.8 + 0.45 * torch.rand(bn.num_features, generator=g))
            bn.momentum = 0.1
        m.eval()
        # Head: the minimum-norm exact fit of peaked log-probabilities on the images' features.
        feats = m.features(calib).double()
        n = feats.shape[0]
        target = torch.full((n, 1000), math.log(0.05 / 995), dtype=torch.float64)
        target += (torch.randn(n, 1000, generator=g) * 0.3).clamp(-0.5, 0.5).double()
        perm = torch.randperm(1000, generator=g)
        for i in range(n):
            target[i, perm[5 * i:5 * i + 5]] = torch.log(torch.tensor([0.5, 0.2, 0.1, 0.06, 0.04], dtype=torch.float64))
        a = torch.cat([feats, torch.ones(n, 1, dtype=torch.float64)], 1)
        sol = torch.linalg.pinv(a) @ target
        m.fc.weight.copy_(sol[:-1].T.float())
        m.fc.bias.copy_(sol[-1].float())
    return m, calib


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="the .pth to write")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    m, calib = make(args.seed)
    p = torch.softmax(m(calib), 1)
    if not torch.isfinite(p).all():
        sys.exit("make_resnet50_seeded: the seeded model gives non-finite scores")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(m.state_dict(), args.out)
    top = p.topk(5, 1).values
    print("make_resnet50_seeded: %s (torch %s, seed %d; top-1 on its images %.2f..%.2f)"
          % (args.out, torch.__version__, args.seed, top[:, 0].min().item(), top[:, 0].max().item()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
