#!/usr/bin/env python3
"""Reference fixtures for the torchanalytics tests, made with torchvision itself.

    make_fixtures.py --out DIR --stamp FILE [--force]
    make_fixtures.py --out DIR --only resnet50_seeded     (scripts/gpu-check)

Writes into DIR: seeded torchvision models (state dicts and TorchScript), deliberately broken
model files for the negative tests, label files, synthetic RGB frames, the same frames as
I420/NV12 made by GStreamer's videoconvert, and torchvision's own results on them (normalized
input tensors, softmax scores, top-5). manifest.json, written last, describes every file; the
C++ tests read it (tests/reference/README.md explains each fixture and each test).

Nothing here comes from our own code: the references are torchvision (PIL path), an exact
float64 YUV -> RGB conversion (GStreamer's matrix definitions) and
GStreamer's videoconvert. A DIR whose manifest.json records the sha256 of this script and the
same torch / torchvision / Pillow / NumPy versions is reused as it is (only the stamp is
touched), so the fixtures cost their 10-40 s (2 cores) once per build directory.
"""

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

# torch, torchvision, PIL and numpy are imported by heavy_imports(), after the up-to-date
# check, so that a cached run costs a fraction of a second.
np = torch = nn = torchvision = Image = T = TF = None


def heavy_imports():
    global np, torch, nn, torchvision, Image, T, TF
    import numpy as np
    import torch
    import torch.nn as nn
    import torchvision
    from PIL import Image
    from torchvision import transforms as T
    from torchvision.transforms import functional as TF

MANIFEST_VERSION = 1

# ---- seeds (documented in tests/reference/README.md) ----------------------------------------
FRAME_SEED0 = 1000        # frame i uses FRAME_SEED0 + i
RESNET50_SEED = 50        # backbone of resnet50_seeded / _ts / _10class
RESNET50_HEAD_SEED = 51   # its 1000-class head
RESNET50_10_HEAD_SEED = 5010
RESNET18_SEED = 18
RESNET18_HEAD_SEED = 19
RESNET18_10_HEAD_SEED = 1810
RESNET18_CROPS_HEAD_SEED = 1811
TINY_SEED = 7
RANDOM_BYTES_SEED = 1234

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

# name, width, height. At least: VGA, odd, 720p, smaller than the crop, square (no resize
# at 256), 4K, portrait.
FRAMES = [
    ("640x480", 640, 480),
    ("333x251", 333, 251),
    ("1280x720", 1280, 720),
    ("200x150", 200, 150),
    ("256x256", 256, 256),
    ("3840x2160", 3840, 2160),
    ("480x640", 480, 640),
]


def cfg(resize_size=256, crop_size=224, mode="center-crop", mean=None, std=None, antialias=True):
    return {"resize_size": resize_size, "crop_size": crop_size, "mode": mode,
            "mean": list(mean or IMAGENET_MEAN), "std": list(std or IMAGENET_STD),
            "antialias": antialias}


# Preprocessing variants: (name, config, frames, torchvision recipe in words).
VARIANTS = [
    ("stretch", cfg(mode="stretch"), ["640x480", "200x150"],
     "Resize((224, 224)), ToTensor(), Normalize(imagenet) on PIL"),
    ("resize232", cfg(resize_size=232), ["1280x720", "333x251"],
     "Resize(232), CenterCrop(224), ToTensor(), Normalize(imagenet) on PIL"),
    ("r160c128", cfg(resize_size=160, crop_size=128), ["640x480", "480x640"],
     "Resize(160), CenterCrop(128), ToTensor(), Normalize(imagenet) on PIL"),
    ("meanstd", cfg(mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25]), ["640x480"],
     "Resize(256), CenterCrop(224), ToTensor(), Normalize(mean=0.5, std=0.25) on PIL"),
    ("noaa", cfg(antialias=False), ["640x480", "1280x720", "333x251"],
     "F.resize(uint8 tensor as float, 256, antialias=False) (bilinear), F.center_crop(224), "
     "/255, Normalize(imagenet)"),
    ("letterbox", cfg(mode="letterbox"), ["640x480", "480x640"],
     "PIL resize of the longer side to 224 (size lround(side * 224 / longer)), pasted centred "
     "((224 - size) // 2) on black, ToTensor(), Normalize(imagenet)"),
]

# YUV cases: (format, colorimetry name, frame). COLORIMETRY: name -> (the caps string,
# matrix, full range). bt709 = 2:3:5:1 and bt601 = 2:4:5:4 are limited range; full-range
# BT.601 (JPEG) is "1:4:0:0": GStreamer 1.22 has no name for it, and an unparsable string
# such as "jpeg" silently gives the default (limited) colorimetry in videoconvert.
COLORIMETRY = {"bt709": ("bt709", "BT709", False), "bt601": ("bt601", "BT601", False),
               "bt601full": ("1:4:0:0", "BT601", True)}
KR_KB = {"BT601": (0.299, 0.114), "BT709": (0.2126, 0.0722)}
YUV_CASES = [
    ("I420", "bt709", "640x480"),
    ("NV12", "bt709", "640x480"),
    ("I420", "bt601", "640x480"),
    ("NV12", "bt601full", "640x480"),
    ("I420", "bt709", "333x251"),
    ("NV12", "bt709", "333x251"),
    ("I420", "bt601full", "333x251"),
]


