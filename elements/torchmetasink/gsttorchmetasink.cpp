/* torchanalytics: torchmetasink, classification results as JSON Lines
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-torchmetasink
 * @title: torchmetasink
 * @see_also: torchclassify
 *
 * Writes one JSON object per line for every video buffer it receives: the stream name,
 * the frame number, the timestamp, the frame size and the classification metas
 * (#GstTorchClassificationMeta) that torchclassify attached, one entry per classified
 * region with its labels, highest score first. A buffer without a meta still gives a
 * line, with an empty "classifications" array, so the output has one line per frame.
 *
 * Each line is written whole and flushed at once, so a reader that follows the file
 * (`tail -f`) never sees half a line, and nothing is lost at EOS or when the pipeline
 * stops.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! torchclassify ! torchmetasink location=out.jsonl
 * ]| Classifies every frame of in.mp4 and writes the results to out.jsonl.
 * |[
 * gst-launch-1.0 -q v4l2src ! videoconvert ! torchclassify ! torchmetasink stream-name=cam0
 * ]| Prints the results of a camera on stdout.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gsttorchmetasink.h"

#include "gsttorchclassificationmeta.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_STATIC (gst_torch_meta_sink_debug);
#define GST_CAT_DEFAULT gst_torch_meta_sink_debug

enum
{
  PROP_0,
  PROP_LOCATION,
  PROP_STREAM_NAME,
};

namespace {

/* Properties (guarded by the object lock) and the state of the streaming thread. */
struct TorchMetaSinkPrivate
{
  /* properties */
  std::string location;         /* "" or "-": stdout */
  bool location_set = false;
  std::string stream_name;
  bool stream_name_set = false;

  /* streaming state: set up in start(), used by the streaming thread only */
  FILE *file = nullptr;
  bool owns_file = false;       /* false for stdout, which we flush but never close */
  std::string path;             /* what error messages call the output */
  std::string stream_id;        /* from the last STREAM_START event */
  guint64 frame = 0;
  gint width = -1;              /* -1: not in the caps */
  gint height = -1;
};

bool
is_stdout (const std::string & location)
{
  return location.empty () || location == "-";
}

/* Scores are floats: their shortest double spelling is noise (0.8123f is
 * 0.81230002641677856), so keep six decimals, ample for a probability. */
double
round_score (gfloat score)
{
  return std::round (static_cast<double> (score) * 1e6) / 1e6;
}

nlohmann::ordered_json
meta_to_json (const GstTorchClassificationMeta * m)
{
  nlohmann::ordered_json c;
  c["model"] = m->model ? m->model : "";
  if (GST_CLOCK_TIME_IS_VALID (m->source_pts))
    c["source-pts"] = static_cast<guint64> (m->source_pts);
  c["roi"] = nlohmann::ordered_json {
    {"x", m->x}, {"y", m->y}, {"w", m->width}, {"h", m->height}
  };

  /* The meta API asks for highest score first, but the schema promises it: do not
   * trust the producer, sort a copy (stable, so equal scores keep their order).
   * NaN compares as -inf: the order stays strict-weak, and NaN goes last. */
  std::vector<const GstTorchClassLabel *> labels;
  labels.reserve (m->n_labels);
  for (guint i = 0; i < m->n_labels; i++)
    labels.push_back (&m->labels[i]);
  std::stable_sort (labels.begin (), labels.end (),
      [](const GstTorchClassLabel * a, const GstTorchClassLabel * b) {
        auto key =[](gfloat s) {
          return std::isnan (s) ? -INFINITY : s;
        };
        return key (a->score) > key (b->score);
      });

  nlohmann::ordered_json arr = nlohmann::ordered_json::array ();
  for (const GstTorchClassLabel *l : labels) {
    arr.push_back (nlohmann::ordered_json {
          {"id", l->class_id},
          {"label", l->label ? l->label : ""},
          {"score", round_score (l->score)}
        });
  }
  c["labels"] = std::move (arr);
  return c;
}

}  // namespace

struct _GstTorchMetaSink
{
  GstBaseSink parent;

