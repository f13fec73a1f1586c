/* torchanalytics: torchregions
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-torchregions
 * @title: torchregions
 *
 * Attaches the fixed regions of a camera (parking bays, a door, a conveyor) to every frame
 * as #GstVideoRegionOfInterestMeta, so that `torchclassify inference-region=roi-list`
 * classifies each of them, as DL Streamer's `gvaattachroi` does. Pixels are not touched.
 *
 * The regions come from `regions`, entries `[type:]x,y,w,h` separated by ';' (whole
 * numbers are pixels; an entry with a decimal point is in fractions of the frame), or
 * from a JSON file, `location`: `{"regions": [{"type": "bay1", "x": 10, "y": 20,
 * "w": 100, "h": 80}]}`. A region without a type is of type "region". The id of each
 * meta is the region's index in the list, the same on every frame; parent_id is -1.
 * Regions are clipped to the frame; one left with no pixels is not attached (one
 * warning says which). A malformed list or file fails the start, naming the entry.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! \
 *   torchregions regions="bay1:0.0,0.5,0.5,0.5;bay2:0.5,0.5,0.5,0.5" ! \
 *   torchclassify inference-region=roi-list ! torchoverlay ! videoconvert ! autovideosink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gsttorchregions.h"

#include <gst/video/video.h>

#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "region_list.h"

GST_DEBUG_CATEGORY_STATIC (gst_torch_regions_debug);
#define GST_CAT_DEFAULT gst_torch_regions_debug

enum {
  PROP_0,
  PROP_REGIONS,
  PROP_LOCATION,
};

/* Any video, in any memory: only the caps' size is read. */
static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS ("video/x-raw(ANY)"));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS ("video/x-raw(ANY)"));

using RegionList = std::vector<ta::RegionSpec>;

/* A region as attached to this stream's frames. */
struct Attached {
  GQuark type;
  gint id;
  ta::PixelRect rect;
};

struct GstTorchRegionsPrivate {
  /* Guarded by the object lock. */
  std::string regions;                  /* the property as set */
  std::string regions_error;            /* why it does not parse ("" when it does) */
  std::shared_ptr<const RegionList> from_property;
  std::string location;
  bool started = false;
  /* What the frames get: set at start, replaced when `regions` changes while running. */
  std::shared_ptr<const RegionList> active;

  /* Streaming thread only. */
  std::shared_ptr<const RegionList> laid_out;   /* the list `attached` was made from */
  gint width = 0, height = 0;
  std::vector<Attached> attached;
};

struct _GstTorchRegions {
  GstBaseTransform parent;
  GstTorchRegionsPrivate *priv;
};