# Regions (torchclassify inference-region=roi-list): (name, source, x, y, w, h). The source
# is an RGB frame or a YUV fixture; the reference is torchvision on the crop of the RGB frame
# (PIL's img.crop((x, y, x + w, y + h))), for YUV of its exact full-size RGB conversion, so
# that odd offsets keep the frame's chroma siting. Odd offsets and sizes, regions touching
# each border, regions smaller than the 224 crop. The seven 640x480 ones have distinct
# content (the batching test places them on frames of several streams).
CROPS = [
    ("rgb_a", "640x480", 101, 57, 203, 151),
    ("rgb_b", "640x480", 437, 301, 203, 179),   # right and bottom border
    ("rgb_c", "640x480", 0, 0, 97, 131),        # top-left corner
    ("rgb_d", "640x480", 13, 17, 61, 45),       # smaller than the crop
    ("rgb_e", "640x480", 300, 11, 57, 301),     # tall
    ("rgb_f", "640x480", 201, 333, 239, 147),   # bottom border
    ("rgb_g", "640x480", 551, 121, 89, 91),     # right border
    ("i420_a", "i420_bt709_333x251", 33, 21, 101, 77),
    ("i420_b", "i420_bt709_333x251", 232, 150, 101, 101),  # right and bottom border
    ("i420_c", "i420_bt709_333x251", 1, 1, 201, 249),
    ("i420_d", "i420_bt709_333x251", 7, 9, 31, 23),        # smaller than the crop
    ("nv12_a", "nv12_bt709_333x251", 57, 31, 77, 101),
    ("nv12_b", "nv12_bt709_333x251", 256, 170, 77, 81),    # right and bottom border
    ("nv12_c", "nv12_bt709_333x251", 0, 0, 333, 251),      # the whole frame as a region
    ("nv12_d", "nv12_bt709_333x251", 151, 5, 29, 37),
    ("nv12f_a", "nv12_bt601full_640x480", 101, 57, 203, 151),
]


def log(msg):
    print("make_fixtures: " + msg, flush=True)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def versions():
    return {p: importlib.metadata.version(p) for p in ("torch", "torchvision", "pillow", "numpy")}


# ---- frames ---------------------------------------------------------------------------------

def make_frame(w, h, seed):
    """A deterministic RGB image with structure at every scale: colour gradients, a sine
    wave, discs, rectangles, striped discs (aliasing bait), plus sensor-like noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = xx / w
    v = yy / h
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        a, b = rng.uniform(-120, 120, 2)
        f1, f2 = rng.uniform(0.5, 4, 2)
        ph = rng.uniform(0, 2 * np.pi)
        img[..., c] = 128 + a * (u - 0.5) + b * (v - 0.5) + 40 * np.sin(2 * np.pi * (f1 * u + f2 * v) + ph)
    aspect = w / h
    for k in range(12):
        col = rng.uniform(0, 255, 3).astype(np.float32)
        cx, cy = rng.uniform(0, 1, 2)
        r = rng.uniform(0.04, 0.2)
        ry = r * rng.uniform(0.3, 1.5)
        freq = rng.uniform(20, 60)
        if k % 3 == 0:
            m = ((u - cx) * aspect) ** 2 + (v - cy) ** 2 < r * r
        elif k % 3 == 1:
            m = (np.abs(u - cx) * aspect < r) & (np.abs(v - cy) < ry)
        else:
            m = ((((u - cx) * aspect) ** 2 + (v - cy) ** 2 < r * r)
                 & (np.sin(2 * np.pi * u * aspect * freq) > 0))
        img[m] = 0.4 * img[m] + 0.6 * col
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# ---- torchvision references -------------------------------------------------------------------

def letterbox_pil(img, crop, mean, std):
    w, h = img.size
    s = min(crop / w, crop / h)
    rw = max(1, min(crop, int(math.floor(w * s + 0.5))))  # std::lround: half away from zero
    rh = max(1, min(crop, int(math.floor(h * s + 0.5))))
    canvas = Image.new("RGB", (crop, crop), (0, 0, 0))
    canvas.paste(img.resize((rw, rh), Image.BILINEAR), ((crop - rw) // 2, (crop - rh) // 2))
    return T.Normalize(mean, std)(T.ToTensor()(canvas))


def reference_tensor(rgb, c):
    """torchvision's normalized CHW tensor for the uint8 HxWx3 array `rgb` under config `c`."""
    norm = T.Normalize(mean=c["mean"], std=c["std"])
    if not c["antialias"]:
        assert c["mode"] == "center-crop"
        t = torch.from_numpy(rgb).permute(2, 0, 1).float()
        t = TF.resize(t, c["resize_size"], interpolation=T.InterpolationMode.BILINEAR, antialias=False)
        t = TF.center_crop(t, c["crop_size"])
        return norm(t / 255.0)
    img = Image.fromarray(rgb)
    if c["mode"] == "center-crop":
        tf = T.Compose([T.Resize(c["resize_size"]), T.CenterCrop(c["crop_size"]), T.ToTensor(), norm])
        return tf(img)
    if c["mode"] == "stretch":
        tf = T.Compose([T.Resize((c["crop_size"], c["crop_size"])), T.ToTensor(), norm])
        return tf(img)
    if c["mode"] == "letterbox":
        return letterbox_pil(img, c["crop_size"], c["mean"], c["std"])
    raise ValueError(c["mode"])


def write_f32(path, t):
    np.ascontiguousarray(t.detach().cpu().numpy(), dtype="<f4").tofile(path)


# ---- seeded models ----------------------------------------------------------------------------

