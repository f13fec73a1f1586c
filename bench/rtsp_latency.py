#!/usr/bin/env python3
"""Latency of the annotated RTSP re-stream, measured on this machine (docs/guides/rtsp.md
quotes it). Two parts:

  encoders   x264enc alone: wall time from a raw frame entering it to its encoded frame
             leaving, for the settings docs/guides/rtsp.md compares.
  restream   glass to glass through the loopback: a camera (gst-rtsp-server in this
             process, videotestsrc) shows a black picture that turns white for one frame
             every 2 s; the time that white frame leaves videotestsrc is the "glass" in; it
             goes through pipelines/rtsp-restream.sh (rtspsrc, decode, torchclassify,
             torchoverlay, x264enc, rtph264pay) and a client (GStreamer rtspsrc ! decodebin,
             or ffmpeg) decodes it; the time the client has the white frame decoded is the
             glass out. Both clocks are this machine's time.time().

Run with the system Python (GObject introspection for Gst and GstRtspServer):

  /usr/bin/python3 bench/rtsp_latency.py encoders
  GST_PLUGIN_PATH=build/plugin GST_REGISTRY=build/registry.bin \
    /usr/bin/python3 bench/rtsp_latency.py restream --model build/tests/fixtures/tiny.ts

Nothing here is asserted; the numbers depend on the machine and its load.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

W, H, FPS = 320, 240, 30
FLASH_EVERY = 2 * FPS  # frames between two white frames


def summary(name, ms):
    if not ms:
        return f"{name}: no measurement"
    ms = sorted(ms)
    return (f"{name}: median {statistics.median(ms):.0f} ms, min {ms[0]:.0f}, max {ms[-1]:.0f} "
            f"({len(ms)} samples)")


def encoders(args):
    settings = [
        "x264enc tune=zerolatency speed-preset=veryfast",
        "x264enc tune=zerolatency sliced-threads=false speed-preset=veryfast",
        "x264enc tune=zerolatency sliced-threads=false threads=1 speed-preset=veryfast",
        "x264enc tune=zerolatency sliced-threads=false threads=2 speed-preset=veryfast",
        "x264enc speed-preset=veryfast",
    ]
    print(f"x264enc, raw frame in to encoded frame out; {os.cpu_count()} CPUs")
    for size in args.sizes:
        w, h = size.split("x")
        for enc in settings:
            p = Gst.parse_launch(
                f"videotestsrc is-live=true pattern=ball num-buffers={args.frames} ! "
                f"video/x-raw,width={w},height={h},framerate=30/1 ! {enc} name=e ! "
                "fakesink sync=false")
            e = p.get_by_name("e")
            t_in, lat = [], []
            # No B-frames in any of these but the last (whose lookahead is the point): the
            # n-th frame out is the n-th frame in.
            e.get_static_pad("sink").add_probe(
                Gst.PadProbeType.BUFFER, lambda pad, info: (t_in.append(time.monotonic()),
                                                            Gst.PadProbeReturn.OK)[1])
            e.get_static_pad("src").add_probe(
                Gst.PadProbeType.BUFFER,
                lambda pad, info: (lat.append((time.monotonic() - t_in[len(lat)]) * 1000),
                                   Gst.PadProbeReturn.OK)[1])
            p.set_state(Gst.State.PLAYING)
            p.get_bus().timed_pop_filtered(120 * Gst.SECOND,
                                           Gst.MessageType.EOS | Gst.MessageType.ERROR)
            p.set_state(Gst.State.NULL)
            print("  " + summary(f"{size} {enc}", lat[30:]))  # the first second warms up


class Camera:
    """gst-rtsp-server with a black videotestsrc that flashes white; records when each
    white frame leaves the source."""

    def __init__(self):
        self.flashes = []
        self.server = GstRtspServer.RTSPServer()
        self.server.set_address("127.0.0.1")
        self.server.set_service("0")
        f = GstRtspServer.RTSPMediaFactory()
        f.set_launch(
            f"( videotestsrc name=src is-live=true pattern=black ! "
            f"video/x-raw,format=I420,width={W},height={H},framerate={FPS}/1 ! "
            "x264enc tune=zerolatency sliced-threads=false threads=1 speed-preset=ultrafast "
            f"key-int-max={FPS} ! rtph264pay name=pay0 pt=96 config-interval=-1 )")
        f.set_shared(True)
        f.connect("media-configure", self.on_media)
        self.server.get_mount_points().add_factory("/cam", f)
        self.server.attach(None)
        self.url = f"rtsp://127.0.0.1:{self.server.get_bound_port()}/cam"

    def on_media(self, factory, media):
        src = media.get_element().get_by_name("src")
        n = [0]

        def probe(pad, info):
            n[0] += 1
            ok, m = info.get_buffer().map(Gst.MapFlags.READ)
            white = ok and m.data[W * (H - 1) + W - 1] > 128  # a bottom-right Y sample
            if ok:
                info.get_buffer().unmap(m)
            if white:
                self.flashes.append(time.time())
                src.set_property("pattern", "black")
            elif n[0] % FLASH_EVERY == 0:
                src.set_property("pattern", "white")  # the next frame made is white
            return Gst.PadProbeReturn.OK

        src.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe)


def white_bottom_right(gray, w, h):
    """Mean of the bottom-right quarter (far from the overlay's box) over 128."""
    total, count = 0, 0
    for y in range(h * 3 // 4, h, 4):
        row = gray[y * w + w * 3 // 4: y * w + w: 4]
        total += sum(row)
        count += len(row)
    return total / count > 128


def gst_client(url, latency, protocols, seconds, seen):
    p = Gst.parse_launch(
        f"rtspsrc location={url} latency={latency} protocols={protocols} ! decodebin ! "
        "videoconvert ! video/x-raw,format=GRAY8 ! fakesink name=sink sync=false")
    last = [False]

    def probe(pad, info):
        ok, m = info.get_buffer().map(Gst.MapFlags.READ)
        if ok:
            s = pad.get_current_caps().get_structure(0)
            w, h = s.get_value("width"), s.get_value("height")
            stride = (w + 3) & ~3
            rows = bytes(m.data)
            info.get_buffer().unmap(m)
            gray = b"".join(rows[y * stride: y * stride + w] for y in range(h))
            white = white_bottom_right(gray, w, h)
            if white and not last[0]:
                seen.append(time.time())
            last[0] = white
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    p.set_state(Gst.State.PLAYING)
    p.get_bus().timed_pop_filtered(int(seconds * Gst.SECOND), Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)


def ffmpeg_client(url, protocols, seconds, seen):
    ff = subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-fflags", "nobuffer",
         "-flags", "low_delay", "-rtsp_transport", protocols, "-i", url, "-f", "rawvideo",
         "-pix_fmt", "gray", "-"], stdout=subprocess.PIPE)
    end = time.monotonic() + seconds
    last = False
    while time.monotonic() < end:
        gray = ff.stdout.read(W * H)
        if len(gray) < W * H:
            break
        white = white_bottom_right(gray, W, H)
        if white and not last:
            seen.append(time.time())
        last = white
    ff.kill()
    ff.wait()


def pair(sent, seen):
    """Latency of each flash seen: from the newest flash sent before it."""
    out = []
    for t in seen:
        before = [s for s in sent if s <= t]
        if before and t - before[-1] < FLASH_EVERY / FPS:
            out.append((t - before[-1]) * 1000)
    return out


def restream(args):
    loop = GLib.MainLoop()
    threading.Thread(target=loop.run, daemon=True).start()
    cam = Camera()
    here = os.path.dirname(os.path.abspath(__file__))
    script = os.path.join(here, "..", "pipelines", "rtsp-restream.sh")
    env = dict(os.environ, URL=cam.url, PORT="0", ADDRESS="127.0.0.1", MODEL=args.model,
               TORCH_DEVICE="cpu", LATENCY=str(args.source_latency), PYTHON=sys.executable)
    rs = subprocess.Popen([script], env=env, stdout=subprocess.PIPE, text=True,
                          start_new_session=True)
    line = rs.stdout.readline()
    if not line.startswith("READY "):
        sys.exit(f"rtsp-restream.sh did not come up: {line!r}")
    url = line.split()[1]
    print(f"camera -> rtsp-restream.sh (LATENCY={args.source_latency}) -> client, "
          f"{W}x{H} at {FPS} fps, {os.cpu_count()} CPUs")
    try:
        clients = [("gst", "tcp"), ("gst", "udp")]
        if shutil.which("ffmpeg"):
            clients += [("ffmpeg", "tcp"), ("ffmpeg", "udp")]
        for kind, proto in clients:
            seen = []
            start = len(cam.flashes)
            if kind == "gst":
                gst_client(url, args.client_latency, proto, args.seconds, seen)
                name = f"rtspsrc latency={args.client_latency} protocols={proto} ! decodebin"
            else:
                ffmpeg_client(url, proto, args.seconds, seen)
                name = f"ffmpeg -rtsp_transport {proto} -fflags nobuffer -flags low_delay"
            # The first flash may have been sent before the client joined: paired only
            # with flashes seen after it.
            print("  " + summary(name, pair(cam.flashes[start:], seen)[1:]))
            time.sleep(1)  # the shared media stops after its last client
    finally:
        os.killpg(rs.pid, 15)
        rs.wait()
        loop.quit()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("encoders")
    e.add_argument("--sizes", nargs="+", default=["640x480", "1280x720", "1920x1080"])
    e.add_argument("--frames", type=int, default=150)
    r = sub.add_parser("restream")
    r.add_argument("--model", required=True, help="a TorchScript model (tiny.ts of the fixtures)")
    r.add_argument("--source-latency", type=int, default=200, help="rtsp-restream.sh LATENCY, ms")
    r.add_argument("--client-latency", type=int, default=50, help="the GStreamer client's, ms")
    r.add_argument("--seconds", type=float, default=25)
    args = ap.parse_args()
    Gst.init(None)
    encoders(args) if args.cmd == "encoders" else restream(args)


if __name__ == "__main__":
    main()
