/* torchanalytics: torchoverlay
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-torchoverlay
 * @title: torchoverlay
 *
 * Draws the classification results that torchclassify attached (#GstTorchClassificationMeta)
 * onto the frames: for each region, its top labels with their scores and a bar per
 * score, in a dark box at the region's corner (the whole frame for full-frame results).
 * The box is sized from the frame height, so it reads the same from 320x240 to 4K. It
 * draws in the frame's own format (packed RGB variants, I420, NV12) without converting
 * it; frames without results pass untouched.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 v4l2src ! decodebin ! videoconvert ! torchclassify ! torchoverlay ! autovideosink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gsttorchoverlay.h"

#include <gst/video/video.h>

#include <exception>
#include <vector>

#include "gsttorchclassificationmeta.h"
#include "gsttorchframe.h"
#include "overlay.h"

GST_DEBUG_CATEGORY_STATIC (gst_torch_overlay_debug);
#define GST_CAT_DEFAULT gst_torch_overlay_debug

enum {
  PROP_0,
  PROP_TOP_K,
  PROP_POSITION,
  PROP_FONT_SCALE,
  PROP_SHOW_SCORES,
  PROP_SHOW_BARS,
  PROP_COLOR,
};

#define DEFAULT_TOP_K 3
#define DEFAULT_POSITION GST_TORCH_OVERLAY_POSITION_TOP_LEFT
#define DEFAULT_FONT_SCALE 1.0
#define DEFAULT_SHOW_SCORES TRUE
#define DEFAULT_SHOW_BARS TRUE
#define DEFAULT_COLOR 0xFFFFFFFF

#define CAPS_FORMATS "{ RGB, BGR, RGBA, BGRA, RGBx, BGRx, xRGB, xBGR, ARGB, ABGR, I420, NV12 }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (CAPS_FORMATS)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (CAPS_FORMATS)));

struct _GstTorchOverlay {
  GstBaseTransform parent;

  /* properties, guarded by the object lock */
  gint top_k;
  GstTorchOverlayPosition position;
  gdouble font_scale;
  gboolean show_scores;
  gboolean show_bars;
  guint color;

  GstVideoInfo info;
  gboolean have_info;
};