def smooth_stem(conv, g):
    """conv1 as smooth, slightly off-centre anisotropic Gaussians times a random colour mix.

    The network then sees the image, not its least significant bit: PIL rounds to uint8
    after each resize pass and our float path does not (0.017 max, 0.005 mean apart), and a
    random kaiming conv1 passes that difference on at full strength. The Gaussians are not
    symmetric, so a transposed or flipped kernel would still change the result."""
    o, i, k, _ = conv.weight.shape
    r = torch.arange(k, dtype=torch.float32) - (k - 1) / 2
    w = torch.empty_like(conv.weight)
    for c in range(o):
        sx, sy = torch.empty(2).uniform_(1.5, 2.5, generator=g)
        cx, cy = torch.empty(2).uniform_(-1.0, 1.0, generator=g)
        prof = torch.exp(-((r[None, :] - cx) ** 2 / (2 * sx * sx) + (r[:, None] - cy) ** 2 / (2 * sy * sy)))
        prof /= prof.sum()
        w[c] = torch.randn(i, generator=g)[:, None, None] * prof
    conv.weight.copy_(w)


RESIDUAL_SCALE = 0.2
BN_BIAS = (-0.25, 0.25)
SHORTCUT_BIAS = (1.0, 2.0)


def make_backbone(arch, seed, calib):
    """torchvision.models.<arch>() with torch.manual_seed(seed), then:
    - conv1: smooth_stem();
    - every BatchNorm: weight ~ U(0.6, 1.4), bias ~ U(BN_BIAS); on the last BN of each
      residual branch (bn3 / bn2) both times RESIDUAL_SCALE, so the blocks refine the
      identity path instead of compounding into chaos; the stem's bn1 and the downsample
      BNs get bias ~ U(SHORTCUT_BIAS) (mostly positive: the ReLUs after them pass the
      image through instead of cutting it at its mean, which amplifies small differences);
    - running_mean / running_var: measured by one train-mode pass over `calib` (the reference
      frames), then randomized: mean += 0.1 sd N(0,1), var *= U(0.8, 1.25).
    The result is in eval mode, its activations neither vanish nor explode."""
    torch.manual_seed(seed)
    m = getattr(torchvision.models, arch)()
    g = torch.Generator().manual_seed(seed + 100000)
    with torch.no_grad():
        smooth_stem(m.conv1, g)
        last = set()
        shortcut = {id(m.bn1)}
        for blk in m.modules():
            if isinstance(blk, torchvision.models.resnet.Bottleneck):
                last.add(id(blk.bn3))
            elif isinstance(blk, torchvision.models.resnet.BasicBlock):
                last.add(id(blk.bn2))
            if isinstance(blk, (torchvision.models.resnet.Bottleneck, torchvision.models.resnet.BasicBlock)) and blk.downsample is not None:
                shortcut.add(id(blk.downsample[1]))
        bns = [x for x in m.modules() if isinstance(x, nn.BatchNorm2d)]
        for bn in bns:
            c = bn.num_features
            f = RESIDUAL_SCALE if id(bn) in last else 1.0
            bn.weight.copy_(torch.empty(c).uniform_(0.6, 1.4, generator=g) * f)
            lo, hi = SHORTCUT_BIAS if id(bn) in shortcut else BN_BIAS
            bn.bias.copy_(torch.empty(c).uniform_(lo, hi, generator=g) * f)
            bn.momentum = None  # cumulative average: one batch gives its exact statistics
            bn.reset_running_stats()
        m.train()
        m(calib)
        for bn in bns:
            c = bn.num_features
            bn.running_mean.add_(bn.running_var.sqrt() * 0.1 * torch.randn(c, generator=g))
            bn.running_var.mul_(torch.empty(c).uniform_(0.8, 1.25, generator=g))
            bn.momentum = 0.1
    return m.eval()


def penultimate(m, x):
    feats = {}
    h = m.fc.register_forward_hook(lambda mod, inp, out: feats.__setitem__("f", inp[0].detach().clone()))
    with torch.no_grad():
        m(x)
    h.remove()
    return feats["f"]


def design_head(feats, ncls, seed):
    """An fc of `ncls` outputs whose softmax on the reference frames is peaked with a well
    separated top-5 (torchvision's default fc gives near-uniform scores).

    Per frame i a seeded target: five classes with p1 ~ U(0.35, 0.75), p2 = (1 - p1) U(0.25,
    0.38), p(k+1) = pk U(0.45, 0.7), the other classes share what is left (each at most ~0.55
    p5). The fc is the minimum-norm exact fit of those log-probabilities on the frames'
    penultimate features, so its rows lie in the span of image content: like a trained head,
    it responds to the picture, not to sub-LSB rounding noise."""
    g = torch.Generator().manual_seed(seed)
    u = lambda a, b: torch.empty(1).uniform_(a, b, generator=g).item()
    n = feats.shape[0]
    target = torch.empty(n, ncls, dtype=torch.float64)
    perm = torch.randperm(ncls, generator=g)
    for i in range(n):
        ps = [u(0.35, 0.75)]
        ps.append((1 - ps[0]) * u(0.25, 0.38))
        for _ in range(3):
            ps.append(ps[-1] * u(0.45, 0.7))
        nb = ncls - 5
        each = min((1 - sum(ps)) / nb, ps[4] / 3)
        bg = math.log(each) + (torch.randn(nb, generator=g) * 0.3).clamp(-0.5, 0.5).double()
        ids = perm[(torch.arange(5) + 5 * i) % ncls] if ncls >= 5 * n else torch.randperm(ncls, generator=g)[:5]
        rest = torch.ones(ncls, dtype=torch.bool)
        rest[ids] = False
        target[i, rest] = bg
        target[i, ids] = torch.log(torch.tensor(ps, dtype=torch.float64))
    a = torch.cat([feats.double(), torch.ones(n, 1, dtype=torch.float64)], 1)
    sol = torch.linalg.pinv(a) @ target
    fc = nn.Linear(feats.shape[1], ncls)
    with torch.no_grad():
        fc.weight.copy_(sol[:-1].T.float())
        fc.bias.copy_(sol[-1].float())
    return fc


