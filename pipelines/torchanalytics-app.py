#!/usr/bin/python3
"""torchanalytics-app.py: classify a video file or an RTSP stream from Python.

The Python twin of torchanalytics-app.cpp. Python does not read the classification meta
(a C struct), so torchclassify runs with post-messages=true and the results are read from
the "torchclassify" element messages on the bus, one per classified frame:

    torchclassify, timestamp=(guint64)..., stream-time=..., running-time=..., duration=...,
      model=(string)..., class-ids=(int)< ... >, labels=(string)< ... >, scores=(double)< ... >
      [, source-pts=(guint64)...: the result was computed on that earlier frame]

It prints one line per frame on stdout:

    frame 12 pts=0:00:00.400000000 top1=tabby 0.8123
    frame 13 pts=0:00:00.433333333 source-pts=0:00:00.400000000 top1=tabby 0.8123

(source-pts appears on a live stream, where torchclassify's mode=auto never makes frames
wait for the model, and with --interval.)

A live (rtsp://) stream that fails or ends is rebuilt after 1 s, 2 s, 4 s ... up to
--reconnect-max-backoff; a file ends with status 0 at EOS; an error of torchclassify (a bad
model) ends it with status 1; SIGINT / SIGTERM stop it cleanly (status 0).

Needs the system Python with GStreamer's introspection (Debian: python3-gst-1.0), and the
plugin: installed, or GST_PLUGIN_PATH=<build>/plugin from a checkout.

    /usr/bin/python3 pipelines/torchanalytics-app.py --model-location=model.ts video.mp4
    /usr/bin/python3 pipelines/torchanalytics-app.py rtsp://192.168.1.64/stream1
"""
import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402


