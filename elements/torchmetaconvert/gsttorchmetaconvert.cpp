/* torchanalytics: torchmetaconvert, classification results as application/x-ndjson buffers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-torchmetaconvert
 * @title: torchmetaconvert
 * @see_also: torchclassify, torchmetasink
 *
 * Turns every video buffer into one `application/x-ndjson` buffer: the JSON object
 * torchmetasink would write for it (stream name, frame number, timestamp, frame size
 * and the #GstTorchClassificationMeta of torchclassify), followed by "\n". The output
 * buffer has the PTS, DTS and duration of the frame, so any GStreamer sink carries the
 * results: filesink, fdsink, appsink, tcpserversink, multifilesink or splitmuxsink
 * for rotation. A frame without a meta still gives a line, with an empty
 * "classifications" array. Use a tee to keep the video: one branch to the display or
 * the encoder, the other through torchmetaconvert.
 *
 * The schema is ta::to_json_line (plugin/core/json_lines.h); the conversion of the metas
 * is shared with torchmetasink (elements/common/gsttorchresults.h), so both write the
 * same bytes for the same buffers.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! torchclassify ! torchmetaconvert ! filesink location=out.jsonl
 * ]| Classifies every frame of in.mp4 and writes the results to out.jsonl.
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! torchclassify ! tee name=t t. ! queue ! autovideosink t. ! queue ! torchmetaconvert stream-name=cam0 ! tcpserversink host=0.0.0.0 port=5000
 * ]| Shows the camera and serves its results, one line per frame, to TCP clients.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gsttorchmetaconvert.h"
#include "gsttorchresults.h"

#include <exception>
#include <optional>
#include <string>

GST_DEBUG_CATEGORY_STATIC (gst_torch_meta_convert_debug);
#define GST_CAT_DEFAULT gst_torch_meta_convert_debug

#define OUTPUT_CAPS "application/x-ndjson"

enum
{
  PROP_0,
  PROP_STREAM_NAME,
  PROP_INCLUDE_MODEL_INFO,
};

namespace {

struct TorchMetaConvertPrivate
{
  std::optional<std::string> stream_name;       /* guarded by the object lock */
  gboolean include_model_info = FALSE;  /* guarded by the object lock; read at READY->PAUSED */
  GstTorchResults results;      /* the streaming thread's */
};

}  // namespace

struct _GstTorchMetaConvert
{
  GstElement parent;

  GstPad *sinkpad;
  GstPad *srcpad;
  TorchMetaConvertPrivate *priv;
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("video/x-raw(ANY)"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS (OUTPUT_CAPS));

#define gst_torch_meta_convert_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstTorchMetaConvert, gst_torch_meta_convert, GST_TYPE_ELEMENT,
    GST_DEBUG_CATEGORY_INIT (gst_torch_meta_convert_debug, "torchmetaconvert", 0,
        "Classification results as application/x-ndjson buffers"));
GST_ELEMENT_REGISTER_DEFINE (torchmetaconvert, "torchmetaconvert", GST_RANK_NONE,
    GST_TYPE_TORCH_META_CONVERT);

static gboolean
gst_torch_meta_convert_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstTorchMetaConvert *self = GST_TORCH_META_CONVERT (parent);
  GstTorchResults & results = self->priv->results;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START:
      results.set_stream_start (event);
      break;
    case GST_EVENT_CAPS:{
      GstCaps *caps;

      gst_event_parse_caps (event, &caps);
      results.set_caps (caps);
      GST_DEBUG_OBJECT (self, "caps %" GST_PTR_FORMAT, caps);
      gst_event_unref (event);
      /* Ours are fixed: a change of the video caps changes nothing downstream. */
      if (gst_pad_has_current_caps (self->srcpad))
        return TRUE;
      GstCaps *out = gst_caps_from_string (OUTPUT_CAPS);
      const gboolean ok = gst_pad_push_event (self->srcpad, gst_event_new_caps (out));
      gst_caps_unref (out);
      if (!ok)
        GST_WARNING_OBJECT (self, "downstream refused " OUTPUT_CAPS);
      return ok;
    }
    default:
      break;
  }
  /* Serialized events (segment, gap, EOS, flushes, tags) go on in order with the lines:
   * the segment of the video is the segment of its results. */
  return gst_pad_event_default (pad, parent, event);
}