def softmax_scores(model, x):
    with torch.no_grad():
        return torch.softmax(model(x), dim=1)


def top5(scores):
    v, i = scores.topk(min(5, scores.shape[1]), dim=1)
    return i.tolist(), v.tolist()


def gaps(scores):
    v, _ = scores.topk(min(5, scores.shape[1]), dim=1)
    return (v[:, :-1] - v[:, 1:]).min(dim=1).values


def make_tiny():
    """A tiny TorchScript-able classifier: [N,3,H,W] -> [N,10] for any H, W."""
    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, stride=4, padding=1)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(8, 10)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))

    torch.manual_seed(TINY_SEED)
    return Tiny().eval()


def script(model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.script(model)


# ---- GStreamer conversions --------------------------------------------------------------------

def r4(x):
    return (x + 3) // 4 * 4


def r2(x):
    return (x + 1) // 2 * 2


def gst_layout(fmt, w, h):
    """GstVideoInfo's default layout (gst_video_info_set_format in video-info.c, 1.22):
    returns (offsets, strides, size). The C++ test checks it against GstVideoInfo."""
    if fmt == "RGB":
        s = r4(w * 3)
        return [0], [s], s * h
    if fmt == "I420":
        s0, s1 = r4(w), r4(r2(w) // 2)
        o1 = s0 * r2(h)
        o2 = o1 + s1 * (r2(h) // 2)
        return [0, o1, o2], [s0, s1, s1], o2 + s1 * (r2(h) // 2)
    if fmt == "NV12":
        s0 = r4(w)
        o1 = s0 * r2(h)
        return [0, o1], [s0, s0], o1 + s0 * (r2(h) // 2)
    raise ValueError(fmt)


def pad_rgb(rgb):
    h, w, _ = rgb.shape
    _, (s,), _ = gst_layout("RGB", w, h)
    out = np.zeros((h, s), np.uint8)
    out[:, :w * 3] = rgb.reshape(h, w * 3)
    return out


def unpad_rgb(buf, w, h):
    _, (s,), size = gst_layout("RGB", w, h)
    assert len(buf) == size, (len(buf), size)
    return np.frombuffer(buf, np.uint8).reshape(h, s)[:, :w * 3].reshape(h, w, 3).copy()


def gst_launch(desc):
    exe = shutil.which("gst-launch-1.0")
    r = subprocess.run([exe, "-q"] + desc.split(), capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("gst-launch-1.0 %s failed (%d): %s" % (desc, r.returncode, r.stderr.strip()))


def rgb_to_yuv(rgb, fmt, colorimetry, out_path, tmp):
    """videoconvert RGB -> fmt with the caps' colorimetry (chroma sited at the centre, as
    chroma-site=jpeg), and back to RGB with the same caps."""
    h, w, _ = rgb.shape
    src = os.path.join(tmp, "in.rgb")
    pad_rgb(rgb).tofile(src)
    gst_launch("filesrc location=%s ! rawvideoparse format=rgb width=%d height=%d framerate=1/1 "
               "! videoconvert ! video/x-raw,format=%s,colorimetry=%s,chroma-site=jpeg ! filesink location=%s"
               % (src, w, h, fmt, colorimetry, out_path))
    offsets, strides, size = gst_layout(fmt, w, h)
    got = os.path.getsize(out_path)
    if got != size:
        raise RuntimeError("%s: %d bytes, expected %d (GStreamer's default %s layout)" % (out_path, got, size, fmt))
    back = os.path.join(tmp, "back.rgb")
    gst_launch("filesrc location=%s ! rawvideoparse format=%s width=%d height=%d framerate=1/1 "
               "colorimetry=%s ! video/x-raw,chroma-site=jpeg ! videoconvert ! video/x-raw,format=RGB "
               "! filesink location=%s" % (out_path, fmt.lower(), w, h, colorimetry, back))
    with open(back, "rb") as f:
        rgb_back = unpad_rgb(f.read(), w, h)
    return offsets, strides, size, rgb_back


def yuv_planes(buf, fmt, w, h, offsets, strides):
    """Y, U, V as float64 arrays (chroma ceil(w/2) x ceil(h/2))."""
    cw, ch = (w + 1) // 2, (h + 1) // 2
    b = np.frombuffer(buf, np.uint8)
    y = b[offsets[0]:offsets[0] + strides[0] * h].reshape(h, strides[0])[:, :w]
    if fmt == "I420":
        u = b[offsets[1]:offsets[1] + strides[1] * ch].reshape(ch, strides[1])[:, :cw]
        v = b[offsets[2]:offsets[2] + strides[2] * ch].reshape(ch, strides[2])[:, :cw]
    else:
        uv = b[offsets[1]:offsets[1] + strides[1] * ch].reshape(ch, strides[1])[:, :2 * cw]
        u, v = uv[:, 0::2], uv[:, 1::2]
    return [np.asarray(p, np.float64) for p in (y, u, v)]


def yuv_to_rgb_exact(buf, fmt, w, h, offsets, strides, matrix, full_range):
    """The exact conversion, as GStreamer's video-color.c defines it: chroma upsampled
    linearly with centred siting (chroma-site=jpeg; bilinear, align_corners=False, edges
    clamped), the matrix in float64 (Kr, Kb; limited range: Y 16..235, chroma 16..240),
    rounded to uint8. videoconvert's 8-bit integer paths in GStreamer 1.22 come out about
    2 code values darker than this (Y=235 gives 253, Y=128 gives 128 instead of 130)."""
    y, u, v = yuv_planes(buf, fmt, w, h, offsets, strides)
    up = lambda c: torch.nn.functional.interpolate(torch.from_numpy(c)[None, None], scale_factor=2, mode="bilinear",
                                                   align_corners=False)[0, 0, :h, :w].numpy()
    u, v = up(u) - 128.0, up(v) - 128.0
    kr, kb = KR_KB[matrix]
    kg = 1.0 - kr - kb
    ys, yo, cs = (1.0, 0.0, 1.0) if full_range else (255.0 / 219.0, 16.0, 255.0 / 224.0)
    yy = ys * (y - yo)
    r = yy + 2 * (1 - kr) * cs * v
    g = yy - 2 * kb * (1 - kb) / kg * cs * u - 2 * kr * (1 - kr) / kg * cs * v
    b = yy + 2 * (1 - kb) * cs * u
    return np.clip(np.rint(np.stack([r, g, b], axis=-1)), 0, 255).astype(np.uint8)


# ---- main -------------------------------------------------------------------------------------

def up_to_date(out, script_sha):
    path = os.path.join(out, "manifest.json")
    try:
        with open(path) as f:
            man = json.load(f)
    except (OSError, ValueError):
        return False
    if man.get("manifest_version") != MANIFEST_VERSION or man.get("script_sha256") != script_sha:
        return False
    if man.get("versions") != versions():
        return False
    return all(os.path.exists(os.path.join(out, n)) for n in man.get("files", []))


def touch(path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a"):
        os.utime(path, None)


def make_only_resnet50(out, script_sha, force):
    """Only resnet50_seeded.pth, for scripts/gpu-check. With torchvision, Pillow and NumPy:
    the reference fixture itself (the same frames and recipe as main() below, so the same
    weights). Without them, or with TA_FIXTURES_TORCH_ONLY=1: make_resnet50_seeded.py's
    torch-only ResNet50 (torchvision's key names and shapes, its own seeded weights).
    resnet50_seeded.json beside it says which; a DIR made the same way is reused."""
    here = os.path.dirname(os.path.abspath(__file__))
    dst = os.path.join(out, "resnet50_seeded.pth")
    info_path = os.path.join(out, "resnet50_seeded.json")
    torch_only = os.environ.get("TA_FIXTURES_TORCH_ONLY") == "1"
    why = "TA_FIXTURES_TORCH_ONLY=1"
    if not torch_only:
        for mod in ("torchvision", "PIL", "numpy"):
            if importlib.util.find_spec(mod) is None:
                torch_only, why = True, "no %s in %s" % (mod, sys.executable)
                break
    info = {"script_sha256": script_sha, "torch": importlib.metadata.version("torch"),
            "recipe": "torch-only" if torch_only else "fixture"}
    if torch_only:
        info["torch_only_sha256"] = sha256_file(os.path.join(here, "make_resnet50_seeded.py"))
    try:
        with open(info_path) as f:
            if not force and json.load(f) == info and os.path.exists(dst):
                log("resnet50_seeded.pth up to date in %s (%s)" % (out, info["recipe"]))
                return 0
    except (OSError, ValueError):
        pass
    os.makedirs(out, exist_ok=True)
    t = time.time()
    if torch_only:
        log("the torch-only seeded ResNet50 (%s)" % why)
        sys.path.insert(0, here)
        import make_resnet50_seeded
        import torch as torch_mod
        torch_mod.set_grad_enabled(False)
        m, _ = make_resnet50_seeded.make(RESNET50_SEED)
        torch_mod.save(m.state_dict(), dst)
    else:
        heavy_imports()
        torch.set_grad_enabled(False)
        X = torch.stack([reference_tensor(make_frame(w, h, FRAME_SEED0 + i), cfg())
                         for i, (_, w, h) in enumerate(FRAMES)])
        r50 = make_backbone("resnet50", RESNET50_SEED, X)
        r50.fc = design_head(penultimate(r50, X), 1000, RESNET50_HEAD_SEED)
        torch.save(r50.state_dict(), dst)
    with open(info_path, "w") as f:
        json.dump(info, f, indent=1)
    log("resnet50_seeded.pth (%s) in %s, %.1f s" % (info["recipe"], out, time.time() - t))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="fixtures folder")
    ap.add_argument("--stamp", help="file touched when the fixtures are ready")
    ap.add_argument("--force", action="store_true", help="remake even when up to date")
    ap.add_argument("--only", choices=["resnet50_seeded"],
                    help="make only this model (no manifest; without torchvision, a torch-only one)")
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    script_sha = sha256_file(os.path.abspath(__file__))
    if args.only:
        rc = make_only_resnet50(out, script_sha, args.force)
        if args.stamp:
            touch(args.stamp)
        return rc

    if not args.force and up_to_date(out, script_sha):
        log("up to date in %s (script %s...)" % (out, script_sha[:12]))
        if args.stamp:
            touch(args.stamp)
        return 0

    t_start = time.time()
    heavy_imports()
    timings = {"imports": time.time() - t_start}
    os.makedirs(out, exist_ok=True)
    if os.path.exists(os.path.join(out, "manifest.json")):
        os.remove(os.path.join(out, "manifest.json"))  # no manifest until everything is new
    torch.set_grad_enabled(False)
    files = []

    def path(name):
        files.append(name)
        return os.path.join(out, name)

    man = {"manifest_version": MANIFEST_VERSION, "script_sha256": script_sha, "versions": versions(),
           "python": platform.python_version(), "torch_threads": torch.get_num_threads(),
           "seeds": {"frames": "%d + index" % FRAME_SEED0, "resnet50": RESNET50_SEED,
                     "resnet50_head": RESNET50_HEAD_SEED, "resnet50_10class_head": RESNET50_10_HEAD_SEED,
                     "resnet18": RESNET18_SEED, "resnet18_head": RESNET18_HEAD_SEED,
                     "resnet18_10class_head": RESNET18_10_HEAD_SEED,
                     "resnet18_crops_head": RESNET18_CROPS_HEAD_SEED, "tiny": TINY_SEED,
                     "random_bytes": RANDOM_BYTES_SEED}}

    # Frames.
    t = time.time()
    rgb = {}
    man["frames"] = []
    for i, (name, w, h) in enumerate(FRAMES):
        rgb[name] = make_frame(w, h, FRAME_SEED0 + i)
        fn = "frame_%s.rgb" % name
        rgb[name].tofile(path(fn))
        man["frames"].append({"name": name, "file": fn, "format": "RGB", "width": w, "height": h,
                              "stride": 3 * w, "seed": FRAME_SEED0 + i})
    timings["frames"] = time.time() - t

    # Preprocessing references.
    t = time.time()
    man["preprocess"] = []
    default = cfg()
    default_inputs = {}

    def add_ref(name, frame, c, recipe, rgb_array, extra=None):
        x = reference_tensor(rgb_array, c)
        fn = "ref_%s.f32" % name
        write_f32(path(fn), x)
        e = {"name": name, "frame": frame, "config": c, "torchvision": recipe, "file": fn,
             "shape": list(x.shape)}
        e.update(extra or {})
        man["preprocess"].append(e)
        return x

    for name, _, _ in FRAMES:
        default_inputs[name] = add_ref("default_" + name, name, default,
                                       "Resize(256), CenterCrop(224), ToTensor(), Normalize(imagenet) on PIL",
                                       rgb[name])
    for vname, c, frames, recipe in VARIANTS:
        for fr in frames:
            add_ref("%s_%s" % (vname, fr), fr, c, recipe, rgb[fr])
    timings["preprocess references"] = time.time() - t

    # YUV frames through videoconvert, their RGB round trip and its torchvision tensor.
    t = time.time()
    man["yuv"] = []
    yuv_inputs = {}
    yuv_exact = {}
    if shutil.which("gst-launch-1.0"):
        with tempfile.TemporaryDirectory() as tmp:
            for fmt, cname, fr in YUV_CASES:
                colorimetry, matrix, full = COLORIMETRY[cname]
                name = "%s_%s_%s" % (fmt.lower(), cname, fr)
                yfn = "yuv_%s.%s" % (name, fmt.lower())
                offsets, strides, size, back = rgb_to_yuv(rgb[fr], fmt, colorimetry, path(yfn), tmp)
                h, w = back.shape[:2]
                bfn = "yuvrgb_%s.rgb" % name
                back.tofile(path(bfn))
                with open(os.path.join(out, yfn), "rb") as f:
                    exact = yuv_to_rgb_exact(f.read(), fmt, w, h, offsets, strides, matrix, full)
                efn = "yuvexact_%s.rgb" % name
                exact.tofile(path(efn))
                yuv_exact[name] = exact
                yuv_inputs["yuv_" + name] = add_ref(
                    "yuv_" + name, fr, default,
                    "videoconvert %s -> RGB (colorimetry=%s), then Resize(256), CenterCrop(224), "
                    "ToTensor(), Normalize(imagenet) on PIL" % (fmt, colorimetry), back)
                yuv_inputs["yuvexact_" + name] = add_ref(
                    "yuvexact_" + name, fr, default,
                    "exact %s -> RGB (%s, %s range, centred linear chroma upsampling, rounded), then "
                    "Resize(256), CenterCrop(224), ToTensor(), Normalize(imagenet) on PIL"
                    % (fmt, matrix, "full" if full else "limited"), exact)
                man["yuv"].append({"name": name, "frame": fr, "file": yfn, "format": fmt, "width": w,
                                   "height": h, "colorimetry": colorimetry, "chroma_site": "jpeg",
                                   "matrix": matrix, "full_range": full, "offsets": offsets,
                                   "strides": strides, "size": size,
                                   "rgb_file": bfn, "ref": "yuv_" + name,
                                   "rgb_exact_file": efn, "ref_exact": "yuvexact_" + name,
                                   "videoconvert_minus_exact_levels": float(
                                       (back.astype(np.float64) - exact).mean())})
    else:
        man["yuv_skipped"] = "gst-launch-1.0 not found"
        log("gst-launch-1.0 not found: no YUV fixtures")
    timings["yuv (gst-launch)"] = time.time() - t

    # Regions: torchvision on each crop (of the RGB frame, or of the YUV frame's exact RGB).
    t = time.time()
    man["crops"] = []
    crop_inputs = {}
    crop_float = {}
    for cname, src, x, y, w, h in CROPS:
        whole = rgb.get(src)
        if whole is None:
            whole = yuv_exact.get(src)
        if whole is None:
            continue  # no YUV fixtures (gst-launch-1.0 missing)
        img = Image.fromarray(whole).crop((x, y, x + w, y + h))
        crop_inputs["crop_" + cname] = add_ref("crop_" + cname, src, default,
                                               "PIL img.crop((x, y, x + w, y + h)), then Resize(256), "
                                               "CenterCrop(224), ToTensor(), Normalize(imagenet)",
                                               np.asarray(img))
        # torchvision's float path on the same crop (no uint8 rounding between the resize
        # passes): how far a float implementation can be expected to land from PIL's.
        crop_float["crop_" + cname] = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)(TF.center_crop(TF.resize(
            torch.from_numpy(np.ascontiguousarray(whole[y:y + h, x:x + w])).permute(2, 0, 1).float(), 256,
            antialias=True), 224) / 255)
        man["crops"].append({"name": cname, "source": src, "rgb_source": src in rgb,
                             "x": x, "y": y, "w": w, "h": h, "ref": "crop_" + cname, "input": "crop_" + cname})
    timings["crop references"] = time.time() - t

    names = [n for n, _, _ in FRAMES]
    X = torch.stack([default_inputs[n] for n in names])
    yuv_names = list(yuv_inputs)
    XY = torch.stack([yuv_inputs[n] for n in yuv_names]) if yuv_names else None

    # Float-path proxy of our core (torchvision's antialiased resize on float, no uint8
    # rounding): only to report how far the core's results can be expected to move.
    Xf = torch.stack([T.Normalize(IMAGENET_MEAN, IMAGENET_STD)(
        TF.center_crop(TF.resize(torch.from_numpy(rgb[n]).permute(2, 0, 1).float(), 256, antialias=True), 224) / 255)
        for n in names])

    man["models"] = {}
    man["results"] = []
    checks = []

    def record(model_name, model, inputs, input_names, tag):
        s = softmax_scores(model, inputs)
        fn = "scores_%s_%s.f32" % (model_name, tag)
        write_f32(path(fn), s)
        ids, vals = top5(s)
        for k, n in enumerate(input_names):
            man["results"].append({"model": model_name, "input": n, "top5_ids": ids[k], "top5_scores": vals[k],
                                   "scores_file": fn, "scores_row": k, "num_classes": s.shape[1]})
        return s

    # ResNet50: backbone, 1000-class head, TorchScript of it, 10-class head.
    t = time.time()
    r50 = make_backbone("resnet50", RESNET50_SEED, X)
    feats = penultimate(r50, X)
    r50.fc = design_head(feats, 1000, RESNET50_HEAD_SEED)
    torch.save(r50.state_dict(), path("resnet50_seeded.pth"))
    man["models"]["resnet50_seeded"] = {"file": "resnet50_seeded.pth", "kind": "state_dict",
                                        "architecture": "resnet50", "num_classes": 1000}
    s50 = record("resnet50_seeded", r50, X, ["default_" + n for n in names], "frames")
    if XY is not None:
        record("resnet50_seeded", r50, XY, yuv_names, "yuv")
    s50f = softmax_scores(r50, Xf)
    checks.append(("resnet50_seeded", s50, s50f))

    ts = script(r50)
    ts.save(path("resnet50_seeded.ts"))
    ts = torch.jit.load(os.path.join(out, "resnet50_seeded.ts"))
    man["models"]["resnet50_seeded_ts"] = {"file": "resnet50_seeded.ts", "kind": "torchscript",
                                           "num_classes": 1000}
    sts = record("resnet50_seeded_ts", ts, X, ["default_" + n for n in names], "frames")
    ts_eager_diff = (sts - s50).abs().max().item()

    r50_10 = make_backbone("resnet50", RESNET50_SEED, X)
    r50_10.fc = design_head(feats, 10, RESNET50_10_HEAD_SEED)
    torch.save(r50_10.state_dict(), path("resnet50_10class.pth"))
    man["models"]["resnet50_10class"] = {"file": "resnet50_10class.pth", "kind": "state_dict",
                                         "architecture": "resnet50", "num_classes": 10}
    s10 = record("resnet50_10class", r50_10, X, ["default_" + n for n in names], "frames")
    if XY is not None:
        record("resnet50_10class", r50_10, XY, yuv_names, "yuv")
    checks.append(("resnet50_10class", s10, softmax_scores(r50_10, Xf)))
    del r50_10
    timings["resnet50 models"] = time.time() - t

    # ResNet18 (element tests), the same recipe.
    t = time.time()
    r18 = make_backbone("resnet18", RESNET18_SEED, X)
    f18 = penultimate(r18, X)
    r18.fc = design_head(f18, 1000, RESNET18_HEAD_SEED)
    sd18 = r18.state_dict()
    torch.save(sd18, path("resnet18_seeded.pth"))
    man["models"]["resnet18_seeded"] = {"file": "resnet18_seeded.pth", "kind": "state_dict",
                                        "architecture": "resnet18", "num_classes": 1000}
    s18 = record("resnet18_seeded", r18, X, ["default_" + n for n in names], "frames")
    checks.append(("resnet18_seeded", s18, softmax_scores(r18, Xf)))
    r18_10 = make_backbone("resnet18", RESNET18_SEED, X)
    r18_10.fc = design_head(f18, 10, RESNET18_10_HEAD_SEED)
    torch.save(r18_10.state_dict(), path("resnet18_10class.pth"))
    man["models"]["resnet18_10class"] = {"file": "resnet18_10class.pth", "kind": "state_dict",
                                         "architecture": "resnet18", "num_classes": 10}
    record("resnet18_10class", r18_10, X, ["default_" + n for n in names], "frames")
    # ResNet18 with a head fit on the crops (torchclassify roi-list tests): the same
    # backbone, a peaked, well separated top-5 on each crop, distinct top-1 across crops.
    if crop_inputs:
        crop_names = list(crop_inputs)
        XC = torch.stack([crop_inputs[n] for n in crop_names])
        r18c = make_backbone("resnet18", RESNET18_SEED, X)
        r18c.fc = design_head(penultimate(r18c, XC), 1000, RESNET18_CROPS_HEAD_SEED)
        torch.save(r18c.state_dict(), path("resnet18_crops.pth"))
        man["models"]["resnet18_crops"] = {"file": "resnet18_crops.pth", "kind": "state_dict",
                                           "architecture": "resnet18", "num_classes": 1000}
        sc = record("resnet18_crops", r18c, XC, crop_names, "crops")
        scf = softmax_scores(r18c, torch.stack([crop_float[n] for n in crop_names]))
        checks.append(("resnet18_crops", sc, scf))
        man["models"]["resnet18_crops"]["float_path_max_score_diff"] = (sc - scf).abs().max().item()
        for k, n in enumerate(crop_names):
            v, i = sc[k].topk(5)
            log("  %-14s top-1 %3d %.3f  min top-5 gap %.4f" % (n, i[0], v[0], (v[:-1] - v[1:]).min()))
        del r18c

    tiny = make_tiny()
    script(tiny).save(path("tiny.ts"))
    man["models"]["tiny"] = {"file": "tiny.ts", "kind": "torchscript", "num_classes": 10,
                             "layers": "conv 3->8 3x3 stride 4, relu, adaptive avg pool, linear 8->10"}
    timings["resnet18 + tiny models"] = time.time() - t

    # Files the negative tests load.
    t = time.time()
    torch.save(sd18, path("legacy_resnet18.pth"), _use_new_zipfile_serialization=False)
    with open(os.path.join(out, "resnet18_seeded.pth"), "rb") as f:
        whole = f.read()
    with open(path("truncated.pth"), "wb") as f:
        f.write(whole[: int(len(whole) * 0.4)])
    with open(path("random_bytes.pth"), "wb") as f:
        f.write(np.random.default_rng(RANDOM_BYTES_SEED).integers(0, 256, 65536, dtype=np.uint8).tobytes())
    torch.save({"model": sd18, "epoch": 3}, path("checkpoint.pth"))
    torch.save([torch.zeros(3)], path("list.pth"))
    nan_sd = {k: v.clone() for k, v in sd18.items()}
    nan_sd["conv1.weight"][0, 0, 0, 0] = float("nan")
    torch.save(nan_sd, path("nan_resnet18.pth"))
    fruit = ["apple", "banana", "cherry", "date", "elderberry", "fig", "grape", "honeydew", "kiwi", "lemon"]
    with open(path("labels10.txt"), "w") as f:
        f.write("\n".join(fruit) + "\n")
    with open(path("labels9.txt"), "w") as f:
        f.write("\n".join(fruit[:9]) + "\n")
    man["bad_models"] = {
        "legacy_resnet18.pth": "resnet18_seeded's state dict, torch.save(..., _use_new_zipfile_serialization=False)",
        "truncated.pth": "the first 40% of resnet18_seeded.pth",
        "random_bytes.pth": "65536 random bytes (numpy default_rng(%d))" % RANDOM_BYTES_SEED,
        "checkpoint.pth": "torch.save({'model': state_dict, 'epoch': 3})",
        "list.pth": "torch.save([torch.zeros(3)])",
        "nan_resnet18.pth": "resnet18_seeded's state dict with conv1.weight[0,0,0,0] = NaN",
    }
    man["labels"] = {"labels10.txt": fruit, "labels9.txt": fruit[:9]}
    timings["negative-test files"] = time.time() - t

    # Report: peakedness, separation, and the expected effect of the uint8 rounding.
    lines = []
    for name, s, sf in checks:
        v, _ = s.topk(5, dim=1)
        lines.append("  %-17s top-1 %.3f..%.3f  min top-5 gap %.4f  |float path - PIL path| score max %.1e"
                     % (name, v[:, 0].min(), v[:, 0].max(), gaps(s).min(), (s - sf).abs().max()))
    lines.append("  TorchScript vs eager: max score diff %.1e" % ts_eager_diff)
    man["summary"] = lines
    man["files"] = list(files)
    total = time.time() - t_start
    man["seconds"] = round(total, 1)
    tmpman = os.path.join(out, "manifest.json.tmp")
    with open(tmpman, "w") as f:
        json.dump(man, f, indent=1)
    os.replace(tmpman, os.path.join(out, "manifest.json"))
    if args.stamp:
        touch(args.stamp)

    mb = sum(os.path.getsize(os.path.join(out, n)) for n in files) / 1e6
    log("made %d files (%.0f MB) in %s in %.1f s" % (len(files) + 1, mb, out, total))
    log("  %d frames, %d preprocessing references, %d YUV frames, %d models, %d results"
        % (len(man["frames"]), len(man["preprocess"]), len(man["yuv"]), len(man["models"]), len(man["results"])))
    for k, v in timings.items():
        log("  %-24s %5.1f s" % (k, v))
    for line in lines:
        log(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
