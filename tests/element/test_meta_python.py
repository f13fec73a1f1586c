#!/usr/bin/python3
"""Python reads the classification meta through GObject-Introspection (GstTorchAnalytics-1.0).

Run by meson (suite element) with the system Python, GI_TYPELIB_PATH and LD_LIBRARY_PATH at the
build tree's plugin/meta and GST_PLUGIN_PATH at the plugin. Exit 0: pass, 1: fail, 77: skipped
(the reason on stderr: no python3-gi, no Gst typelib, no GstTorchAnalytics typelib, no fixture).

1. Frames: videotestsrc ! torchclassify (tiny fixture model, interval=2 so that every other frame
   carries a borrowed result with source-pts) ! torchmetasink. A pad probe on the sink's pad
   reads every field of every meta from Python; each frame's metas equal the JSON line that
   torchmetasink wrote for that frame.
2. Regions: appsrc buffers whose metas Python itself adds with the API (two regions with a
   roi type and id, a model SHA-256, a latency, labels), probed and written the same way, so the
   region fields are checked against the JSON too (torchclassify makes full-frame metas only).
"""
import json
import os
import sys
import tempfile

SKIP = 77


def skip(why):
    print("SKIP: " + why, file=sys.stderr)
    sys.exit(SKIP)


try:
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import GLib, Gst
except (ImportError, ValueError) as e:
    skip("no PyGObject with GStreamer's typelib (Debian: python3-gi gir1.2-gstreamer-1.0): %s" % e)
try:
    gi.require_version("GstTorchAnalytics", "1.0")
    from gi.repository import GstTorchAnalytics
except (ImportError, ValueError) as e:
    skip("no GstTorchAnalytics-1.0 typelib (built when gobject-introspection and "
         "libgirepository1.0-dev are installed; GI_TYPELIB_PATH=<build>/plugin/meta): %s" % e)

W, H = 64, 48
FRAMES = 8


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def read_metas(buf):
    """Every field of every classification meta of buf, as plain Python values."""
    metas = GstTorchAnalytics.buffer_get_torch_classification_metas(buf)
    check(len(metas) == GstTorchAnalytics.buffer_get_n_torch_classification_metas(buf),
          "buffer_get_torch_classification_metas and get_n disagree")
    out = []
    for m in metas:
        check(m.meta.info.api.name == "GstTorchClassificationMetaAPI",
              "not our meta: %s" % m.meta.info.api.name)
        labels = m.get_labels()
        check(len(labels) == m.n_labels == m.get_n_labels(), "label counts disagree")
        one_by_one = [m.get_label(i) for i in range(m.n_labels)]
        check(m.get_label(m.n_labels) is None, "get_label past the end is not None")
        lab = [(l.class_id, l.label, l.score) for l in labels]
        check(lab == [(l.class_id, l.label, l.score) for l in one_by_one],
              "get_labels and get_label disagree")
        check((m.roi_type == 0) == (m.get_roi_type_name() is None), "roi_type vs its name")
        if m.roi_type:
            check(GLib.quark_to_string(m.roi_type) == m.get_roi_type_name(), "roi_type name")
        out.append({
            "x": m.x, "y": m.y, "width": m.width, "height": m.height,
            "model": m.model, "source_pts": m.source_pts,
            "roi_type": m.get_roi_type_name(), "roi_id": m.roi_id,
            "model_sha256": m.model_sha256, "latency": m.latency,
            "labels": lab,
        })
    return out


