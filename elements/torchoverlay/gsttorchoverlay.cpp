/* torchanalytics: torchoverlay
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-torchoverlay
 * @title: torchoverlay
 *
 * Draws the classification results that torchclassify attached (#GstTorchClassificationMeta)
 * onto the frames: for each region, its top labels (any UTF-8 text: Pango lays it out and
 * fontconfig finds a font for every script) with their scores and a bar per score, in a
 * dark box at the region's corner (the whole frame for full-frame results). The box is
 * sized from the frame height, so it reads the same from 320x240 to 4K.
 *
 * The boxes are drawn with Cairo into a #GstVideoOverlayComposition. When downstream says
 * in the ALLOCATION query that it takes #GstVideoOverlayCompositionMeta (a sink that
 * composes in hardware), the composition is attached to the buffer and the pixels are not
 * touched; otherwise it is blended into the frame in place, in the frame's own format.
 * Frames without results pass untouched. A box whose text, scores and place are those of
 * a recent frame is not laid out or drawn again.
 *
 * Regions of interest (results whose roi_id is set: torchclassify inference-region=roi-list)
 * get an outline in `box-color` and their labels beside the box, above it (below it for the
 * bottom `position`s, or when there is no room above), kept inside the frame. A
 * #GstVideoRegionOfInterestMeta without a result (a region torchclassify skipped, or of a
 * type it was not asked to classify) is drawn, with `show-rois`, as a thin outline in
 * `roi-color` with its type as a small caption.
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

#include <atomic>
#include <exception>
#include <memory>
#include <new>
#include <vector>

#include "gsttorchclassificationmeta.h"
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
  PROP_BOX_COLOR,
  PROP_ROI_COLOR,
  PROP_SHOW_ROIS,
};

#define DEFAULT_TOP_K 3
#define DEFAULT_POSITION GST_TORCH_OVERLAY_POSITION_TOP_LEFT
#define DEFAULT_FONT_SCALE 1.0
#define DEFAULT_SHOW_SCORES TRUE
#define DEFAULT_SHOW_BARS TRUE
#define DEFAULT_COLOR 0xFFFFFFFF
#define DEFAULT_BOX_COLOR 0xFF00E000
#define DEFAULT_ROI_COLOR 0xFFFFB000
#define DEFAULT_SHOW_ROIS TRUE

#define CAPS_FORMATS "{ RGB, BGR, RGBA, BGRA, RGBx, BGRx, xRGB, xBGR, ARGB, ABGR, I420, NV12 }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (CAPS_FORMATS)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (CAPS_FORMATS)));

/* What the streaming thread keeps between frames. */
struct GstTorchOverlayPrivate {
  std::unique_ptr<ta::OverlayRenderer> renderer;
  /* The rectangles of the last frame and the picture each shows: a picture the renderer
   * hands back again keeps its rectangle, and with it GStreamer's converted copies of
   * its pixels (unpremultiplied, AYUV for YUV frames) that blending made. */
  struct Shown {
    std::shared_ptr<const ta::OverlayPicture> picture;
    GstVideoOverlayRectangle *rect;
  };
  std::vector<Shown> shown;
  GstVideoOverlayComposition *composition = nullptr;
  /* Downstream composes GstVideoOverlayCompositionMeta itself: attach, don't blend. */
  std::atomic<bool> attach{false};
  /* Ask downstream again (new caps, or a RECONFIGURE from downstream). */
  std::atomic<bool> need_query{true};

  void forget ()
  {
    for (auto & s : shown)
      gst_video_overlay_rectangle_unref (s.rect);
    shown.clear ();
    if (composition)
      gst_video_overlay_composition_unref (composition);
    composition = nullptr;
  }
  ~GstTorchOverlayPrivate () { forget (); }
};

struct _GstTorchOverlay {
  GstBaseTransform parent;

