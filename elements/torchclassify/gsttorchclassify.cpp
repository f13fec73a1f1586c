/* torchanalytics: torchclassify
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-torchclassify
 * @title: torchclassify
 *
 * Classifies every video frame with a ResNet (torchvision weights) or any TorchScript
 * classifier through LibTorch, and attaches the top-k results to the buffer as a
 * #GstTorchClassificationMeta. Frames pass through untouched.
 *
 * The frame is preprocessed as the PyTorch docs' ResNet50 example does it on a PIL
 * image: Resize(256) (antialiased bilinear), CenterCrop(224), ToTensor(), Normalize().
 * YUV frames are resized plane by plane and converted with the caps' colorimetry.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! \
 *     torchclassify weights-location=resnet50.pth ! torchmetasink location=out.jsonl
 * ]|
 * Without weights-location or model-location the element loads the weights that
 * `torchvision.models.resnet50(pretrained=True)` cached in the torch hub cache.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gsttorchclassify.h"
#include "gsttorchclassifypriv.h"
#include "gsttorcherror.h"

#include <chrono>
#include <cmath>

#include "model.h"
#ifdef TA_HAVE_GST_CUDA
#include "preprocess_cuda.h"
#endif

GST_DEBUG_CATEGORY (gst_torch_classify_debug);
#define GST_CAT_DEFAULT gst_torch_classify_debug

enum {
  PROP_0,
  PROP_WEIGHTS_LOCATION,
  PROP_MODEL_LOCATION,
  PROP_ARCHITECTURE,
  PROP_NUM_CLASSES,
  PROP_STRICT,
  PROP_LABELS_LOCATION,
  PROP_DEVICE,
  PROP_PRECISION,
  PROP_RESIZE_SIZE,
  PROP_CROP_SIZE,
  PROP_RESIZE_MODE,
  PROP_MEAN,
  PROP_STD,
  PROP_ANTIALIAS,
  PROP_TOP_K,
  PROP_THRESHOLD,
  PROP_ACTIVATION,
  PROP_POST_MESSAGES,
  PROP_BATCH_SIZE,
  PROP_BATCH_TIMEOUT,
  PROP_INTERVAL,
  PROP_MODE,
  PROP_MODEL_INSTANCE_ID,
  PROP_STATS,
  PROP_STATS_INTERVAL,
  PROP_INFERENCE_REGION,
  PROP_OBJECT_CLASS,
  PROP_ROI_MIN_SIZE,
  PROP_MAX_ROIS,
};

#define CAPS_FORMATS "{ RGB, BGR, RGBA, BGRA, RGBx, BGRx, xRGB, xBGR, ARGB, ABGR, I420, NV12 }"

/* With the CUDA path and GStreamer's CUDA library, frames in CUDA memory (NVIDIA's
 * decoders) are offered too, first, and read in place on the GPU. */
#ifdef TA_HAVE_GST_CUDA
#define TA_CAPS \
    GST_VIDEO_CAPS_MAKE_WITH_FEATURES ("memory:CUDAMemory", TA_CUDA_CAPS_FORMATS) "; " \
    GST_VIDEO_CAPS_MAKE (CAPS_FORMATS)
#else
#define TA_CAPS GST_VIDEO_CAPS_MAKE (CAPS_FORMATS)
#endif
static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (TA_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (TA_CAPS));