static GstFlowReturn
gst_torch_meta_convert_chain (GstPad * pad, GstObject * parent, GstBuffer * buffer)
{
  GstTorchMetaConvert *self = GST_TORCH_META_CONVERT (parent);
  TorchMetaConvertPrivate *priv = self->priv;
  const guint64 frame = priv->results.frames ();
  GstBuffer *out = NULL;

  try {
    std::string line = ta::to_json_line (priv->results.next (GST_ELEMENT (self), pad,
            priv->stream_name, buffer));
    GST_LOG_OBJECT (self, "frame %" G_GUINT64_FORMAT ": %s", frame, line.c_str ());
    line += '\n';
    out = gst_buffer_new_memdup (line.data (), line.size ());
  } catch (const std::exception & e) {
    gst_buffer_unref (buffer);
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Could not convert the results of frame %" G_GUINT64_FORMAT ".", frame),
        ("%s", e.what ()));
    return GST_FLOW_ERROR;
  }
  /* PTS, DTS, duration and offsets: a sink that syncs or a muxer that splits on time
   * sees the frame's. */
  gst_buffer_copy_into (out, buffer, GST_BUFFER_COPY_TIMESTAMPS, 0, -1);
  if (GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DISCONT))
    GST_BUFFER_FLAG_SET (out, GST_BUFFER_FLAG_DISCONT);
  gst_buffer_unref (buffer);
  return gst_pad_push (self->srcpad, out);
}

static GstStateChangeReturn
gst_torch_meta_convert_change_state (GstElement * element, GstStateChange transition)
{
  GstTorchMetaConvert *self = GST_TORCH_META_CONVERT (element);

  /* Before the pads activate: no buffer can arrive while the state is reset. */
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    self->priv->results.reset ();
    GST_OBJECT_LOCK (self);
    self->priv->results.set_include_model_info (self->priv->include_model_info);
    GST_OBJECT_UNLOCK (self);
  }
  const GstStateChangeReturn ret =
      GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    GST_INFO_OBJECT (self, "converted %" G_GUINT64_FORMAT " frames",
        self->priv->results.frames ());
  return ret;
}

static void
gst_torch_meta_convert_init (GstTorchMetaConvert * self)
{
  self->priv = new TorchMetaConvertPrivate ();

  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_torch_meta_convert_chain));
  gst_pad_set_event_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_torch_meta_convert_sink_event));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
}

static void
gst_torch_meta_convert_finalize (GObject * object)
{
  GstTorchMetaConvert *self = GST_TORCH_META_CONVERT (object);

  delete self->priv;
  self->priv = nullptr;

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_torch_meta_convert_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstTorchMetaConvert *self = GST_TORCH_META_CONVERT (object);

  GST_OBJECT_LOCK (self);
  if (prop_id == PROP_STREAM_NAME) {
    const gchar *s = g_value_get_string (value);
    self->priv->stream_name = s ? std::optional<std::string> (s) : std::nullopt;
  } else if (prop_id == PROP_INCLUDE_MODEL_INFO) {
    self->priv->include_model_info = g_value_get_boolean (value);
  } else {
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_torch_meta_convert_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstTorchMetaConvert *self = GST_TORCH_META_CONVERT (object);

  GST_OBJECT_LOCK (self);
  if (prop_id == PROP_STREAM_NAME) {
    const auto & name = self->priv->stream_name;
    g_value_set_string (value, name ? name->c_str () : NULL);
  } else if (prop_id == PROP_INCLUDE_MODEL_INFO) {
    g_value_set_boolean (value, self->priv->include_model_info);
  } else {
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_torch_meta_convert_class_init (GstTorchMetaConvertClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  gobject_class->finalize = gst_torch_meta_convert_finalize;
  gobject_class->set_property = gst_torch_meta_convert_set_property;
  gobject_class->get_property = gst_torch_meta_convert_get_property;

  /**
   * GstTorchMetaConvert:stream-name:
   *
   * The value of the "stream" member of every line. Unset (or empty): the upstream
   * stream-id of the STREAM_START event, or the element name when there is none.
   */
  g_object_class_install_property (gobject_class, PROP_STREAM_NAME,
      g_param_spec_string ("stream-name", "Stream name",
          "Value of the \"stream\" member of each line (unset: the upstream stream-id)",
          NULL, (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));

  /**
   * GstTorchMetaConvert:include-model-info:
   *
   * Provenance: each classification entry also carries "model-sha256", "preprocess"
   * (resize-size, crop-size, resize-mode, mean, std) and "latency" (ns), where its meta
   * has them. Read when the element goes to PAUSED.
   */
  g_object_class_install_property (gobject_class, PROP_INCLUDE_MODEL_INFO,
      g_param_spec_boolean ("include-model-info", "Include model info",
          "Also write each classification's model SHA-256, preprocessing settings and latency",
          FALSE, (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "Torch classification metadata converter", "Converter/Metadata",
      "Turns the classification metas of each video frame into one JSON line "
      "(application/x-ndjson buffer) with the frame's timestamps",
      "torchanalytics developers");

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_torch_meta_convert_change_state);
}