def quote(value):
    """A value for a gst-launch description: double quotes keep ?, &, = and spaces."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_time(ns):
    """GST_TIME_FORMAT: H:MM:SS.nnnnnnnnn."""
    if ns is None or ns == Gst.CLOCK_TIME_NONE:
        return "none"
    s, n = divmod(ns, Gst.SECOND)
    return "%d:%02d:%02d.%09d" % (s // 3600, (s // 60) % 60, s % 60, n)


class App:
    def __init__(self, args):
        self.args = args
        target = args.uri
        if not Gst.uri_is_valid(target):
            target = Gst.filename_to_uri(os.path.abspath(target))
        self.uri = target
        self.live = (Gst.uri_get_protocol(target) or "").startswith("rtsp")
        self.loop = GLib.MainLoop()
        self.pipeline = None
        self.bus = None
        self.frames = 0
        self.frames_at_build = 0
        self.backoff = 1
        self.restart_id = 0
        self.exit_code = 0

    def description(self):
        a = self.args
        props = ["post-messages=true"]
        for name, value in (("model-location", a.model_location),
                            ("weights-location", a.weights_location),
                            ("labels-location", a.labels_location),
                            ("device", a.device), ("top-k", a.top_k),
                            ("mode", a.mode), ("interval", a.interval)):
            if value:
                props.append("%s=%s" % (name, quote(value)))
        classify = "torchclassify name=classify " + " ".join(props)
        if self.live:
            src = "rtspsrc location=%s latency=%d" % (quote(self.uri), a.latency)
            if a.tcp:
                src += " protocols=tcp"
            src += " ! decodebin"
        else:
            src = "uridecodebin uri=%s" % quote(self.uri)
        return "%s ! videoconvert ! %s ! fakesink sync=false" % (src, classify)

    def build(self):
        self.restart_id = 0
        if self.live:
            print("connecting to %s" % self.uri, file=sys.stderr, flush=True)
        self.pipeline = Gst.parse_launch(self.description())
        self.bus = bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self.on_message)
        self.frames_at_build = self.frames
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            # The error message is on the bus: on_message prints it and decides.
            msg = bus.pop_filtered(Gst.MessageType.ERROR)
            if msg:
                self.on_message(bus, msg)
            else:
                self.fail("the pipeline did not start")
        return GLib.SOURCE_REMOVE

    def teardown(self):
        if self.pipeline:
            self.bus.remove_signal_watch()
            self.pipeline.set_state(Gst.State.NULL)
            self.pipeline = None
            self.bus = None

    def restart(self, why):
        """Live streams: rebuild the whole pipeline later, with exponential backoff."""
        if self.restart_id:
            return
        if self.frames > self.frames_at_build:
            self.backoff = 1  # it was working: start over at 1 s
        self.teardown()
        print("source lost (%s): reconnecting in %d s" % (why, self.backoff),
              file=sys.stderr, flush=True)
        self.restart_id = GLib.timeout_add_seconds(self.backoff, self.build)
        self.backoff = min(self.backoff * 2, max(self.args.reconnect_max_backoff, 1))

    def fail(self, text):
        print("error: %s" % text, file=sys.stderr, flush=True)
        self.exit_code = 1
        self.loop.quit()

    def on_message(self, bus, msg):
        if bus is not self.bus:
            return  # from a pipeline already torn down
        t = msg.type
        if t == Gst.MessageType.ELEMENT:
            s = msg.get_structure()
            if s is not None and s.get_name() == "torchclassify":
                self.on_result(s)
        elif t == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            src = msg.src.get_name() if msg.src else "?"
            if self.live and src != "classify":
                self.restart("%s: %s" % (src, err.message))
            else:
                self.fail("from %s: %s\n%s" % (src, err.message, dbg or ""))
        elif t == Gst.MessageType.WARNING:
            err, _ = msg.parse_warning()
            print("warning from %s: %s" % (msg.src.get_name(), err.message),
                  file=sys.stderr, flush=True)
        elif t == Gst.MessageType.EOS:
            if self.live:
                self.restart("end of stream")
            else:
                print("end of stream after %d frames" % self.frames, file=sys.stderr, flush=True)
                self.loop.quit()

    def on_result(self, s):
        labels = s.get_value("labels")
        scores = s.get_value("scores")
        _, pts = s.get_uint64("timestamp")
        source = ""
        if s.has_field("source-pts"):
            source = " source-pts=" + format_time(s.get_uint64("source-pts")[1])
        if len(labels):
            top = "%s %.4f" % (labels[0], scores[0])
        else:
            top = "none"  # every class under `threshold`
        print("frame %d pts=%s%s top1=%s" % (self.frames, format_time(pts), source, top),
              flush=True)
        self.frames += 1
        if self.args.max_frames and self.frames >= self.args.max_frames:
            self.loop.quit()

    def stop(self):
        print("stopping", file=sys.stderr, flush=True)
        self.loop.quit()
        return GLib.SOURCE_CONTINUE

    def run(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, self.stop)
        self.build()
        if self.exit_code == 0:
            self.loop.run()
        if self.restart_id:
            GLib.source_remove(self.restart_id)
        self.teardown()
        return self.exit_code


def main():
    p = argparse.ArgumentParser(description="Classify a video file or an RTSP stream.")
    p.add_argument("uri", help="file path, file:// URI or rtsp:// URL")
    p.add_argument("--model-location", help="TorchScript classifier")
    p.add_argument("--weights-location", help="torchvision state dict")
    p.add_argument("--labels-location", help="label file, one per line")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--top-k", type=int, help="classes per frame")
    p.add_argument("--mode", choices=("auto", "sync", "live"),
                   help="torchclassify mode (default auto: live on RTSP)")
    p.add_argument("--interval", type=int, help="classify one frame in N")
    p.add_argument("--max-frames", type=int, default=0, help="stop after N frames (0: no limit)")
    p.add_argument("--reconnect-max-backoff", type=int, default=30,
                   help="longest wait between reconnections, seconds (default 30)")
    p.add_argument("--latency", type=int, default=200, help="rtspsrc latency, ms (default 200)")
    p.add_argument("--tcp", action="store_true", help="RTSP over TCP")
    args = p.parse_args()
    Gst.init(None)
    if Gst.ElementFactory.find("torchclassify") is None:
        sys.exit("torchclassify not found: install torchanalytics, or set "
                 "GST_PLUGIN_PATH=<build>/plugin")
    sys.exit(App(args).run())


if __name__ == "__main__":
    main()