  /* properties, guarded by the object lock */
  gint top_k;
  GstTorchOverlayPosition position;
  gdouble font_scale;
  gboolean show_scores;
  gboolean show_bars;
  guint color;
  guint box_color;
  guint roi_color;
  gboolean show_rois;

  GstVideoInfo info;
  gboolean have_info;

  GstTorchOverlayPrivate *priv;
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
    case PROP_BOX_COLOR: self->box_color = g_value_get_uint (value); break;
    case PROP_ROI_COLOR: self->roi_color = g_value_get_uint (value); break;
    case PROP_SHOW_ROIS: self->show_rois = g_value_get_boolean (value); break;
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
    case PROP_BOX_COLOR: g_value_set_uint (value, self->box_color); break;
    case PROP_ROI_COLOR: g_value_set_uint (value, self->roi_color); break;
    case PROP_SHOW_ROIS: g_value_set_boolean (value, self->show_rois); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static gboolean
gst_torch_overlay_start (GstBaseTransform * trans)
{
  GstTorchOverlay *self = GST_TORCH_OVERLAY (trans);

  try {
    self->priv->renderer.reset (new ta::OverlayRenderer ());
  } catch (const std::exception & e) {
    GST_ELEMENT_ERROR (self, LIBRARY, INIT,
        ("Could not set up text drawing: install a font (Debian: fonts-dejavu-core)."),
        ("%s", e.what ()));
    return FALSE;
  }
  self->priv->need_query = true;
  return TRUE;
}

static gboolean
gst_torch_overlay_stop (GstBaseTransform * trans)
{
  GstTorchOverlay *self = GST_TORCH_OVERLAY (trans);

  self->priv->forget ();
  self->priv->renderer.reset ();
  self->have_info = FALSE;
  return TRUE;
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
  /* Pictures of the old size are of no use now. */
  self->priv->forget ();
  self->priv->need_query = true;
  return self->have_info;
}

static gboolean
gst_torch_overlay_src_event (GstBaseTransform * trans, GstEvent * event)
{
  GstTorchOverlay *self = GST_TORCH_OVERLAY (trans);

  /* Downstream changed (a new sink, a new window): ask it again whether it composes. */
  if (GST_EVENT_TYPE (event) == GST_EVENT_RECONFIGURE)
    self->priv->need_query = true;
  return GST_BASE_TRANSFORM_CLASS (parent_class)->src_event (trans, event);
}

/* Whether downstream composes GstVideoOverlayCompositionMeta itself. An in-place
 * transform does not query downstream for its own allocation, so ask here. */
static bool
gst_torch_overlay_downstream_composes (GstTorchOverlay * self)
{
  GstCaps *caps = gst_video_info_to_caps (&self->info);
  GstQuery *query = gst_query_new_allocation (caps, FALSE);
  bool composes = false;

  if (gst_pad_peer_query (GST_BASE_TRANSFORM_SRC_PAD (self), query))
    composes = gst_query_find_allocation_meta (query,
        GST_VIDEO_OVERLAY_COMPOSITION_META_API_TYPE, NULL);
  GST_DEBUG_OBJECT (self, "downstream %s the overlay composition meta: %s",
      composes ? "takes" : "does not take", composes ? "attaching" : "blending");
  gst_query_unref (query);
  gst_caps_unref (caps);
  return composes;
}

static void
free_picture (gpointer data)
{
  delete static_cast<std::shared_ptr<const ta::OverlayPicture> *>(data);
}

/* A rectangle over the picture's pixels (no copy: the buffer holds the picture). */
static GstVideoOverlayRectangle *
rectangle_for (const std::shared_ptr<const ta::OverlayPicture> & pic)
{
  auto *hold = new std::shared_ptr<const ta::OverlayPicture> (pic);
  const gsize size = pic->pixels.size ();
  GstBuffer *pixels = gst_buffer_new_wrapped_full (GST_MEMORY_FLAG_READONLY,
      (gpointer) pic->pixels.data (), size, 0, size, hold, free_picture);
  gsize offset[GST_VIDEO_MAX_PLANES] = { 0 };
  gint stride[GST_VIDEO_MAX_PLANES] = { pic->stride };
  gst_buffer_add_video_meta_full (pixels, GST_VIDEO_FRAME_FLAG_NONE,
      GST_VIDEO_OVERLAY_COMPOSITION_FORMAT_RGB, pic->at.w, pic->at.h, 1, offset, stride);
  GstVideoOverlayRectangle *rect = gst_video_overlay_rectangle_new_raw (pixels,
      pic->at.x, pic->at.y, pic->at.w, pic->at.h, GST_VIDEO_OVERLAY_FORMAT_FLAG_PREMULTIPLIED_ALPHA);
  gst_buffer_unref (pixels);
  return rect;
}

/* The composition for this frame's pictures: the last frame's when they are the same,
 * and the last frame's rectangles for the pictures that are. Returns a new reference. */
static GstVideoOverlayComposition *
gst_torch_overlay_compose (GstTorchOverlay * self,
    const std::vector<std::shared_ptr<const ta::OverlayPicture>> & pictures)
{
  GstTorchOverlayPrivate *priv = self->priv;
  bool same = priv->composition && pictures.size () == priv->shown.size ();
  for (size_t i = 0; same && i < pictures.size (); i++)
    same = pictures[i] == priv->shown[i].picture;
  if (same)
    return gst_video_overlay_composition_ref (priv->composition);

  std::vector<GstTorchOverlayPrivate::Shown> shown;
  GstVideoOverlayComposition *comp = NULL;
  for (const auto & pic : pictures) {
    GstVideoOverlayRectangle *rect = NULL;
    for (const auto & old : priv->shown)
      if (old.picture == pic) {
        rect = gst_video_overlay_rectangle_ref (old.rect);
        break;
      }
    if (!rect)
      rect = rectangle_for (pic);
    if (comp)
      gst_video_overlay_composition_add_rectangle (comp, rect);
    else
      comp = gst_video_overlay_composition_new (rect);
    shown.push_back ({pic, rect});
  }
  priv->forget ();
  priv->shown = std::move (shown);
  priv->composition = gst_video_overlay_composition_ref (comp);
  return comp;
}

/* Adds `comp` to the buffer's composition meta, keeping what others attached before. */
static void
attach_composition (GstBuffer * buf, GstVideoOverlayComposition * comp)
{
  GstVideoOverlayCompositionMeta *meta = gst_buffer_get_video_overlay_composition_meta (buf);
  if (!meta) {
    gst_buffer_add_video_overlay_composition_meta (buf, comp);
    return;
  }
  GstVideoOverlayComposition *merged = gst_video_overlay_composition_copy (meta->overlay);
  for (guint i = 0; i < gst_video_overlay_composition_n_rectangles (comp); i++)
    gst_video_overlay_composition_add_rectangle (merged,
        gst_video_overlay_composition_get_rectangle (comp, i));
  gst_buffer_remove_video_overlay_composition_meta (buf, meta);
  gst_buffer_add_video_overlay_composition_meta (buf, merged);
  gst_video_overlay_composition_unref (merged);
}

/* What one frame shows. */
struct Drawing {
  std::vector<ta::OverlayRegion> results;       /* full-frame results: boxes inside */
  std::vector<ta::OverlayRegion> rois;          /* results of regions: outline + labels beside */
  std::vector<ta::OverlayRegion> plain;         /* ROI metas without a result: label = type */
  bool empty () const { return results.empty () && rois.empty () && plain.empty (); }
};

/* The ROI meta's rectangle clipped to the frame, read as torchclassify reads it: x and y
 * above G_MAXINT are the negative numbers they wrap from (a box that starts left of or
 * above the frame). Empty (w or h 0) when no pixel of it is in the frame. */
static ta::Box
roi_in_frame (const GstVideoRegionOfInterestMeta * roi, gint fw, gint fh)
{
  const gint64 x0 = CLAMP ((gint64) (gint32) roi->x, 0, fw), y0 = CLAMP ((gint64) (gint32) roi->y, 0, fh);
  const gint64 x1 = CLAMP ((gint64) (gint32) roi->x + roi->w, 0, fw);
  const gint64 y1 = CLAMP ((gint64) (gint32) roi->y + roi->h, 0, fh);
  if (x1 <= x0 || y1 <= y0)
    return {0, 0, 0, 0};
  return {(int) x0, (int) y0, (int) (x1 - x0), (int) (y1 - y0)};
}

/* Whether `roi` has a result on the buffer: the classification param torchclassify adds
 * to it, or a result of the same id, type and (clipped) rectangle. */
static bool
roi_is_classified (GstVideoRegionOfInterestMeta * roi, const ta::Box & clipped,
    const std::vector<GstTorchClassificationMeta *> & results)
{
  if (gst_video_region_of_interest_meta_get_param (roi, "classification"))
    return true;
  for (GstTorchClassificationMeta *m : results)
    if (m->roi_id == roi->id && m->roi_type == roi->roi_type && m->x == (guint) clipped.x
        && m->y == (guint) clipped.y && m->width == (guint) clipped.w && m->height == (guint) clipped.h)
      return true;
  return false;
}

/* Plain boxes drawn per frame at most: a detector that floods a frame with ROI metas
 * (thousands) must not make every frame lay out thousands of captions. */
#define MAX_PLAIN_BOXES 256

/* Whether any pixel of the rectangle lies in the frame. */
static bool
in_frame (guint x, guint y, guint w, guint h, gint fw, gint fh)
{
  return w > 0 && h > 0 && x < (guint) fw && y < (guint) fh;
}

static void
gst_torch_overlay_gather (GstTorchOverlay * self, GstBuffer * buf, bool show_rois, Drawing * d)
{
  std::vector<GstTorchClassificationMeta *> results;
  gpointer state = NULL;
  GstTorchClassificationMeta *m;
  const gint fw = GST_VIDEO_INFO_WIDTH (&self->info), fh = GST_VIDEO_INFO_HEIGHT (&self->info);

  while ((m = gst_buffer_iterate_torch_classification_meta (buf, &state))) {
    ta::OverlayRegion r;
    r.x = (int) MIN (m->x, (guint) G_MAXINT);
    r.y = (int) MIN (m->y, (guint) G_MAXINT);
    r.w = (int) MIN (m->width, (guint) G_MAXINT);
    r.h = (int) MIN (m->height, (guint) G_MAXINT);
    for (guint i = 0; i < m->n_labels; i++)
      r.labels.push_back ({m->labels[i].label ? m->labels[i].label : "", m->labels[i].score});
    if (m->roi_id >= 0) {
      results.push_back (m);
      /* Drawn even without labels (the box), unless nothing of it is in the frame. */
      if (self->have_info && in_frame (m->x, m->y, m->width, m->height, fw, fh))
        d->rois.push_back (std::move (r));
    } else if (!r.labels.empty ()) {
      d->results.push_back (std::move (r));
    }
  }
  if (!show_rois || !self->have_info)
    return;
  state = NULL;
  GstMeta *meta;
  guint left_out = 0;
  while ((meta = gst_buffer_iterate_meta_filtered (buf, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    GstVideoRegionOfInterestMeta *roi = (GstVideoRegionOfInterestMeta *) meta;
    const ta::Box box = roi_in_frame (roi, fw, fh);
    if (box.w <= 0 || roi_is_classified (roi, box, results))
      continue;
    if (d->plain.size () >= MAX_PLAIN_BOXES) {
      left_out++;
      continue;
    }
    ta::OverlayRegion r;
    r.x = box.x;
    r.y = box.y;
    r.w = box.w;
    r.h = box.h;
    const gchar *type = roi->roi_type ? g_quark_to_string (roi->roi_type) : NULL;
    if (type && *type)
      r.labels.push_back ({type, 0.f});
    d->plain.push_back (std::move (r));
  }
  if (left_out)
    GST_DEBUG_OBJECT (self, "%u ROI metas without a result not drawn (at most %d a frame)", left_out,
        MAX_PLAIN_BOXES);
}

static GstFlowReturn
gst_torch_overlay_transform_ip (GstBaseTransform * trans, GstBuffer * buf)
{
  GstTorchOverlay *self = GST_TORCH_OVERLAY (trans);
  GstTorchOverlayPrivate *priv = self->priv;
  Drawing drawing;

  GST_OBJECT_LOCK (self);
  const bool show_rois = self->show_rois;
  GST_OBJECT_UNLOCK (self);
  /* Frames without results are not even mapped: they leave byte-identical. */
  gst_torch_overlay_gather (self, buf, show_rois, &drawing);
  if (drawing.empty ())
    return GST_FLOW_OK;
  if (!self->have_info || !priv->renderer) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("No caps before the first buffer."), (NULL));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (priv->need_query.exchange (false))
    priv->attach = gst_torch_overlay_downstream_composes (self);

  ta::OverlayStyle style;
  guint box_color, roi_color;
  GST_OBJECT_LOCK (self);
  style.top_k = self->top_k;
  style.position = (ta::Corner) self->position;
  style.font_scale = self->font_scale;
  style.show_scores = self->show_scores;
  style.show_bars = self->show_bars;
  style.argb = self->color;
  box_color = self->box_color;
  roi_color = self->roi_color;
  GST_OBJECT_UNLOCK (self);

  /* Regions: labels beside the box. Plain ROI boxes: their type, small, in their colour. */
  ta::OverlayStyle beside = style;
  beside.placement = ta::Placement::Beside;
  ta::OverlayStyle caption = beside;
  caption.font_scale = style.font_scale * 0.6;
  caption.show_scores = false;
  caption.show_bars = false;
  caption.top_k = 1;
  caption.argb = roi_color;

  GstVideoOverlayComposition *comp = NULL;
  try {
    std::vector<std::shared_ptr<const ta::OverlayPicture>> pictures;
    const int w = GST_VIDEO_INFO_WIDTH (&self->info), h = GST_VIDEO_INFO_HEIGHT (&self->info);
    /* Outlines are a little thicker on bigger frames; plain ones half as thick. */
    const int thick = MAX (2, h / 240), thin = MAX (1, h / 480);
    auto add = [&pictures] (std::vector<std::shared_ptr<const ta::OverlayPicture>> && more) {
      for (auto & p : more)
        pictures.push_back (std::move (p));
    };
    /* Plain boxes first: results drawn after them stay readable where they overlap. */
    for (const auto & r : drawing.plain) {
      add (priv->renderer->outline (w, h, {r.x, r.y, r.w, r.h}, thin, roi_color));
      add (priv->renderer->render (w, h, r, caption));
    }
    /* Labels of regions close together: one that would cover labels already placed goes
     * to the other side of its box when that side is free. */
    std::vector<ta::Box> placed;
    auto overlaps = [&placed] (const ta::Box & b) {
      for (const auto & o : placed)
        if (b.x < o.x + o.w && o.x < b.x + b.w && b.y < o.y + o.h && o.y < b.y + b.h)
          return true;
      return false;
    };
    for (const auto & r : drawing.rois) {
      add (priv->renderer->outline (w, h, {r.x, r.y, r.w, r.h}, thick, box_color));
      ta::OverlayStyle st = beside;
      ta::Box at = priv->renderer->results_box (w, h, r, st);
      if (at.w > 0 && overlaps (at)) {
        ta::OverlayStyle flipped = beside;
        flipped.position = (ta::Corner) ((int) beside.position ^ 2);      /* top <-> bottom */
        const ta::Box other = priv->renderer->results_box (w, h, r, flipped);
        if (!overlaps (other)) {
          st = flipped;
          at = other;
        }
      }
      if (at.w > 0)
        placed.push_back (at);
      add (priv->renderer->render (w, h, r, st));
    }
    for (const auto & r : drawing.results)
      add (priv->renderer->render (w, h, r, style));
    if (pictures.empty ())
      return GST_FLOW_OK;
    comp = gst_torch_overlay_compose (self, pictures);
  } catch (const std::exception & e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Drawing the results failed."), ("%s", e.what ()));
    return GST_FLOW_ERROR;
  }
  GST_LOG_OBJECT (self, "%u rectangles, %s (drawn %" G_GSIZE_FORMAT ", reused %" G_GSIZE_FORMAT ")",
      gst_video_overlay_composition_n_rectangles (comp), priv->attach ? "attached" : "blended",
      priv->renderer->drawn (), priv->renderer->reused ());

  GstFlowReturn ret = GST_FLOW_OK;
  if (priv->attach) {
    attach_composition (buf, comp);
  } else {
    GstVideoFrame frame;
    if (!gst_video_frame_map (&frame, &self->info, buf, GST_MAP_READWRITE)) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED,
          ("A buffer of %" G_GSIZE_FORMAT " bytes is smaller than its caps say: fix the element upstream.",
              gst_buffer_get_size (buf)), (NULL));
      ret = GST_FLOW_ERROR;
    } else {
      if (!gst_video_overlay_composition_blend (comp, &frame)) {
        GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Drawing the results failed."),
            ("gst_video_overlay_composition_blend refused a %s frame",
                gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (&self->info))));
        ret = GST_FLOW_ERROR;
      }
      gst_video_frame_unmap (&frame);
    }
  }
  gst_video_overlay_composition_unref (comp);
  return ret;
}