  TorchMetaSinkPrivate *priv;
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("video/x-raw(ANY)"));

#define gst_torch_meta_sink_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstTorchMetaSink, gst_torch_meta_sink, GST_TYPE_BASE_SINK,
    GST_DEBUG_CATEGORY_INIT (gst_torch_meta_sink_debug, "torchmetasink", 0,
        "Classification results as JSON Lines"));
GST_ELEMENT_REGISTER_DEFINE (torchmetasink, "torchmetasink", GST_RANK_NONE,
    GST_TYPE_TORCH_META_SINK);

static void gst_torch_meta_sink_finalize (GObject * object);
static void gst_torch_meta_sink_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_torch_meta_sink_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static gboolean gst_torch_meta_sink_start (GstBaseSink * sink);
static gboolean gst_torch_meta_sink_stop (GstBaseSink * sink);
static gboolean gst_torch_meta_sink_set_caps (GstBaseSink * sink, GstCaps * caps);
static gboolean gst_torch_meta_sink_event (GstBaseSink * sink, GstEvent * event);
static GstFlowReturn gst_torch_meta_sink_render (GstBaseSink * sink, GstBuffer * buffer);

static void
gst_torch_meta_sink_class_init (GstTorchMetaSinkClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *basesink_class = GST_BASE_SINK_CLASS (klass);

  gobject_class->finalize = gst_torch_meta_sink_finalize;
  gobject_class->set_property = gst_torch_meta_sink_set_property;
  gobject_class->get_property = gst_torch_meta_sink_get_property;

  /**
   * GstTorchMetaSink:location:
   *
   * The file the JSON Lines go to, created or truncated when the element starts.
   * Unset, empty or "-" is stdout.
   */
  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "File to write the JSON Lines to (truncated on start; unset, empty or \"-\": stdout)",
          NULL,
          (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY)));

  /**
   * GstTorchMetaSink:stream-name:
   *
   * The value of the "stream" member of every line. Unset (or empty): the upstream
   * stream-id of the STREAM_START event, or the element name when there is none.
   */
  g_object_class_install_property (gobject_class, PROP_STREAM_NAME,
      g_param_spec_string ("stream-name", "Stream name",
          "Value of the \"stream\" member of each line (unset: the upstream stream-id)",
          NULL, (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_set_static_metadata (element_class,
      "Torch classification metadata sink", "Sink/Metadata",
      "Writes the classification metas of each video frame as one JSON object per line",
      "torchanalytics developers");

  basesink_class->start = GST_DEBUG_FUNCPTR (gst_torch_meta_sink_start);
  basesink_class->stop = GST_DEBUG_FUNCPTR (gst_torch_meta_sink_stop);
  basesink_class->set_caps = GST_DEBUG_FUNCPTR (gst_torch_meta_sink_set_caps);
  basesink_class->event = GST_DEBUG_FUNCPTR (gst_torch_meta_sink_event);
  basesink_class->render = GST_DEBUG_FUNCPTR (gst_torch_meta_sink_render);
}

static void
gst_torch_meta_sink_init (GstTorchMetaSink * self)
{
  self->priv = new TorchMetaSinkPrivate ();
  /* Like filesink: writing metadata need not wait for the clock. */
  gst_base_sink_set_sync (GST_BASE_SINK (self), FALSE);
}

static void
gst_torch_meta_sink_finalize (GObject * object)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (object);

  /* stop() closes the file; this only guards against a sink disposed while started. */
  if (self->priv->file && self->priv->owns_file)
    fclose (self->priv->file);
  delete self->priv;
  self->priv = nullptr;

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_torch_meta_sink_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (object);
  TorchMetaSinkPrivate *priv = self->priv;

  switch (prop_id) {
    case PROP_LOCATION:{
      const gchar *s = g_value_get_string (value);
      GST_OBJECT_LOCK (self);
      /* Read in start(): a new value takes effect the next time the sink starts. */
      priv->location_set = s != NULL;
      priv->location = s ? s : "";
      GST_OBJECT_UNLOCK (self);
      break;
    }
    case PROP_STREAM_NAME:{
      const gchar *s = g_value_get_string (value);
      GST_OBJECT_LOCK (self);
      priv->stream_name_set = s != NULL;
      priv->stream_name = s ? s : "";
      GST_OBJECT_UNLOCK (self);
      break;
    }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_torch_meta_sink_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (object);
  TorchMetaSinkPrivate *priv = self->priv;

  switch (prop_id) {
    case PROP_LOCATION:
      GST_OBJECT_LOCK (self);
      g_value_set_string (value, priv->location_set ? priv->location.c_str () : NULL);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_STREAM_NAME:
      GST_OBJECT_LOCK (self);
      g_value_set_string (value,
          priv->stream_name_set ? priv->stream_name.c_str () : NULL);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static gboolean
gst_torch_meta_sink_start (GstBaseSink * sink)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (sink);
  TorchMetaSinkPrivate *priv = self->priv;
  std::string location;

  GST_OBJECT_LOCK (self);
  location = priv->location;
  GST_OBJECT_UNLOCK (self);

  priv->frame = 0;
  priv->width = priv->height = -1;
  priv->stream_id.clear ();

  if (is_stdout (location)) {
    priv->file = stdout;
    priv->owns_file = false;
    priv->path = "stdout";
  } else {
    FILE *f = fopen (location.c_str (), "w");
    if (!f) {
      const int errsv = errno;
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
          ("Could not open \"%s\" for writing: %s.", location.c_str (),
              g_strerror (errsv)), ("fopen (\"%s\", \"w\") failed: %s",
              location.c_str (), g_strerror (errsv)));
      return FALSE;
    }
    priv->file = f;
    priv->owns_file = true;
    priv->path = location;
  }

  GST_INFO_OBJECT (self, "writing JSON Lines to %s", priv->path.c_str ());
  return TRUE;
}

static gboolean
gst_torch_meta_sink_stop (GstBaseSink * sink)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (sink);
  TorchMetaSinkPrivate *priv = self->priv;

  if (priv->file) {
    /* Lines are flushed as they are written: a failure here is the close itself
     * (e.g. a network file system reporting a delayed write error). It is reported,
     * but like filesink the sink still stops: the file is gone either way. */
    int rc = priv->owns_file ? fclose (priv->file) : fflush (priv->file);
    if (rc != 0) {
      const int errsv = errno;
      GST_ELEMENT_ERROR (self, RESOURCE, CLOSE,
          ("Could not close \"%s\": %s.", priv->path.c_str (), g_strerror (errsv)),
          (NULL));
    }
    priv->file = nullptr;
    priv->owns_file = false;
  }
  GST_INFO_OBJECT (self, "wrote %" G_GUINT64_FORMAT " lines", priv->frame);
  return TRUE;
}

static gboolean
gst_torch_meta_sink_set_caps (GstBaseSink * sink, GstCaps * caps)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (sink);
  TorchMetaSinkPrivate *priv = self->priv;
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  gint w, h;

  /* The template takes any video/x-raw, even caps without a size: "width" and
   * "height" are then null in the output. */
  priv->width = gst_structure_get_int (s, "width", &w) ? w : -1;
  priv->height = gst_structure_get_int (s, "height", &h) ? h : -1;
  GST_DEBUG_OBJECT (self, "caps %" GST_PTR_FORMAT ": %dx%d", caps, priv->width,
      priv->height);
  return TRUE;
}