#define gst_torch_regions_parent_class parent_class
G_DEFINE_TYPE (GstTorchRegions, gst_torch_regions, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (torchregions, "torchregions", GST_RANK_NONE, GST_TYPE_TORCH_REGIONS);

static void
gst_torch_regions_set_property (GObject * object, guint prop_id, const GValue * value,
    GParamSpec * pspec)
{
  GstTorchRegions *self = GST_TORCH_REGIONS (object);
  GstTorchRegionsPrivate *priv = self->priv;

  switch (prop_id) {
    case PROP_REGIONS: {
      const gchar *s = g_value_get_string (value);
      std::string text = s ? s : "";
      std::shared_ptr<const RegionList> parsed;
      std::string error;
      try {
        parsed = std::make_shared<const RegionList> (ta::parse_region_list (text));
      } catch (const std::exception & e) {
        error = e.what ();
      }
      GST_OBJECT_LOCK (self);
      const bool running = priv->started;
      if (running && (!error.empty () || parsed->empty () || !priv->location.empty ())) {
        /* A running stream keeps the regions it has (and the property says so). */
        const bool from_file = !priv->location.empty ();
        GST_OBJECT_UNLOCK (self);
        if (from_file)
          GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS,
              ("The regions come from location while running: the regions property cannot replace them "
                  "(stop, unset location, then set regions)."), (NULL));
        else if (!error.empty ())
          GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS,
              ("regions=\"%s\" is not a region list, the previous regions stay: %s", text.c_str (),
                  error.c_str ()), (NULL));
        else
          GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS,
              ("An empty regions list while running: the previous regions stay."), (NULL));
        return;
      }
      priv->regions = text;
      priv->regions_error = error;
      priv->from_property = parsed;
      if (running)
        priv->active = parsed;
      GST_OBJECT_UNLOCK (self);
      if (!error.empty ())
        GST_WARNING_OBJECT (self, "regions=\"%s\": %s (the start will fail)", text.c_str (),
            error.c_str ());
      break;
    }
    case PROP_LOCATION: {
      const gchar *s = g_value_get_string (value);
      GST_OBJECT_LOCK (self);
      priv->location = s ? s : "";
      GST_OBJECT_UNLOCK (self);
      break;
    }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_torch_regions_get_property (GObject * object, guint prop_id, GValue * value, GParamSpec * pspec)
{
  GstTorchRegions *self = GST_TORCH_REGIONS (object);
  GstTorchRegionsPrivate *priv = self->priv;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_REGIONS:
      g_value_set_string (value, priv->regions.empty () ? NULL : priv->regions.c_str ());
      break;
    case PROP_LOCATION:
      g_value_set_string (value, priv->location.empty () ? NULL : priv->location.c_str ());
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static gboolean
gst_torch_regions_start (GstBaseTransform * trans)
{
  GstTorchRegions *self = GST_TORCH_REGIONS (trans);
  GstTorchRegionsPrivate *priv = self->priv;

  GST_OBJECT_LOCK (self);
  const std::string regions = priv->regions, error = priv->regions_error, location = priv->location;
  std::shared_ptr<const RegionList> list = priv->from_property;
  GST_OBJECT_UNLOCK (self);

  if (!regions.empty () && !location.empty ()) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Both regions and location are set: give the regions one way, either the list or the JSON file."),
        ("regions=\"%s\" location=\"%s\"", regions.c_str (), location.c_str ()));
    return FALSE;
  }
  if (!error.empty ()) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("regions: %s", error.c_str ()),
        ("regions=\"%s\"", regions.c_str ()));
    return FALSE;
  }
  if (!location.empty ()) {
    gchar *contents = NULL;
    gsize len = 0;
    GError *err = NULL;
    if (!g_file_get_contents (location.c_str (), &contents, &len, &err)) {
      const bool missing = g_error_matches (err, G_FILE_ERROR, G_FILE_ERROR_NOENT);
      if (missing)
        GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
            ("The regions file \"%s\" does not exist: fix location.", location.c_str ()),
            ("%s", err->message));
      else
        GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
            ("Could not read the regions file \"%s\": check its permissions.", location.c_str ()),
            ("%s", err->message));
      g_clear_error (&err);
      return FALSE;
    }
    try {
      list = std::make_shared<const RegionList> (ta::parse_region_json (std::string (contents, len),
              location));
    } catch (const std::exception & e) {
      g_free (contents);
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s", e.what ()),
          ("location=\"%s\"", location.c_str ()));
      return FALSE;
    }
    g_free (contents);
  }
  if (!list || list->empty ()) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("torchregions has no regions: set regions=\"[type:]x,y,w,h;...\" (e.g. \"bay1:10,20,100,80\") "
            "or location=<a JSON file of {\"regions\": [...]}>."),
        ("regions=\"%s\" location=\"%s\"", regions.c_str (), location.c_str ()));
    return FALSE;
  }
  GST_INFO_OBJECT (self, "%zu regions: %s", list->size (), ta::format_region_list (*list).c_str ());

  GST_OBJECT_LOCK (self);
  priv->active = list;
  priv->started = true;
  GST_OBJECT_UNLOCK (self);
  priv->laid_out.reset ();
  priv->attached.clear ();
  priv->width = priv->height = 0;
  return TRUE;
}

static gboolean
gst_torch_regions_stop (GstBaseTransform * trans)
{
  GstTorchRegions *self = GST_TORCH_REGIONS (trans);
  GstTorchRegionsPrivate *priv = self->priv;

  GST_OBJECT_LOCK (self);
  priv->started = false;
  priv->active.reset ();
  GST_OBJECT_UNLOCK (self);
  priv->laid_out.reset ();
  priv->attached.clear ();
  return TRUE;
}

static gboolean
gst_torch_regions_set_caps (GstBaseTransform * trans, GstCaps * incaps, GstCaps * outcaps)
{
  GstTorchRegions *self = GST_TORCH_REGIONS (trans);
  const GstStructure *s = gst_caps_get_structure (incaps, 0);
  gint w = 0, h = 0;

  (void) outcaps;
  if (!s || !gst_structure_get_int (s, "width", &w) || !gst_structure_get_int (s, "height", &h)
      || w <= 0 || h <= 0) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("torchregions needs video caps with a width and a height."), ("caps: %" GST_PTR_FORMAT, incaps));
    return FALSE;
  }
  self->priv->width = w;
  self->priv->height = h;
  self->priv->laid_out.reset ();        /* lay the regions out again for this size */
  return TRUE;
}