#define gst_torch_classify_parent_class parent_class
G_DEFINE_TYPE (GstTorchClassify, gst_torch_classify, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (torchclassify, "torchclassify", GST_RANK_NONE, GST_TYPE_TORCH_CLASSIFY);

/* ---- enums --------------------------------------------------------------- */

/* The nicks are what gst-launch lines and gst-inspect show; what each value does is in the
 * property's blurb and on docs/elements/torchclassify.md. */
G_DEFINE_ENUM_TYPE (GstTorchArchitecture, gst_torch_architecture,
    G_DEFINE_ENUM_VALUE (GST_TORCH_ARCHITECTURE_RESNET18, "resnet18"),
    G_DEFINE_ENUM_VALUE (GST_TORCH_ARCHITECTURE_RESNET34, "resnet34"),
    G_DEFINE_ENUM_VALUE (GST_TORCH_ARCHITECTURE_RESNET50, "resnet50"),
    G_DEFINE_ENUM_VALUE (GST_TORCH_ARCHITECTURE_RESNET101, "resnet101"),
    G_DEFINE_ENUM_VALUE (GST_TORCH_ARCHITECTURE_RESNET152, "resnet152"));

G_DEFINE_ENUM_TYPE (GstTorchPrecision, gst_torch_precision,
    G_DEFINE_ENUM_VALUE (GST_TORCH_PRECISION_AUTO, "auto"),
    G_DEFINE_ENUM_VALUE (GST_TORCH_PRECISION_FP32, "fp32"),
    G_DEFINE_ENUM_VALUE (GST_TORCH_PRECISION_FP16, "fp16"),
    G_DEFINE_ENUM_VALUE (GST_TORCH_PRECISION_BF16, "bf16"));

G_DEFINE_ENUM_TYPE (GstTorchResizeMode, gst_torch_resize_mode,
    G_DEFINE_ENUM_VALUE (GST_TORCH_RESIZE_MODE_CENTER_CROP, "center-crop"),
    G_DEFINE_ENUM_VALUE (GST_TORCH_RESIZE_MODE_STRETCH, "stretch"),
    G_DEFINE_ENUM_VALUE (GST_TORCH_RESIZE_MODE_LETTERBOX, "letterbox"));

G_DEFINE_ENUM_TYPE (GstTorchActivation, gst_torch_activation,
    G_DEFINE_ENUM_VALUE (GST_TORCH_ACTIVATION_SOFTMAX, "softmax"),
    G_DEFINE_ENUM_VALUE (GST_TORCH_ACTIVATION_SIGMOID, "sigmoid"),
    G_DEFINE_ENUM_VALUE (GST_TORCH_ACTIVATION_NONE, "none"));

G_DEFINE_ENUM_TYPE (GstTorchMode, gst_torch_mode,
    G_DEFINE_ENUM_VALUE (GST_TORCH_MODE_AUTO, "auto"),
    G_DEFINE_ENUM_VALUE (GST_TORCH_MODE_SYNC, "sync"),
    G_DEFINE_ENUM_VALUE (GST_TORCH_MODE_LIVE, "live"));

G_DEFINE_ENUM_TYPE (GstTorchInferenceRegion, gst_torch_inference_region,
    G_DEFINE_ENUM_VALUE (GST_TORCH_INFERENCE_REGION_FULL_FRAME, "full-frame"),
    G_DEFINE_ENUM_VALUE (GST_TORCH_INFERENCE_REGION_ROI_LIST, "roi-list"));

/* ---- properties ---------------------------------------------------------- */

static void gst_torch_classify_request_swap (GstTorchClassify * self,
    const std::shared_ptr<ta::Engine> & engine);

static void
set_string (std::string & dst, const GValue * value)
{
  const gchar *s = g_value_get_string (value);
  dst = s ? s : "";
}

static void
set_triple (std::vector<double> &dst, const GValue * value)
{
  dst.clear ();
  for (guint i = 0; i < gst_value_array_get_size (value); i++) {
    const GValue *v = gst_value_array_get_value (value, i);
    if (G_VALUE_HOLDS_DOUBLE (v))
      dst.push_back (g_value_get_double (v));
    else if (G_VALUE_HOLDS_FLOAT (v))
      dst.push_back (g_value_get_float (v));
    else if (G_VALUE_HOLDS_INT (v))
      dst.push_back (g_value_get_int (v));
    else
      dst.push_back (NAN);      /* reported at start() */
  }
}

static void
get_triple (const std::vector<double> &src, GValue * value)
{
  for (double d : src) {
    GValue v = G_VALUE_INIT;
    g_value_init (&v, G_TYPE_DOUBLE);
    g_value_set_double (&v, d);
    gst_value_array_append_and_take_value (value, &v);
  }
}

static void
gst_torch_classify_set_property (GObject * object, guint prop_id, const GValue * value,
    GParamSpec * pspec)
{
  GstTorchClassify *self = GST_TORCH_CLASSIFY (object);
  GstTorchClassifyPrivate *p = self->priv;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_STATS_INTERVAL:
      p->stats_interval = g_value_get_int (value);
      GST_OBJECT_UNLOCK (self);
      {
        std::lock_guard<std::mutex> l (p->stats_mu);
        p->stats_cv.notify_all ();
      }
      return;
    case PROP_WEIGHTS_LOCATION: set_string (p->weights_location, value); break;
    case PROP_MODEL_LOCATION: set_string (p->model_location, value); break;
    case PROP_LABELS_LOCATION: set_string (p->labels_location, value); break;
    case PROP_DEVICE: set_string (p->device, value); break;
    case PROP_ARCHITECTURE: p->architecture = (GstTorchArchitecture) g_value_get_enum (value); break;
    case PROP_NUM_CLASSES: p->num_classes = g_value_get_int (value); break;
    case PROP_STRICT: p->strict = g_value_get_boolean (value); break;
    case PROP_PRECISION: p->precision = (GstTorchPrecision) g_value_get_enum (value); break;
    case PROP_RESIZE_SIZE: p->resize_size = g_value_get_int (value); break;
    case PROP_CROP_SIZE: p->crop_size = g_value_get_int (value); break;
    case PROP_RESIZE_MODE: p->resize_mode = (GstTorchResizeMode) g_value_get_enum (value); break;
    case PROP_MEAN: set_triple (p->mean, value); break;
    case PROP_STD: set_triple (p->std, value); break;
    case PROP_ANTIALIAS: p->antialias = g_value_get_boolean (value); break;
    case PROP_TOP_K: p->top_k = g_value_get_int (value); break;
    case PROP_THRESHOLD: p->threshold = g_value_get_double (value); break;
    case PROP_ACTIVATION: p->activation = (GstTorchActivation) g_value_get_enum (value); break;
    case PROP_POST_MESSAGES: p->post_messages = g_value_get_boolean (value); break;
    case PROP_BATCH_SIZE: p->batch_size = g_value_get_int (value); break;
    case PROP_BATCH_TIMEOUT: p->batch_timeout = g_value_get_int (value); break;
    case PROP_INTERVAL: p->interval = g_value_get_int (value); break;
    case PROP_MODE: p->mode = (GstTorchMode) g_value_get_enum (value); break;
    case PROP_MODEL_INSTANCE_ID: set_string (p->model_instance_id, value); break;
    case PROP_INFERENCE_REGION:
      p->inference_region = (GstTorchInferenceRegion) g_value_get_enum (value);
      break;
    case PROP_OBJECT_CLASS: set_string (p->object_class, value); break;
    case PROP_ROI_MIN_SIZE: p->roi_min_size = g_value_get_int (value); break;
    case PROP_MAX_ROIS: p->max_rois = g_value_get_int (value); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  std::shared_ptr<ta::Engine> running = p->live_engine;
  GST_OBJECT_UNLOCK (self);
  if (running && (prop_id == PROP_WEIGHTS_LOCATION || prop_id == PROP_MODEL_LOCATION ||
          prop_id == PROP_LABELS_LOCATION || prop_id == PROP_ARCHITECTURE ||
          prop_id == PROP_NUM_CLASSES))
    gst_torch_classify_request_swap (self, running);
}

static void
gst_torch_classify_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstTorchClassify *self = GST_TORCH_CLASSIFY (object);
  GstTorchClassifyPrivate *p = self->priv;

  if (prop_id == PROP_STATS) {
    /* Built without the object lock: it takes it itself. */
    g_value_take_boxed (value, gst_torch_classify_make_stats (self));
    return;
  }
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_STATS_INTERVAL: g_value_set_int (value, p->stats_interval); break;
    case PROP_WEIGHTS_LOCATION:
      g_value_set_string (value, p->weights_location.empty () ? NULL : p->weights_location.c_str ());
      break;
    case PROP_MODEL_LOCATION:
      g_value_set_string (value, p->model_location.empty () ? NULL : p->model_location.c_str ());
      break;
    case PROP_LABELS_LOCATION:
      g_value_set_string (value, p->labels_location.empty () ? NULL : p->labels_location.c_str ());
      break;
    case PROP_DEVICE: g_value_set_string (value, p->device.c_str ()); break;
    case PROP_ARCHITECTURE: g_value_set_enum (value, p->architecture); break;
    case PROP_NUM_CLASSES: g_value_set_int (value, p->num_classes); break;
    case PROP_STRICT: g_value_set_boolean (value, p->strict); break;
    case PROP_PRECISION: g_value_set_enum (value, p->precision); break;
    case PROP_RESIZE_SIZE: g_value_set_int (value, p->resize_size); break;
    case PROP_CROP_SIZE: g_value_set_int (value, p->crop_size); break;
    case PROP_RESIZE_MODE: g_value_set_enum (value, p->resize_mode); break;
    case PROP_MEAN: get_triple (p->mean, value); break;
    case PROP_STD: get_triple (p->std, value); break;
    case PROP_ANTIALIAS: g_value_set_boolean (value, p->antialias); break;
    case PROP_TOP_K: g_value_set_int (value, p->top_k); break;
    case PROP_THRESHOLD: g_value_set_double (value, p->threshold); break;
    case PROP_ACTIVATION: g_value_set_enum (value, p->activation); break;
    case PROP_POST_MESSAGES: g_value_set_boolean (value, p->post_messages); break;
    case PROP_BATCH_SIZE: g_value_set_int (value, p->batch_size); break;
    case PROP_BATCH_TIMEOUT: g_value_set_int (value, p->batch_timeout); break;
    case PROP_INTERVAL: g_value_set_int (value, p->interval); break;
    case PROP_MODE: g_value_set_enum (value, p->mode); break;
    case PROP_MODEL_INSTANCE_ID:
      g_value_set_string (value, p->model_instance_id.empty () ? NULL : p->model_instance_id.c_str ());
      break;
    case PROP_INFERENCE_REGION: g_value_set_enum (value, p->inference_region); break;
    case PROP_OBJECT_CLASS:
      g_value_set_string (value, p->object_class.empty () ? NULL : p->object_class.c_str ());
      break;
    case PROP_ROI_MIN_SIZE: g_value_set_int (value, p->roi_min_size); break;
    case PROP_MAX_ROIS: g_value_set_int (value, p->max_rois); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---- errors -------------------------------------------------------------- */

static void
post_core_error (GstTorchClassify * self, const ta::Error & e)
{
  gst_torch_post_core_error (GST_ELEMENT (self), e);
}

/* ---- life cycle ---------------------------------------------------------- */

static const char *
architecture_name (GstTorchArchitecture a)
{
  GEnumValue *v = g_enum_get_value ((GEnumClass *) g_type_class_peek (GST_TYPE_TORCH_ARCHITECTURE), a);
  return v ? v->value_nick : "resnet50";
}

/* Reads the properties into the configurations of the core; throws ta::Error. */
static void
snapshot_config (GstTorchClassify * self, ta::ModelConfig * mc, ta::EngineOptions * eo,
    std::string * instance_id, std::string * labels_location)
{
  GstTorchClassifyPrivate *p = self->priv;

  GST_OBJECT_LOCK (self);
  mc->weights_location = p->weights_location;
  mc->model_location = p->model_location;
  mc->architecture = architecture_name (p->architecture);
  mc->num_classes = p->num_classes;
  mc->strict = p->strict;
  mc->device = p->device;
  mc->precision = (ta::Precision) p->precision;
  *labels_location = p->labels_location;
  const std::vector<double> mean = p->mean, stdv = p->std;
  p->pre.resize_size = p->resize_size;
  p->pre.crop_size = p->crop_size;
  p->pre.mode = (ta::ResizeMode) p->resize_mode;
  {
    GEnumValue *v = g_enum_get_value ((GEnumClass *) g_type_class_peek (GST_TYPE_TORCH_RESIZE_MODE),
        p->resize_mode);
    p->run_resize_mode = v ? v->value_nick : "center-crop";
  }
  p->pre.antialias = p->antialias;
  p->act = (ta::Activation) p->activation;
  p->run_top_k = p->top_k;
  p->run_threshold = (float) p->threshold;
  p->run_post_messages = p->post_messages;
  /* auto: the engine takes what is queued when it is free; a sync-mode element keeps two
   * batches in flight, so one is preprocessed while the other runs. */
  p->run_auto_batch = p->batch_size == 0;
  eo->batch_size = p->run_auto_batch ? AUTO_BATCH_SIZE : p->batch_size;
  eo->greedy = p->run_auto_batch;
  eo->batch_timeout_ms = p->run_auto_batch ? 0 : p->batch_timeout;
  *instance_id = p->model_instance_id;
  p->run_batch_size = eo->batch_size;
  p->run_interval = p->interval;
  p->run_mode = p->mode;
  p->run_roi_list = p->inference_region == GST_TORCH_INFERENCE_REGION_ROI_LIST;
  p->run_regions.classes = ta::parse_classes (p->object_class);
  p->run_regions.min_size = p->roi_min_size;
  p->run_regions.max_rois = p->max_rois;
  GST_OBJECT_UNLOCK (self);

  mc->input_size = p->pre.crop_size;
  if (mean.size () != 3)
    throw ta::Error (ta::ErrorKind::Settings, "mean has " + std::to_string (mean.size ()) +
        " values but needs 3 (R, G, B), e.g. mean=\"<0.485,0.456,0.406>\".");
  if (stdv.size () != 3)
    throw ta::Error (ta::ErrorKind::Settings, "std has " + std::to_string (stdv.size ()) +
        " values but needs 3 (R, G, B), e.g. std=\"<0.229,0.224,0.225>\".");
  for (int i = 0; i < 3; i++) {
    p->pre.mean[i] = (float) mean[i];
    p->pre.std[i] = (float) stdv[i];
  }
  const std::string bad = ta::validate (p->pre);
  if (!bad.empty ())
    throw ta::Error (ta::ErrorKind::Settings, bad);
}

/* ---- model updates and stats --------------------------------------------- */

/* The properties a model update reads (weights-location, model-location, labels-location,
 * architecture, num-classes; the rest stays the running engine's). */
static void
swap_config (GstTorchClassify * self, ta::ModelConfig * mc, std::string * labels_location)
{
  GstTorchClassifyPrivate *p = self->priv;

  GST_OBJECT_LOCK (self);
  mc->weights_location = p->weights_location;
  mc->model_location = p->model_location;
  mc->architecture = architecture_name (p->architecture);
  mc->num_classes = p->num_classes;
  mc->strict = p->strict;
  mc->device = p->device;
  mc->precision = (ta::Precision) p->precision;
  *labels_location = p->labels_location;
  GST_OBJECT_UNLOCK (self);
}

/* One of the model properties changed while running: the engine loads the new model in
 * the background and swaps it in between two batches (the last request wins). */
static void
gst_torch_classify_request_swap (GstTorchClassify * self, const std::shared_ptr<ta::Engine> & engine)
{
  ta::ModelConfig mc;
  std::string labels_location;

  swap_config (self, &mc, &labels_location);
  GST_INFO_OBJECT (self, "model update requested: %s", !mc.model_location.empty () ?
      mc.model_location.c_str () : !mc.weights_location.empty () ? mc.weights_location.c_str () :
      "the torch hub cache");
  engine->request_swap (mc, labels_location, self);
}

/* What a swap did, on the engine's threads. Every element of a model-instance-id hears
 * of a swap and posts model-changed; a failed load is a warning on the element that
 * asked for it. */
static void
on_swap (GstTorchClassify * self, const ta::SwapEvent & ev)
{
  if (!ev.ok) {
    if (ev.requester != self)
      return;
    const std::string old = ev.old_model ? ev.old_model->name + " (sha256 " + ev.old_model->sha256 + ")" : "";
    GST_ELEMENT_WARNING (self, LIBRARY, INIT, ("The new model \"%s\" could not be loaded: %s "
            "The running model %s goes on.", ev.file.c_str (), ev.error.c_str (), old.c_str ()),
        ("model update failed: %s", ev.error.c_str ()));
    return;
  }
  GST_INFO_OBJECT (self, "model swapped: %s -> %s (%s, %.0f ms to load)",
      ev.old_model->sha256.c_str (), ev.new_model->sha256.c_str (), ev.new_model->source.c_str (),
      ev.new_model->load_ms);
  GstStructure *s = gst_structure_new ("model-changed",
      "old-model", G_TYPE_STRING, ev.old_model->name.c_str (),
      "old-sha256", G_TYPE_STRING, ev.old_model->sha256.c_str (),
      "new-model", G_TYPE_STRING, ev.new_model->name.c_str (),
      "new-sha256", G_TYPE_STRING, ev.new_model->sha256.c_str (),
      "location", G_TYPE_STRING, ev.new_model->source.c_str (),
      "num-classes", G_TYPE_INT, ev.new_model->num_classes,
      "load-time", G_TYPE_UINT64, (guint64) (ev.new_model->load_ms * 1e6),
      "requested-here", G_TYPE_BOOLEAN, ev.requester == self, NULL);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

const std::vector<std::string> &
gst_torch_classify_labels_for (GstTorchClassify * self, const ta::ModelInfo * model)
{
  /* A swapped-in model brings its labels; the first one runs with this element's own. */
  if (model && model->has_labels)
    return model->labels;
  return self->priv->labels;
}

void
gst_torch_classify_count_regions (GstTorchClassify * self, guint64 classified, guint64 skipped)
{
  self->priv->regions_classified += classified;
  self->priv->regions_skipped += skipped;
}

GstStructure *
gst_torch_classify_make_stats (GstTorchClassify * self)
{
  GstTorchClassifyPrivate *p = self->priv;

  GST_OBJECT_LOCK (self);
  std::shared_ptr<ta::Engine> engine = p->live_engine;
  GST_OBJECT_UNLOCK (self);
  const ta::SchedulerCounts c = p->sched->counts ();
  const bool live = p->sched->config ().live;
  ta::EngineStats es;
  std::shared_ptr<const ta::ModelInfo> model;
  if (engine) {
    es = engine->stats ();
    model = engine->model_info ();
  }
  return gst_structure_new ("torchclassify-stats",
      "frames-in", G_TYPE_UINT64, (guint64) c.in,
      "frames-out", G_TYPE_UINT64, (guint64) c.out,
      "frames-classified", G_TYPE_UINT64, (guint64) c.submitted,
      "results-borrowed-live", G_TYPE_UINT64, (guint64) (live ? c.borrowed : 0),
      "results-borrowed-interval", G_TYPE_UINT64, (guint64) (live ? 0 : c.borrowed),
      "frames-without-result", G_TYPE_UINT64, (guint64) c.without,
      "regions-classified", G_TYPE_UINT64, (guint64) p->regions_classified.load (),
      "regions-skipped", G_TYPE_UINT64, (guint64) p->regions_skipped.load (),
      "queue-depth", G_TYPE_UINT, (guint) c.queued,
      "batches", G_TYPE_UINT64, (guint64) es.batches,
      "batch-size", G_TYPE_INT, es.batch_size,
      "mean-batch-frames", G_TYPE_DOUBLE, es.mean_batch (),
      "mean-batch-fill", G_TYPE_DOUBLE, es.mean_fill (),
      "engine-queue-depth", G_TYPE_UINT, (guint) es.queued,
      "model-time-p50", G_TYPE_UINT64, (guint64) es.model_p50_ns,
      "model-time-p99", G_TYPE_UINT64, (guint64) es.model_p99_ns,
      "latency-p50", G_TYPE_UINT64, (guint64) p->latency_ns.quantile (0.5),
      "latency-p99", G_TYPE_UINT64, (guint64) p->latency_ns.quantile (0.99),
      "model-swaps", G_TYPE_UINT64, (guint64) es.swaps,
      "model", G_TYPE_STRING, model ? model->name.c_str () : "",
      "model-sha256", G_TYPE_STRING, model ? model->sha256.c_str () : "",
      "device", G_TYPE_STRING, model ? model->device.c_str () : "",
      "precision", G_TYPE_STRING, model ? ta::precision_name (model->precision) : "", NULL);
}

/* Posts `stats` every stats-interval ms (0: waits for the property to change). */
static void
stats_loop (GstTorchClassify * self)
{
  GstTorchClassifyPrivate *p = self->priv;
  std::unique_lock<std::mutex> l (p->stats_mu);

  while (!p->stats_stop) {
    GST_OBJECT_LOCK (self);
    const gint ms = p->stats_interval;
    GST_OBJECT_UNLOCK (self);
    if (ms <= 0) {
      p->stats_cv.wait (l);
      continue;
    }
    if (p->stats_cv.wait_for (l, std::chrono::milliseconds (ms)) == std::cv_status::timeout &&
        !p->stats_stop) {
      l.unlock ();
      gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self),
              gst_torch_classify_make_stats (self)));
      l.lock ();
    }
  }
}

