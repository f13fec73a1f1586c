#!/usr/bin/python3
"""torchanalytics-app.py: classify a video file or an RTSP stream from Python.

The Python twin of torchanalytics-app.cpp. A buffer probe on the sink's pad reads the
classification meta itself through GObject-Introspection (the GstTorchAnalytics-1.0 typelib
of the plugin's meta library), one meta per classified region:

    for m in GstTorchAnalytics.buffer_get_torch_classification_metas(buffer):
        m.model, m.x, m.y, m.width, m.height, m.source_pts, m.roi_id, m.get_roi_type_name(),
        m.model_sha256, m.latency, [(l.class_id, l.label, l.score) for l in m.get_labels()]

(the metas belong to the buffer: read them inside the probe, keep only the values).

It prints one line per frame on stdout:

    frame 12 pts=0:00:00.400000000 top1=tabby 0.8123
    frame 13 pts=0:00:00.433333333 source-pts=0:00:00.400000000 top1=tabby 0.8123

(source-pts appears on a live stream, where torchclassify's mode=auto never makes frames
wait for the model, and with --interval.)

A live (rtsp://) stream that fails or ends is rebuilt after 1 s, 2 s, 4 s ... up to
--reconnect-max-backoff; a file ends with status 0 at EOS; an error of torchclassify (a bad
model) ends it with status 1; SIGINT / SIGTERM stop it cleanly (status 0).

Needs the system Python with GStreamer's introspection (Debian: python3-gst-1.0), and the
plugin with its typelib: installed, or from a checkout GST_PLUGIN_PATH=<build>/plugin
GI_TYPELIB_PATH=<build>/plugin/meta LD_LIBRARY_PATH=<build>/plugin/meta.

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

try:
    gi.require_version("GstTorchAnalytics", "1.0")
    from gi.repository import GstTorchAnalytics  # noqa: E402
except (ImportError, ValueError) as e:
    sys.exit("the GstTorchAnalytics-1.0 typelib is missing (%s): install torchanalytics built "
             "with gobject-introspection, or from a build tree set "
             "GI_TYPELIB_PATH=<build>/plugin/meta LD_LIBRARY_PATH=<build>/plugin/meta" % e)


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
        props = []
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
        return "%s ! videoconvert ! %s ! fakesink name=sink sync=false" % (src, classify)

    def build(self):
        self.restart_id = 0
        if self.live:
            print("connecting to %s" % self.uri, file=sys.stderr, flush=True)
        self.pipeline = Gst.parse_launch(self.description())
        self.bus = bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self.on_message)
        self.pipeline.get_by_name("sink").get_static_pad("sink").add_probe(
            Gst.PadProbeType.BUFFER, self.on_buffer, self.pipeline)
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
        if t == Gst.MessageType.ERROR:
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

    def on_buffer(self, pad, info, pipeline):
        """The streaming thread: one line per frame that carries a result."""
        if pipeline is not self.pipeline:
            return Gst.PadProbeReturn.REMOVE  # a pipeline being torn down
        buf = info.get_buffer()
        metas = GstTorchAnalytics.buffer_get_torch_classification_metas(buf)
        if not metas:
            return Gst.PadProbeReturn.OK  # live mode: no result yet
        # The full-frame result when there is one (regions carry a roi_id >= 0).
        m = next((m for m in metas if m.roi_id < 0), metas[0])
        source = ""
        if m.source_pts != Gst.CLOCK_TIME_NONE:
            source = " source-pts=" + format_time(m.source_pts)
        labels = m.get_labels()
        if labels:
            top = "%s %.4f" % (labels[0].label, labels[0].score)
        else:
            top = "none"  # every class under `threshold`
        print("frame %d pts=%s%s top1=%s" % (self.frames, format_time(buf.pts), source, top),
              flush=True)
        self.frames += 1
        if self.args.max_frames and self.frames >= self.args.max_frames:
            self.loop.quit()
        return Gst.PadProbeReturn.OK

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