/* The regions in this stream's pixels; warns once about those left without pixels. */
static void
gst_torch_regions_lay_out (GstTorchRegions * self, const std::shared_ptr<const RegionList> & list)
{
  GstTorchRegionsPrivate *priv = self->priv;
  std::string outside;
  size_t n_outside = 0;

  priv->attached.clear ();
  for (size_t i = 0; i < list->size (); i++) {
    const ta::RegionSpec & r = (*list)[i];
    const ta::PixelRect px = ta::region_pixels (r, priv->width, priv->height);
    if (px.empty ()) {
      outside += (outside.empty () ? "" : ", ") + std::to_string (i) + " ('" + r.text + "')";
      n_outside++;
      continue;
    }
    priv->attached.push_back ({g_quark_from_string (r.type.c_str ()), (gint) i, px});
  }
  priv->laid_out = list;
  if (!outside.empty ())
    GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS,
        ("%s %s %s outside the %dx%d frame and %s not attached: fix the coordinates.",
            n_outside == 1 ? "Region" : "Regions", outside.c_str (),
            n_outside == 1 ? "lies" : "lie", priv->width, priv->height,
            n_outside == 1 ? "is" : "are"), (NULL));
  GST_DEBUG_OBJECT (self, "%zu of %zu regions on %dx%d frames", priv->attached.size (), list->size (),
      priv->width, priv->height);
}

static GstFlowReturn
gst_torch_regions_transform_ip (GstBaseTransform * trans, GstBuffer * buf)
{
  GstTorchRegions *self = GST_TORCH_REGIONS (trans);
  GstTorchRegionsPrivate *priv = self->priv;

  if (priv->width <= 0) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("No caps before the first buffer."), (NULL));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  GST_OBJECT_LOCK (self);
  std::shared_ptr<const RegionList> list = priv->active;
  GST_OBJECT_UNLOCK (self);
  if (!list)
    return GST_FLOW_OK;
  if (list != priv->laid_out)
    gst_torch_regions_lay_out (self, list);

  for (const Attached & a : priv->attached) {
    GstVideoRegionOfInterestMeta *m = gst_buffer_add_video_region_of_interest_meta_id (buf, a.type,
        (guint) a.rect.x, (guint) a.rect.y, (guint) a.rect.w, (guint) a.rect.h);
    if (!m)
      continue;
    m->id = a.id;
    m->parent_id = -1;
  }
  GST_LOG_OBJECT (self, "%zu regions on %" GST_PTR_FORMAT, priv->attached.size (), buf);
  return GST_FLOW_OK;
}

static void
gst_torch_regions_finalize (GObject * object)
{
  GstTorchRegions *self = GST_TORCH_REGIONS (object);

  delete self->priv;
  self->priv = NULL;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_torch_regions_class_init (GstTorchRegionsClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_torch_regions_debug, "torchregions", 0, "torchregions");

  gobject_class->set_property = gst_torch_regions_set_property;
  gobject_class->get_property = gst_torch_regions_get_property;
  gobject_class->finalize = gst_torch_regions_finalize;

  g_object_class_install_property (gobject_class, PROP_REGIONS,
      g_param_spec_string ("regions", "Regions",
          "Regions to attach, '[type:]x,y,w,h' separated by ';': whole numbers are pixels, an entry "
          "with a decimal point is in fractions of the frame (e.g. \"bay1:10,20,100,80;door:0.5,0,0.5,1.0\"); "
          "changeable while playing",
          NULL, (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));
  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "JSON file of the regions: {\"regions\": [{\"type\": \"bay1\", \"x\": 10, \"y\": 20, \"w\": 100, \"h\": 80}]}, "
          "read at start",
          NULL, (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));

  gst_element_class_set_static_metadata (element_class, "Torch fixed regions",
      "Filter/Analyzer/Video",
      "Attaches fixed regions of interest (GstVideoRegionOfInterestMeta) to every frame",
      "torchanalytics developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  trans_class->start = GST_DEBUG_FUNCPTR (gst_torch_regions_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_torch_regions_stop);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_torch_regions_set_caps);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_torch_regions_transform_ip);
  trans_class->passthrough_on_same_caps = FALSE;
}

static void
gst_torch_regions_init (GstTorchRegions * self)
{
  self->priv = new GstTorchRegionsPrivate ();
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
}