#define gst_torch_overlay_parent_class parent_class
G_DEFINE_TYPE (GstTorchOverlay, gst_torch_overlay, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (torchoverlay, "torchoverlay", GST_RANK_NONE, GST_TYPE_TORCH_OVERLAY);

GType
gst_torch_overlay_position_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_TORCH_OVERLAY_POSITION_TOP_LEFT, "Top left corner of the region", "top-left"},
    {GST_TORCH_OVERLAY_POSITION_TOP_RIGHT, "Top right corner of the region", "top-right"},
    {GST_TORCH_OVERLAY_POSITION_BOTTOM_LEFT, "Bottom left corner of the region", "bottom-left"},
    {GST_TORCH_OVERLAY_POSITION_BOTTOM_RIGHT, "Bottom right corner of the region", "bottom-right"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstTorchOverlayPosition", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

static void
gst_torch_overlay_set_property (GObject * object, guint prop_id, const GValue * value,
    GParamSpec * pspec)
{
  GstTorchOverlay *self = GST_TORCH_OVERLAY (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_TOP_K: self->top_k = g_value_get_int (value); break;
    case PROP_POSITION: self->position = (GstTorchOverlayPosition) g_value_get_enum (value); break;
    case PROP_FONT_SCALE: self->font_scale = g_value_get_double (value); break;
    case PROP_SHOW_SCORES: self->show_scores = g_value_get_boolean (value); break;
    case PROP_SHOW_BARS: self->show_bars = g_value_get_boolean (value); break;
    case PROP_COLOR: self->color = g_value_get_uint (value); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_torch_overlay_get_property (GObject * object, guint prop_id, GValue * value, GParamSpec * pspec)
{
  GstTorchOverlay *self = GST_TORCH_OVERLAY (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_TOP_K: g_value_set_int (value, self->top_k); break;
    case PROP_POSITION: g_value_set_enum (value, self->position); break;
    case PROP_FONT_SCALE: g_value_set_double (value, self->font_scale); break;
    case PROP_SHOW_SCORES: g_value_set_boolean (value, self->show_scores); break;
    case PROP_SHOW_BARS: g_value_set_boolean (value, self->show_bars); break;
    case PROP_COLOR: g_value_set_uint (value, self->color); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static gboolean
gst_torch_overlay_set_caps (GstBaseTransform * trans, GstCaps * incaps, GstCaps * outcaps)
{
  GstTorchOverlay *self = GST_TORCH_OVERLAY (trans);

  (void) outcaps;
  self->have_info = gst_video_info_from_caps (&self->info, incaps);
  if (!self->have_info)
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Could not parse the video caps."),
        ("caps: %" GST_PTR_FORMAT, incaps));
  return self->have_info;
}

static GstFlowReturn
gst_torch_overlay_transform_ip (GstBaseTransform * trans, GstBuffer * buf)
{
  GstTorchOverlay *self = GST_TORCH_OVERLAY (trans);
  std::vector<ta::OverlayRegion> regions;
  gpointer state = NULL;
  GstTorchClassificationMeta *m;

  /* Frames without results are not even mapped: they leave byte-identical. */
  while ((m = gst_buffer_iterate_torch_classification_meta (buf, &state))) {
    ta::OverlayRegion r;
    r.x = (int) m->x;
    r.y = (int) m->y;
    r.w = (int) m->width;
    r.h = (int) m->height;
    for (guint i = 0; i < m->n_labels; i++)
      r.labels.push_back ({m->labels[i].label ? m->labels[i].label : "", m->labels[i].score});
    if (!r.labels.empty ())
      regions.push_back (std::move (r));
  }
  if (regions.empty ())
    return GST_FLOW_OK;
  if (!self->have_info) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("No caps before the first buffer."), (NULL));
    return GST_FLOW_NOT_NEGOTIATED;
  }

  ta::OverlayStyle style;
  GST_OBJECT_LOCK (self);
  style.top_k = self->top_k;
  style.position = (ta::Corner) self->position;
  style.font_scale = self->font_scale;
  style.show_scores = self->show_scores;
  style.show_bars = self->show_bars;
  style.argb = self->color;
  GST_OBJECT_UNLOCK (self);

  GstVideoFrame frame;
  if (!gst_video_frame_map (&frame, &self->info, buf, GST_MAP_READWRITE)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("A buffer of %" G_GSIZE_FORMAT " bytes is smaller than its caps say: fix the element upstream.",
            gst_buffer_get_size (buf)), (NULL));
    return GST_FLOW_ERROR;
  }
  GstFlowReturn ret = GST_FLOW_OK;
  try {
    ta::FrameView v;
    frame_view_from (&frame, &v);
    ta::draw_overlay (v, regions, style);
  } catch (const std::exception & e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Drawing the results failed."), ("%s", e.what ()));
    ret = GST_FLOW_ERROR;
  }
  gst_video_frame_unmap (&frame);
  return ret;
}

static void
gst_torch_overlay_class_init (GstTorchOverlayClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  const GParamFlags rw = (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_CONTROLLABLE);

  GST_DEBUG_CATEGORY_INIT (gst_torch_overlay_debug, "torchoverlay", 0, "torchoverlay");

  gobject_class->set_property = gst_torch_overlay_set_property;
  gobject_class->get_property = gst_torch_overlay_get_property;

  g_object_class_install_property (gobject_class, PROP_TOP_K,
      g_param_spec_int ("top-k", "Top k", "How many of the attached labels to draw per region",
          1, 100, DEFAULT_TOP_K, rw));
  g_object_class_install_property (gobject_class, PROP_POSITION,
      g_param_spec_enum ("position", "Position", "Corner of the region where the results box goes",
          GST_TYPE_TORCH_OVERLAY_POSITION, DEFAULT_POSITION, rw));
  g_object_class_install_property (gobject_class, PROP_FONT_SCALE,
      g_param_spec_double ("font-scale", "Font scale",
          "Text size relative to the default (a line is 1/22 of the frame height)",
          0.1, 10.0, DEFAULT_FONT_SCALE, rw));
  g_object_class_install_property (gobject_class, PROP_SHOW_SCORES,
      g_param_spec_boolean ("show-scores", "Show scores", "Write each score as a percentage",
          DEFAULT_SHOW_SCORES, rw));
  g_object_class_install_property (gobject_class, PROP_SHOW_BARS,
      g_param_spec_boolean ("show-bars", "Show bars", "Draw a bar per score",
          DEFAULT_SHOW_BARS, rw));
  g_object_class_install_property (gobject_class, PROP_COLOR,
      g_param_spec_uint ("color", "Color",
          "Text and bar colour as 0xAARRGGBB (alpha: opacity of the bars)",
          0, G_MAXUINT32, DEFAULT_COLOR, rw));

  gst_element_class_set_static_metadata (element_class, "Torch results overlay",
      "Filter/Editor/Video",
      "Draws the classification results attached by torchclassify onto the frames",
      "torchanalytics developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_torch_overlay_set_caps);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_torch_overlay_transform_ip);
  trans_class->passthrough_on_same_caps = FALSE;

  gst_type_mark_as_plugin_api (GST_TYPE_TORCH_OVERLAY_POSITION, (GstPluginAPIFlags) 0);
}

static void
gst_torch_overlay_init (GstTorchOverlay * self)
{
  self->top_k = DEFAULT_TOP_K;
  self->position = DEFAULT_POSITION;
  self->font_scale = DEFAULT_FONT_SCALE;
  self->show_scores = DEFAULT_SHOW_SCORES;
  self->show_bars = DEFAULT_SHOW_BARS;
  self->color = DEFAULT_COLOR;
  gst_video_info_init (&self->info);
  self->have_info = FALSE;
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
}