static gboolean
gst_torch_meta_sink_event (GstBaseSink * sink, GstEvent * event)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (sink);
  TorchMetaSinkPrivate *priv = self->priv;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START:{
      /* A sink pad stores a sticky event only after this handler accepted it, so
       * take the id from the event rather than from gst_pad_get_stream_id(). */
      const gchar *id = NULL;
      gst_event_parse_stream_start (event, &id);
      priv->stream_id = id ? id : "";
      GST_DEBUG_OBJECT (self, "stream-id %s", priv->stream_id.c_str ());
      break;
    }
    case GST_EVENT_EOS:
      if (priv->file && fflush (priv->file) != 0) {
        const int errsv = errno;
        GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
            ("Could not write to \"%s\": %s.", priv->path.c_str (),
                g_strerror (errsv)), (NULL));
      }
      break;
    default:
      break;
  }

  return GST_BASE_SINK_CLASS (parent_class)->event (sink, event);
}

/* The "stream" member: the property, else the upstream stream-id, else our name. */
static std::string
gst_torch_meta_sink_stream_name (GstTorchMetaSink * self)
{
  TorchMetaSinkPrivate *priv = self->priv;
  std::string name;

  GST_OBJECT_LOCK (self);
  if (priv->stream_name_set && !priv->stream_name.empty ())
    name = priv->stream_name;
  GST_OBJECT_UNLOCK (self);
  if (!name.empty ())
    return name;

  if (priv->stream_id.empty ()) {
    gchar *id = gst_pad_get_stream_id (GST_BASE_SINK_PAD (self));
    if (id)
      priv->stream_id = id;
    g_free (id);
  }
  if (!priv->stream_id.empty ())
    return priv->stream_id;

  gchar *ename = gst_element_get_name (GST_ELEMENT (self));
  name = ename;
  g_free (ename);
  return name;
}