static void
start_model_updates (GstTorchClassify * self)
{
  GstTorchClassifyPrivate *p = self->priv;

  p->last_result_pts = G_MAXUINT64;
  p->regions_classified = 0;
  p->regions_skipped = 0;
  p->latency_ns.clear ();
  p->swap_listener = p->engine->add_listener ([self](const ta::SwapEvent & ev) {
        on_swap (self, ev);
      });
  GST_OBJECT_LOCK (self);
  p->live_engine = p->engine;
  GST_OBJECT_UNLOCK (self);
  {
    std::lock_guard<std::mutex> l (p->stats_mu);
    p->stats_stop = false;
  }
  p->stats_thread = std::thread ([self] { stats_loop (self); });
}

static void
stop_model_updates (GstTorchClassify * self)
{
  GstTorchClassifyPrivate *p = self->priv;

  GST_OBJECT_LOCK (self);
  p->live_engine.reset ();
  GST_OBJECT_UNLOCK (self);
  if (p->engine && p->swap_listener)
    p->engine->remove_listener (p->swap_listener);
  p->swap_listener = 0;
  if (p->stats_thread.joinable ()) {
    {
      std::lock_guard<std::mutex> l (p->stats_mu);
      p->stats_stop = true;
      p->stats_cv.notify_all ();
    }
    p->stats_thread.join ();
  }
}