static void
gst_torch_overlay_finalize (GObject * object)
{
  GstTorchOverlay *self = GST_TORCH_OVERLAY (object);

  delete self->priv;
  self->priv = NULL;
  G_OBJECT_CLASS (parent_class)->finalize (object);
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
  gobject_class->finalize = gst_torch_overlay_finalize;

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
  g_object_class_install_property (gobject_class, PROP_BOX_COLOR,
      g_param_spec_uint ("box-color", "Box color",
          "Outline colour of classified regions of interest as 0xAARRGGBB (alpha: opacity)",
          0, G_MAXUINT32, DEFAULT_BOX_COLOR, rw));
  g_object_class_install_property (gobject_class, PROP_ROI_COLOR,
      g_param_spec_uint ("roi-color", "ROI color",
          "Outline and caption colour of regions of interest without a result, as 0xAARRGGBB",
          0, G_MAXUINT32, DEFAULT_ROI_COLOR, rw));
  g_object_class_install_property (gobject_class, PROP_SHOW_ROIS,
      g_param_spec_boolean ("show-rois", "Show ROIs",
          "Draw regions of interest that have no result as thin boxes captioned with their type",
          DEFAULT_SHOW_ROIS, rw));

  gst_element_class_set_static_metadata (element_class, "Torch results overlay",
      "Filter/Editor/Video",
      "Draws the classification results attached by torchclassify onto the frames",
      "torchanalytics developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  trans_class->start = GST_DEBUG_FUNCPTR (gst_torch_overlay_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_torch_overlay_stop);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_torch_overlay_set_caps);
  trans_class->src_event = GST_DEBUG_FUNCPTR (gst_torch_overlay_src_event);
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
  self->box_color = DEFAULT_BOX_COLOR;
  self->roi_color = DEFAULT_ROI_COLOR;
  self->show_rois = DEFAULT_SHOW_ROIS;
  gst_video_info_init (&self->info);
  self->have_info = FALSE;
  self->priv = new GstTorchOverlayPrivate ();
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
}