static GstFlowReturn
gst_torch_meta_sink_render (GstBaseSink * sink, GstBuffer * buffer)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (sink);
  TorchMetaSinkPrivate *priv = self->priv;

  if (!priv->file) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("No file open for writing."),
        ("render called while the sink is not started"));
    return GST_FLOW_ERROR;
  }

  try {
    nlohmann::ordered_json j;
    j["stream"] = gst_torch_meta_sink_stream_name (self);
    j["frame"] = priv->frame;
    if (GST_BUFFER_PTS_IS_VALID (buffer))
      j["pts"] = static_cast<guint64> (GST_BUFFER_PTS (buffer));
    else
      j["pts"] = nullptr;
    if (priv->width >= 0)
      j["width"] = priv->width;
    else
      j["width"] = nullptr;
    if (priv->height >= 0)
      j["height"] = priv->height;
    else
      j["height"] = nullptr;

    nlohmann::ordered_json classifications = nlohmann::ordered_json::array ();
    gpointer state = NULL;
    GstTorchClassificationMeta *m;
    while ((m = gst_buffer_iterate_torch_classification_meta (buffer, &state)))
      classifications.push_back (meta_to_json (m));
    j["classifications"] = std::move (classifications);

    /* replace: a label that is not valid UTF-8 gets U+FFFD instead of an exception,
     * and the line stays valid JSON. */
    std::string line = j.dump (-1, ' ', false,
        nlohmann::json::error_handler_t::replace);
    line += '\n';

    GST_LOG_OBJECT (self, "frame %" G_GUINT64_FORMAT ": %s", priv->frame,
        line.c_str ());

    /* One fwrite of the whole line, then a flush: a reader never sees half a line,
     * and no line waits in the stdio buffer when the pipeline stops. */
    errno = 0;
    if (fwrite (line.data (), 1, line.size (), priv->file) != line.size ()
        || fflush (priv->file) != 0) {
      const int errsv = errno;
      clearerr (priv->file);
      GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
          ("Could not write to \"%s\": %s.", priv->path.c_str (),
              errsv ? g_strerror (errsv) : "short write"),
          ("frame %" G_GUINT64_FORMAT ", %" G_GSIZE_FORMAT " bytes", priv->frame,
              line.size ()));
      return GST_FLOW_ERROR;
    }
    priv->frame++;
  } catch (const std::exception & e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Could not write the results of frame %" G_GUINT64_FORMAT ".",
            priv->frame), ("%s", e.what ()));
    return GST_FLOW_ERROR;
  } catch (...) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Could not write the results of frame %" G_GUINT64_FORMAT ".",
            priv->frame), ("unknown exception"));
    return GST_FLOW_ERROR;
  }

  return GST_FLOW_OK;
}