static gboolean
gst_torch_classify_start (GstBaseTransform * trans)
{
  GstTorchClassify *self = GST_TORCH_CLASSIFY (trans);
  GstTorchClassifyPrivate *p = self->priv;

  try {
    ta::ModelConfig mc;
    ta::EngineOptions eo;
    std::string instance_id, labels_location;
    snapshot_config (self, &mc, &eo, &instance_id, &labels_location);

    ta::LoadReport report;
    p->engine = ta::Engine::acquire (instance_id, mc, eo, &report);
    p->run_private_engine = instance_id.empty ();
    /* A shared engine may be swapping models: its description, not the model itself. */
    const std::shared_ptr<const ta::ModelInfo> model = p->engine->model_info ();
    for (const auto &s : report.infos)
      GST_INFO_OBJECT (self, "%s", s.c_str ());
    for (const auto &s : report.warnings)
      GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS, ("%s", s.c_str ()), (NULL));
    p->labels = ta::default_or_file_labels (labels_location, model->num_classes);
    p->model_name = model->name;
    GST_INFO_OBJECT (self, "%s (%d classes) from %s (sha256 %s) on %s, %s, batch %d",
        p->model_name.c_str (), model->num_classes, model->source.c_str (), model->sha256.c_str (),
        model->device.c_str (), ta::precision_name (model->precision), p->run_batch_size);
    p->mode_resolved = false;
    p->sched->clear ();
    p->src_ret = GST_FLOW_OK;
    start_model_updates (self);
    return TRUE;
  } catch (const ta::Error & e) {
    post_core_error (self, e);
  } catch (const std::exception & e) {
    GST_ELEMENT_ERROR (self, LIBRARY, INIT, ("Could not start the classifier."), ("%s", e.what ()));
  }
  p->engine.reset ();
  return FALSE;
}