def run(description, feed=None):
    """Runs the pipeline to EOS; returns [metas of each buffer at the sink] and the JSON lines."""
    fd, path = tempfile.mkstemp(suffix=".jsonl")
    os.close(fd)
    try:
        pipeline = Gst.parse_launch(description + " ! torchmetasink name=sink location=%s" % path)
        seen = []
        errors = []

        def probe(pad, info):
            # A streaming thread: a failure is recorded and reported from the main thread.
            try:
                seen.append(read_metas(info.get_buffer()))
            except BaseException as e:  # noqa: B036 -- check() raises SystemExit
                errors.append(e)
            return Gst.PadProbeReturn.OK

        pipeline.get_by_name("sink").get_static_pad("sink").add_probe(
            Gst.PadProbeType.BUFFER, probe)
        check(pipeline.set_state(Gst.State.PLAYING) != Gst.StateChangeReturn.FAILURE,
              "the pipeline did not start: " + description)
        if feed:
            feed(pipeline)
        msg = pipeline.get_bus().timed_pop_filtered(
            120 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
        pipeline.set_state(Gst.State.NULL)
        if errors:
            raise errors[0]
        check(msg is not None, "no EOS within 120 s")
        if msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            fail("%s: %s\n%s" % (msg.src.get_name(), err.message, dbg))
        with open(path) as f:
            lines = [json.loads(l) for l in f]
        return seen, lines
    finally:
        os.unlink(path)


def expect_equal(seen, lines):
    """Each buffer's metas against its JSON line (regions matched by their fields: the order
    of the regions within a frame is not a contract)."""
    check(len(seen) == len(lines), "%d buffers probed, %d JSON lines" % (len(seen), len(lines)))
    for n, (metas, line) in enumerate(zip(seen, lines)):
        check(line["frame"] == n, "line %d has frame %s" % (n, line["frame"]))
        cls = line["classifications"]
        check(len(metas) == len(cls), "frame %d: %d metas, %d in JSON" % (n, len(metas), len(cls)))
        want = []
        for c in cls:
            want.append({
                "x": c["roi"]["x"], "y": c["roi"]["y"],
                "width": c["roi"]["w"], "height": c["roi"]["h"],
                "model": c["model"],
                "source_pts": c.get("source-pts", Gst.CLOCK_TIME_NONE),
                "roi_type": c.get("roi-type"), "roi_id": c.get("roi-id", -1),
                "labels": [(l["id"], l["label"], l["score"]) for l in c["labels"]],
            })
            # Provenance, where the JSON carries it (include-model-info).
            if "model-sha256" in c:
                want[-1]["model_sha256"] = c["model-sha256"]
            if "latency" in c:
                want[-1]["latency"] = c["latency"]
        # What the JSON leaves out (provenance without include-model-info) is not compared.
        shown = {k for w in want for k in ("model_sha256", "latency") if k in w}
        got = []
        for m in metas:
            g = {k: v for k, v in m.items() if k in shown or k not in ("model_sha256", "latency")}
            # JSON scores are rounded to 6 decimals.
            g["labels"] = [(i, s, round(float(sc), 6)) for i, s, sc in m["labels"]]
            got.append(g)
        key = lambda d: json.dumps(d, sort_keys=True)
        check(sorted(map(key, got)) == sorted(map(key, want)),
              "frame %d: the meta read from Python\n  %s\ndiffers from the JSON\n  %s"
              % (n, sorted(map(key, got)), sorted(map(key, want))))


def test_frames(model):
    seen, lines = run(
        "videotestsrc num-buffers=%d pattern=ball ! video/x-raw,format=RGB,width=%d,height=%d,"
        "framerate=30/1 ! torchclassify model-location=%s device=cpu top-k=3 interval=2"
        % (FRAMES, W, H, model))
    check(len(seen) == FRAMES, "%d of %d frames at the sink" % (len(seen), FRAMES))
    borrowed = 0
    for n, metas in enumerate(seen):
        check(len(metas) == 1, "frame %d: %d metas, one full-frame meta expected" % (n, len(metas)))
        m = metas[0]
        check((m["x"], m["y"], m["width"], m["height"]) == (0, 0, W, H), "frame %d: %s" % (n, m))
        check(m["model"] != "" and len(m["labels"]) == 3, "frame %d: %s" % (n, m))
        check(m["roi_type"] is None and m["roi_id"] == -1, "frame %d: roi fields %s" % (n, m))
        check(all(0.0 <= s <= 1.0 for _, _, s in m["labels"]), "softmax scores: %s" % m)
        check(m["model_sha256"] is None or len(m["model_sha256"]) == 64, "model_sha256 %s" % m)
        check(m["latency"] == Gst.CLOCK_TIME_NONE or m["latency"] < 600 * Gst.SECOND,
              "latency %s" % m)
        borrowed += m["source_pts"] != Gst.CLOCK_TIME_NONE
    check(borrowed == FRAMES // 2, "%d borrowed results with interval=2, %d expected"
          % (borrowed, FRAMES // 2))
    expect_equal(seen, lines)


SHA = "0123456789abcdef" * 4


def test_regions():
    face = GLib.quark_from_string("face")

    def feed(pipeline):
        src = pipeline.get_by_name("src")
        for n in range(3):
            buf = Gst.Buffer.new_allocate(None, W * H * 3, None)
            buf.pts = n * Gst.SECOND // 30
            buf.duration = Gst.SECOND // 30
            for i in range(n):  # frame 0: none, 1: one region, 2: two
                m = GstTorchAnalytics.buffer_add_torch_classification_meta(
                    buf, "m%d" % i, 2 + i, 3 + i, 10 + i, 12 + i)
                check(m is not None, "buffer_add_torch_classification_meta gave None")
                m.set_roi(face if i == 0 else GLib.quark_from_string("car"), 7 + i)
                m.set_model_sha256(SHA)
                m.latency = 1234567 + i
                m.add_label(4 + i, "label é %d" % i, 0.75)
                m.add_label(9, None, 0.125)  # "class 9"
            check(src.emit("push-buffer", buf) == Gst.FlowReturn.OK, "push-buffer failed")
        src.emit("end-of-stream")

    seen, lines = run(
        "appsrc name=src format=time caps=video/x-raw,format=RGB,width=%d,height=%d,"
        "framerate=30/1 ! queue" % (W, H), feed)
    check([len(s) for s in seen] == [0, 1, 2], "metas per frame: %s" % [len(s) for s in seen])
    for n, metas in enumerate(seen):
        for m in metas:
            i = int(m["model"][1:])
            want = {"x": 2 + i, "y": 3 + i, "width": 10 + i, "height": 12 + i,
                    "model": "m%d" % i, "source_pts": Gst.CLOCK_TIME_NONE,
                    "roi_type": "face" if i == 0 else "car", "roi_id": 7 + i,
                    "model_sha256": SHA, "latency": 1234567 + i,
                    "labels": [(4 + i, "label é %d" % i, 0.75), (9, "class 9", 0.125)]}
            check(m == want, "frame %d region %d read back as %s, set as %s" % (n, i, m, want))
    expect_equal(seen, lines)


def main():
    Gst.init(None)
    for f in ("torchclassify", "torchmetasink"):
        check(Gst.ElementFactory.find(f) is not None,
              "%s not found: GST_PLUGIN_PATH=<build>/plugin" % f)
    model = os.path.join(os.environ.get("TA_FIXTURES_DIR", ""), "tiny.ts")
    if not os.path.exists(model):
        skip("fixture %s missing (TA_FIXTURES_DIR; ninja builds it with the tests)" % model)
    test_frames(model)
    test_regions()
    print("ok: frames and regions read from Python equal the JSON")


if __name__ == "__main__":
    main()