static gboolean
gst_torch_classify_stop (GstBaseTransform * trans)
{
  GstTorchClassify *self = GST_TORCH_CLASSIFY (trans);
  GstTorchClassifyPrivate *p = self->priv;

  stop_model_updates (self);
  /* The source-pad task has stopped (change_state): what still waits is dropped. */
  p->sched->clear ();
  /* The engine (and its model) goes when the last element using it lets go. */
  p->engine.reset ();
  p->labels.clear ();
  GST_OBJECT_LOCK (self);
  p->have_info = false;
  p->fps_n = 0;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

/* The source-pad task pushes the frames whose results are ready, so that they leave
 * without waiting for the next input. It runs from READY->PAUSED to PAUSED->READY; before
 * the pads go inactive, everything waiting is woken. */
static GstStateChangeReturn
gst_torch_classify_change_state (GstElement * element, GstStateChange transition)
{
  GstTorchClassify *self = GST_TORCH_CLASSIFY (element);
  GstTorchClassifyPrivate *p = self->priv;

#ifdef TA_HAVE_GST_CUDA
  /* The CUDA context is made at NULL -> READY, before the decoders upstream open (a bin
   * changes its sinks first) and ask their neighbours for one. */
  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    GST_OBJECT_LOCK (self);
    const std::string device = p->device;
    GST_OBJECT_UNLOCK (self);
    const int index = ta::cuda::device_index (device);
    std::string why;
    if (index >= 0 && !p->cuda.open (element, index, &why))
      GST_INFO_OBJECT (self, "no zero-copy CUDA input: %s", why.c_str ());
  }
#endif
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED)
    p->sched->set_flushing (false);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    gst_torch_classify_stop_task (self);
  GstStateChangeReturn ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED && ret != GST_STATE_CHANGE_FAILURE)
    gst_torch_classify_start_task (self);
#ifdef TA_HAVE_GST_CUDA
  if (transition == GST_STATE_CHANGE_READY_TO_NULL)
    p->cuda.close ();
#endif
  return ret;
}

/* ---- GObject ------------------------------------------------------------- */

static void
gst_torch_classify_finalize (GObject * object)
{
  GstTorchClassify *self = GST_TORCH_CLASSIFY (object);

  delete self->priv;
  self->priv = NULL;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_torch_classify_class_init (GstTorchClassifyClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  const GParamFlags rw = (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const GParamFlags rw_ready = (GParamFlags) (rw | GST_PARAM_MUTABLE_READY);
  /* The model: changed while PLAYING, a new model is loaded in the background and swapped in. */
  const GParamFlags rw_playing = (GParamFlags) (rw | GST_PARAM_MUTABLE_PLAYING);

  GST_DEBUG_CATEGORY_INIT (gst_torch_classify_debug, "torchclassify", 0, "torchclassify");

  gobject_class->set_property = gst_torch_classify_set_property;
  gobject_class->get_property = gst_torch_classify_get_property;
  gobject_class->finalize = gst_torch_classify_finalize;

  g_object_class_install_property (gobject_class, PROP_WEIGHTS_LOCATION,
      g_param_spec_string ("weights-location", "Weights location",
          "torchvision state dict (torch.save(model.state_dict(), f)) loaded into 'architecture'",
          NULL, rw_playing));
  g_object_class_install_property (gobject_class, PROP_MODEL_LOCATION,
      g_param_spec_string ("model-location", "Model location",
          "TorchScript classifier (torch.jit.save) mapping float [N,3,H,W] to [N,C] scores",
          NULL, rw_playing));
  g_object_class_install_property (gobject_class, PROP_ARCHITECTURE,
      g_param_spec_enum ("architecture", "Architecture",
          "Built-in network for weights-location and the torch hub cache",
          GST_TYPE_TORCH_ARCHITECTURE, DEFAULT_ARCHITECTURE, rw_playing));
  g_object_class_install_property (gobject_class, PROP_NUM_CLASSES,
      g_param_spec_int ("num-classes", "Number of classes",
          "Outputs of the fc head of the built-in network (as model.fc = nn.Linear(..., N))",
          1, 1000000, DEFAULT_NUM_CLASSES, rw_playing));
  g_object_class_install_property (gobject_class, PROP_STRICT,
      g_param_spec_boolean ("strict", "Strict",
          "Refuse weights whose keys or shapes differ (false: load what matches, warn about the rest)",
          DEFAULT_STRICT, rw_ready));
  g_object_class_install_property (gobject_class, PROP_LABELS_LOCATION,
      g_param_spec_string ("labels-location", "Labels location",
          "File with one label per line (default: ImageNet-1k names for 1000 classes, else 'class N')",
          NULL, rw_playing));
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_string ("device", "Device",
          "Where the model runs: auto (CUDA when available), cpu, cuda or cuda:N",
          DEFAULT_DEVICE, rw_ready));
  g_object_class_install_property (gobject_class, PROP_PRECISION,
      g_param_spec_enum ("precision", "Precision",
          "Arithmetic of the model: auto (fp16 on CUDA, fp32 on the CPU), fp32, fp16 (CUDA), bf16",
          GST_TYPE_TORCH_PRECISION, DEFAULT_PRECISION, rw_ready));
  g_object_class_install_property (gobject_class, PROP_RESIZE_SIZE,
      g_param_spec_int ("resize-size", "Resize size",
          "Shorter side of the frame after resizing, in pixels (center-crop mode)",
          1, 16384, DEFAULT_RESIZE_SIZE, rw_ready));
  g_object_class_install_property (gobject_class, PROP_CROP_SIZE,
      g_param_spec_int ("crop-size", "Crop size", "Side of the square model input, in pixels",
          1, 8192, DEFAULT_CROP_SIZE, rw_ready));
  g_object_class_install_property (gobject_class, PROP_RESIZE_MODE,
      g_param_spec_enum ("resize-mode", "Resize mode",
          "Fitting to the input: center-crop (shorter side to resize-size, centre square; torchvision), "
          "stretch (aspect not kept), letterbox (aspect kept, black bars)",
          GST_TYPE_TORCH_RESIZE_MODE, DEFAULT_RESIZE_MODE, rw_ready));
  g_object_class_install_property (gobject_class, PROP_MEAN,
      gst_param_spec_array ("mean", "Mean",
          "Per-channel mean (R,G,B, in 0..1) subtracted after ToTensor, e.g. \"<0.485,0.456,0.406>\"",
          g_param_spec_double ("value", "Value", "One channel", -G_MAXDOUBLE, G_MAXDOUBLE, 0.0, rw),
          rw_ready));
  g_object_class_install_property (gobject_class, PROP_STD,
      gst_param_spec_array ("std", "Std",
          "Per-channel standard deviation (R,G,B) divided by, e.g. \"<0.229,0.224,0.225>\"",
          g_param_spec_double ("value", "Value", "One channel", -G_MAXDOUBLE, G_MAXDOUBLE, 1.0, rw),
          rw_ready));
  g_object_class_install_property (gobject_class, PROP_ANTIALIAS,
      g_param_spec_boolean ("antialias", "Antialias",
          "Antialiased (PIL-style) bilinear downscaling; false: plain bilinear",
          DEFAULT_ANTIALIAS, rw_ready));
  g_object_class_install_property (gobject_class, PROP_TOP_K,
      g_param_spec_int ("top-k", "Top k", "Number of best classes attached to each frame",
          1, 1000, DEFAULT_TOP_K, rw_ready));
  g_object_class_install_property (gobject_class, PROP_THRESHOLD,
      g_param_spec_double ("threshold", "Threshold",
          "Classes scoring below this (after activation) are not attached",
          -G_MAXDOUBLE, G_MAXDOUBLE, DEFAULT_THRESHOLD, rw_ready));
  g_object_class_install_property (gobject_class, PROP_ACTIVATION,
      g_param_spec_enum ("activation", "Activation",
          "Applied to the model outputs: softmax (scores sum to 1), sigmoid (multi-label), none (raw)",
          GST_TYPE_TORCH_ACTIVATION, DEFAULT_ACTIVATION, rw_ready));
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Also post an element message 'torchclassify' per classified frame on the bus",
          DEFAULT_POST_MESSAGES, rw_ready));

  g_object_class_install_property (gobject_class, PROP_BATCH_SIZE,
      g_param_spec_int ("batch-size", "Batch size",
          "Frames per forward pass; 0 (auto): up to 8, taken from what is queued when the model is "
          "free (no wait for a full batch); N: sync mode waits for N frames (or batch-timeout)",
          0, 1024, DEFAULT_BATCH_SIZE, rw_ready));
  g_object_class_install_property (gobject_class, PROP_BATCH_TIMEOUT,
      g_param_spec_int ("batch-timeout", "Batch timeout",
          "Longest wait for a partial batch to fill, in ms (0: until full, EOS or a serialized event)",
          0, 60000, DEFAULT_BATCH_TIMEOUT, rw_ready));
  g_object_class_install_property (gobject_class, PROP_INTERVAL,
      g_param_spec_int ("interval", "Interval",
          "Classify one frame in N; the others get the last result (marked with its source-pts)",
          1, 10000, DEFAULT_INTERVAL, rw_ready));
  g_object_class_install_property (gobject_class, PROP_MODE,
      g_param_spec_enum ("mode", "Mode",
          "auto (live when upstream is), sync: each frame waits for its own result (files); "
          "live: frames never wait, the newest result is attached (cameras)",
          GST_TYPE_TORCH_MODE, DEFAULT_MODE, rw_ready));
  g_object_class_install_property (gobject_class, PROP_MODEL_INSTANCE_ID,
      g_param_spec_string ("model-instance-id", "Model instance id",
          "Elements of a process with the same id share one loaded model and one batching queue",
          NULL, rw_ready));
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Stats",
          "Counters and timings since start (a GstStructure 'torchclassify-stats'; see the docs)",
          GST_TYPE_STRUCTURE, (GParamFlags) (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property (gobject_class, PROP_STATS_INTERVAL,
      g_param_spec_int ("stats-interval", "Stats interval",
          "Post the stats as an element message 'torchclassify-stats' every N ms (0: off)",
          0, 3600000, DEFAULT_STATS_INTERVAL, (GParamFlags) (rw | GST_PARAM_MUTABLE_PLAYING)));

  /* Regions (issue 11): docs/elements/torchclassify.md, "Regions". */
  g_object_class_install_property (gobject_class, PROP_INFERENCE_REGION,
      g_param_spec_enum ("inference-region", "Inference region",
          "full-frame: classify the frame; roi-list: classify each GstVideoRegionOfInterestMeta "
          "of the frame (a detector's boxes) instead",
          GST_TYPE_TORCH_INFERENCE_REGION, DEFAULT_INFERENCE_REGION, rw_ready));
  g_object_class_install_property (gobject_class, PROP_OBJECT_CLASS,
      g_param_spec_string ("object-class", "Object class",
          "roi-list: comma-separated roi types to classify, e.g. \"face\" or \"car,truck\" "
          "(empty: every type)", NULL, rw_ready));
  g_object_class_install_property (gobject_class, PROP_ROI_MIN_SIZE,
      g_param_spec_int ("roi-min-size", "ROI minimum size",
          "roi-list: regions narrower or lower than this, in pixels after clipping to the frame, "
          "are skipped (0: any size)", 0, G_MAXINT, DEFAULT_ROI_MIN_SIZE, rw_ready));
  g_object_class_install_property (gobject_class, PROP_MAX_ROIS,
      g_param_spec_int ("max-rois", "Maximum ROIs",
          "roi-list: most regions classified per frame, the largest first; the rest are skipped",
          0, 100000, DEFAULT_MAX_ROIS, rw_ready));

  gst_element_class_set_static_metadata (element_class, "Torch classifier",
      "Filter/Analyzer/Video",
      "Classifies video frames with a ResNet or TorchScript model through LibTorch "
      "and attaches the top-k classes as metadata",
      "torchanalytics developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_torch_classify_change_state);
  trans_class->start = GST_DEBUG_FUNCPTR (gst_torch_classify_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_torch_classify_stop);
  gst_torch_classify_install_stream_vfuncs (trans_class);
  trans_class->passthrough_on_same_caps = FALSE;
  trans_class->transform_ip_on_passthrough = FALSE;

  gst_type_mark_as_plugin_api (GST_TYPE_TORCH_ARCHITECTURE, (GstPluginAPIFlags) 0);
  gst_type_mark_as_plugin_api (GST_TYPE_TORCH_PRECISION, (GstPluginAPIFlags) 0);
  gst_type_mark_as_plugin_api (GST_TYPE_TORCH_RESIZE_MODE, (GstPluginAPIFlags) 0);
  gst_type_mark_as_plugin_api (GST_TYPE_TORCH_ACTIVATION, (GstPluginAPIFlags) 0);
  gst_type_mark_as_plugin_api (GST_TYPE_TORCH_MODE, (GstPluginAPIFlags) 0);
  gst_type_mark_as_plugin_api (GST_TYPE_TORCH_INFERENCE_REGION, (GstPluginAPIFlags) 0);
}

static void
gst_torch_classify_init (GstTorchClassify * self)
{
  self->priv = new GstTorchClassifyPrivate ();
  gst_video_info_init (&self->priv->info);
  self->priv->sched = gst_torch_classify_make_scheduler (self);
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self), FALSE);
}
