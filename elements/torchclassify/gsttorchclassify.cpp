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
#include "gsttorcherror.h"

#include <gst/video/video.h>

#include <array>
#include <atomic>
#include <cmath>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "gsttorchclassificationmeta.h"
#include "gsttorchframe.h"
#include "engine.h"
#include "labels.h"
#include "model.h"
#include "preprocess.h"
#include "gsttorchcudainput.h"
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
};

#define DEFAULT_ARCHITECTURE GST_TORCH_ARCHITECTURE_RESNET50
#define DEFAULT_NUM_CLASSES 1000
#define DEFAULT_STRICT TRUE
#define DEFAULT_DEVICE "auto"
#define DEFAULT_PRECISION GST_TORCH_PRECISION_AUTO
#define DEFAULT_RESIZE_SIZE 256
#define DEFAULT_CROP_SIZE 224
#define DEFAULT_RESIZE_MODE GST_TORCH_RESIZE_MODE_CENTER_CROP
#define DEFAULT_ANTIALIAS TRUE
#define DEFAULT_TOP_K 5
#define DEFAULT_THRESHOLD 0.0
#define DEFAULT_ACTIVATION GST_TORCH_ACTIVATION_SOFTMAX
#define DEFAULT_POST_MESSAGES FALSE
#define DEFAULT_BATCH_SIZE 1
#define DEFAULT_BATCH_TIMEOUT 0
#define DEFAULT_INTERVAL 1
#define DEFAULT_MODE GST_TORCH_MODE_AUTO

static const double kDefaultMean[3] = { 0.485, 0.456, 0.406 };
static const double kDefaultStd[3] = { 0.229, 0.224, 0.225 };

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

/* Everything C++ lives here: the GObject struct only points at it. */
struct GstTorchClassifyPrivate {
  /* properties, guarded by the object lock */
  std::string weights_location;
  std::string model_location;
  std::string labels_location;
  std::string device = DEFAULT_DEVICE;
  GstTorchArchitecture architecture = DEFAULT_ARCHITECTURE;
  gint num_classes = DEFAULT_NUM_CLASSES;
  gboolean strict = DEFAULT_STRICT;
  GstTorchPrecision precision = DEFAULT_PRECISION;
  gint resize_size = DEFAULT_RESIZE_SIZE;
  gint crop_size = DEFAULT_CROP_SIZE;
  GstTorchResizeMode resize_mode = DEFAULT_RESIZE_MODE;
  std::vector<double> mean { kDefaultMean, kDefaultMean + 3 };
  std::vector<double> std { kDefaultStd, kDefaultStd + 3 };
  gboolean antialias = DEFAULT_ANTIALIAS;
  gint top_k = DEFAULT_TOP_K;
  gdouble threshold = DEFAULT_THRESHOLD;
  GstTorchActivation activation = DEFAULT_ACTIVATION;
  gboolean post_messages = DEFAULT_POST_MESSAGES;
  gint batch_size = DEFAULT_BATCH_SIZE;
  gint batch_timeout = DEFAULT_BATCH_TIMEOUT;
  gint interval = DEFAULT_INTERVAL;
  GstTorchMode mode = DEFAULT_MODE;
  std::string model_instance_id;

  /* streaming state, set in start() and set_caps(), used by the streaming thread */
  std::shared_ptr<ta::Engine> engine;
  std::string model_name;
  int run_batch_size = 1;
  int run_interval = 1;
  GstTorchMode run_mode = DEFAULT_MODE;
  bool live = false;            /* the resolved mode: live, or sync */
  bool mode_resolved = false;
  guint64 frame_index = 0;      /* frames since start or the last flush */

  /* sync mode: buffers wait here, in order, for their results */
  struct Pending {
    GstBuffer *buf;
    std::shared_ptr<ta::Ticket> ticket;
    GstClockTime source_pts;    /* GST_CLOCK_TIME_NONE: the result is this buffer's own */
  };
  std::deque<Pending> pending;
  int pending_own = 0;          /* entries with a ticket of their own */
  std::shared_ptr<ta::Ticket> last_ticket;
  GstClockTime last_pts = GST_CLOCK_TIME_NONE;
  std::atomic<bool> flushing { false };

  /* live mode: the frame in the model, and the newest finished result */
  std::shared_ptr<ta::Ticket> live_ticket;
  GstClockTime live_ticket_pts = GST_CLOCK_TIME_NONE;
  ta::TopLogits latest_result;
  GstClockTime latest_pts = GST_CLOCK_TIME_NONE;

  std::vector<std::string> labels;
  ta::PreprocessConfig pre;
  ta::Activation act = ta::Activation::Softmax;
  int run_top_k = DEFAULT_TOP_K;
  float run_threshold = 0.f;
  bool run_post_messages = false;
  GstVideoInfo info;
  bool have_info = false;
  std::vector<float> input;

#ifdef TA_HAVE_GST_CUDA
  /* zero-copy input: the context shared with the decoders, and whether the caps carry
   * memory:CUDAMemory */
  TorchCudaInput cuda;
  bool cuda_caps = false;
  bool warned_copy = false;
#endif
};

struct _GstTorchClassify {
  GstBaseTransform parent;
  GstTorchClassifyPrivate *priv;
};

#define gst_torch_classify_parent_class parent_class
G_DEFINE_TYPE (GstTorchClassify, gst_torch_classify, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (torchclassify, "torchclassify", GST_RANK_NONE, GST_TYPE_TORCH_CLASSIFY);

/* ---- enums --------------------------------------------------------------- */

GType
gst_torch_architecture_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_TORCH_ARCHITECTURE_RESNET18, "ResNet-18", "resnet18"},
    {GST_TORCH_ARCHITECTURE_RESNET34, "ResNet-34", "resnet34"},
    {GST_TORCH_ARCHITECTURE_RESNET50, "ResNet-50", "resnet50"},
    {GST_TORCH_ARCHITECTURE_RESNET101, "ResNet-101", "resnet101"},
    {GST_TORCH_ARCHITECTURE_RESNET152, "ResNet-152", "resnet152"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstTorchArchitecture", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

GType
gst_torch_precision_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_TORCH_PRECISION_AUTO, "fp16 on CUDA, fp32 on the CPU", "auto"},
    {GST_TORCH_PRECISION_FP32, "32-bit float", "fp32"},
    {GST_TORCH_PRECISION_FP16, "16-bit float (CUDA only)", "fp16"},
    {GST_TORCH_PRECISION_BF16, "bfloat16", "bf16"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstTorchPrecision", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

GType
gst_torch_resize_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_TORCH_RESIZE_MODE_CENTER_CROP,
        "Shorter side to resize-size, then the centre crop-size square (torchvision)", "center-crop"},
    {GST_TORCH_RESIZE_MODE_STRETCH, "Whole frame to crop-size x crop-size, aspect not kept", "stretch"},
    {GST_TORCH_RESIZE_MODE_LETTERBOX, "Longer side to crop-size, aspect kept, black bars", "letterbox"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstTorchResizeMode", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

GType
gst_torch_activation_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_TORCH_ACTIVATION_SOFTMAX, "Softmax over the classes (scores sum to 1)", "softmax"},
    {GST_TORCH_ACTIVATION_SIGMOID, "Sigmoid per class (multi-label)", "sigmoid"},
    {GST_TORCH_ACTIVATION_NONE, "The model's raw outputs", "none"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstTorchActivation", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

GType
gst_torch_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_TORCH_MODE_AUTO, "live when the upstream is live, else sync", "auto"},
    {GST_TORCH_MODE_SYNC, "Every frame waits for its own result (files)", "sync"},
    {GST_TORCH_MODE_LIVE,
        "Frames never wait: each gets the newest finished result (cameras)", "live"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstTorchMode", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

/* ---- properties ---------------------------------------------------------- */

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
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_torch_classify_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstTorchClassify *self = GST_TORCH_CLASSIFY (object);
  GstTorchClassifyPrivate *p = self->priv;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
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
  p->pre.antialias = p->antialias;
  p->act = (ta::Activation) p->activation;
  p->run_top_k = p->top_k;
  p->run_threshold = (float) p->threshold;
  p->run_post_messages = p->post_messages;
  eo->batch_size = p->batch_size;
  eo->batch_timeout_ms = p->batch_timeout;
  *instance_id = p->model_instance_id;
  p->run_batch_size = p->batch_size;
  p->run_interval = p->interval;
  p->run_mode = p->mode;
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

static void clear_pending (GstTorchClassifyPrivate * p);

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
    ta::Model & model = p->engine->model ();
    for (const auto &s : report.infos)
      GST_INFO_OBJECT (self, "%s", s.c_str ());
    for (const auto &s : report.warnings)
      GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS, ("%s", s.c_str ()), (NULL));
    p->labels = ta::default_or_file_labels (labels_location, model.num_classes ());
    p->model_name = model.name ();
    GST_INFO_OBJECT (self, "%s (%d classes) from %s on %s, %s, batch %d", p->model_name.c_str (),
        model.num_classes (), report.source.c_str (), model.device ().c_str (),
        ta::precision_name (model.precision ()), p->run_batch_size);
    p->mode_resolved = false;
    p->frame_index = 0;
    p->flushing = false;
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

  clear_pending (p);
  /* The engine (and its model) goes when the last element using it lets go. */
  p->engine.reset ();
  p->labels.clear ();
  p->have_info = false;
  return TRUE;
}

static gboolean
gst_torch_classify_set_caps (GstBaseTransform * trans, GstCaps * incaps, GstCaps * outcaps)
{
  GstTorchClassify *self = GST_TORCH_CLASSIFY (trans);
  GstTorchClassifyPrivate *p = self->priv;

  (void) outcaps;
  if (!gst_video_info_from_caps (&p->info, incaps)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Could not parse the video caps."),
        ("caps: %" GST_PTR_FORMAT, incaps));
    p->have_info = false;
    return FALSE;
  }
  p->have_info = true;
#ifdef TA_HAVE_GST_CUDA
  GstCapsFeatures *features = gst_caps_get_features (incaps, 0);
  p->cuda_caps = features && gst_caps_features_contains (features, GST_CAPS_FEATURE_MEMORY_CUDA_MEMORY);
  if (p->cuda_caps && !(p->engine && p->engine->model ().gpu_preprocessing ())) {
    /* transform_caps offers CUDA memory only with the model on the GPU. */
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Frames in CUDA memory need the model on the "
            "GPU: set device=cuda (or auto on a machine with a GPU), or put cudadownload before "
            "torchclassify."), ("caps: %" GST_PTR_FORMAT, incaps));
    return FALSE;
  }
  p->warned_copy = false;
#endif
  GST_DEBUG_OBJECT (self, "caps %" GST_PTR_FORMAT, incaps);
  return TRUE;
}

/* ---- streaming ----------------------------------------------------------- */


static void
post_result_message (GstTorchClassify * self, GstBuffer * buf, GstClockTime source_pts,
    const std::vector<ta::Prediction> & preds)
{
  GstTorchClassifyPrivate *p = self->priv;
  GValue ids = G_VALUE_INIT, labels = G_VALUE_INIT, scores = G_VALUE_INIT;

  g_value_init (&ids, GST_TYPE_ARRAY);
  g_value_init (&labels, GST_TYPE_ARRAY);
  g_value_init (&scores, GST_TYPE_ARRAY);
  for (const auto &pr : preds) {
    GValue v = G_VALUE_INIT;
    g_value_init (&v, G_TYPE_INT);
    g_value_set_int (&v, pr.class_id);
    gst_value_array_append_and_take_value (&ids, &v);
    g_value_init (&v, G_TYPE_STRING);
    g_value_set_string (&v, p->labels[pr.class_id].c_str ());
    gst_value_array_append_and_take_value (&labels, &v);
    g_value_init (&v, G_TYPE_DOUBLE);
    g_value_set_double (&v, pr.score);
    gst_value_array_append_and_take_value (&scores, &v);
  }
  GstSegment *seg = &GST_BASE_TRANSFORM (self)->segment;
  GstClockTime pts = GST_BUFFER_PTS (buf);
  GstStructure *s = gst_structure_new ("torchclassify",
      "timestamp", G_TYPE_UINT64, pts,
      "stream-time", G_TYPE_UINT64, gst_segment_to_stream_time (seg, GST_FORMAT_TIME, pts),
      "running-time", G_TYPE_UINT64, gst_segment_to_running_time (seg, GST_FORMAT_TIME, pts),
      "duration", G_TYPE_UINT64, GST_BUFFER_DURATION (buf),
      "model", G_TYPE_STRING, p->model_name.c_str (), NULL);
  if (GST_CLOCK_TIME_IS_VALID (source_pts))
    gst_structure_set (s, "source-pts", G_TYPE_UINT64, source_pts, NULL);
  gst_structure_take_value (s, "class-ids", &ids);
  gst_structure_take_value (s, "labels", &labels);
  gst_structure_take_value (s, "scores", &scores);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

/* The normalized model input of one buffer. Throws ta::Error (Stream). */
static std::vector<float>
preprocess_buffer (GstTorchClassify * self, GstBuffer * buf)
{
  GstTorchClassifyPrivate *p = self->priv;
  GstVideoFrame frame;

  if (!gst_video_frame_map (&frame, &p->info, buf, GST_MAP_READ))
    throw ta::Error (ta::ErrorKind::Stream, "A buffer of " + std::to_string (gst_buffer_get_size (buf)) +
        " bytes is smaller than its caps say (" + std::to_string (GST_VIDEO_INFO_SIZE (&p->info)) +
        " bytes for " + std::to_string (GST_VIDEO_INFO_WIDTH (&p->info)) + "x" +
        std::to_string (GST_VIDEO_INFO_HEIGHT (&p->info)) + " " + GST_VIDEO_INFO_NAME (&p->info) +
        "): fix the element upstream.");
  std::vector<float> input ((size_t) 3 * p->pre.crop_size * p->pre.crop_size);
  try {
    ta::FrameView view;
    frame_view_from (&frame, &view);
    ta::preprocess (view, p->pre, input.data ());
  } catch (const std::invalid_argument & e) {
    gst_video_frame_unmap (&frame);
    throw ta::Error (ta::ErrorKind::Stream, "A frame could not be read.", e.what ());
  }
  gst_video_frame_unmap (&frame);
  return input;
}

/* Gives one buffer to the model: preprocessed here on the CPU, or, when the model runs on
 * a GPU of a CUDA build, copied as it is for the GPU kernel. Throws ta::Error. */
static std::shared_ptr<ta::Ticket>
submit_buffer (GstTorchClassify * self, GstBuffer * buf)
{
  GstTorchClassifyPrivate *p = self->priv;

  if (!p->engine->model ().gpu_preprocessing ())
    return p->engine->submit (preprocess_buffer (self, buf), p->run_top_k);
#ifdef TA_HAVE_GST_CUDA
  if (p->cuda_caps) {
    /* Zero-copy: the kernel reads the decoder's memory where it is. */
    ta::FrameView dview;
    std::string why;
    std::shared_ptr<void> hold = p->cuda.map (buf, p->info, &dview, &why);
    if (hold)
      return p->engine->submit_frame (dview, p->pre, p->run_top_k, std::move (hold));
    if (!p->warned_copy) {
      p->warned_copy = true;
      GST_ELEMENT_WARNING (self, STREAM, FORMAT, ("Frames in CUDA memory are copied through "
              "the host: %s.", why.c_str ()), ("Let the decoder use torchclassify's CUDA "
              "context (it does when both are in one pipeline and none was set by the application)."));
    }
  }
#endif
  /* The mapped frame travels with its ticket: the worker copies it into pinned memory
   * for the upload, and the mapping (and the ref on the buffer) goes when its batch ran. */
  auto *frame = new GstVideoFrame;
  if (!gst_video_frame_map (frame, &p->info, buf, GST_MAP_READ)) {
    delete frame;
    throw ta::Error (ta::ErrorKind::Stream, "A buffer of " + std::to_string (gst_buffer_get_size (buf)) +
        " bytes is smaller than its caps say: fix the element upstream.");
  }
  std::shared_ptr<void> hold (frame, [](void *f) {
    gst_video_frame_unmap (static_cast<GstVideoFrame *> (f));
    delete static_cast<GstVideoFrame *> (f);
  });
  ta::FrameView view;
  frame_view_from (frame, &view);
  return p->engine->submit_frame (view, p->pre, p->run_top_k, std::move (hold));
}

/* Attaches the result computed on the frame of `source_pts` (NONE: this buffer's own).
 * `buf` must be writable. */
static void
attach_result (GstTorchClassify * self, GstBuffer * buf, const ta::TopLogits & logits,
    GstClockTime source_pts)
{
  GstTorchClassifyPrivate *p = self->priv;
  const std::vector<ta::Prediction> preds = ta::postprocess (logits, p->act, p->run_top_k,
      p->run_threshold);
  GstTorchClassificationMeta *meta = gst_buffer_add_torch_classification_meta (buf,
      p->model_name.c_str (), 0, 0, GST_VIDEO_INFO_WIDTH (&p->info),
      GST_VIDEO_INFO_HEIGHT (&p->info));
  meta->source_pts = source_pts;
  for (const auto &pr : preds)
    gst_torch_classification_meta_add_label (meta, pr.class_id, p->labels[pr.class_id].c_str (),
        pr.score);
  GST_LOG_OBJECT (self, "%" GST_TIME_FORMAT ": %s %.4f (from %" GST_TIME_FORMAT ")",
      GST_TIME_ARGS (GST_BUFFER_PTS (buf)), preds.empty ()? "-" : p->labels[preds[0].class_id].c_str (),
      preds.empty ()? 0.0 : preds[0].score, GST_TIME_ARGS (source_pts));
  if (p->run_post_messages)
    post_result_message (self, buf, source_pts, preds);
}

static void
clear_pending (GstTorchClassifyPrivate * p)
{
  for (auto &e : p->pending)
    gst_buffer_unref (e.buf);
  p->pending.clear ();
  p->pending_own = 0;
  p->last_ticket.reset ();
  p->last_pts = GST_CLOCK_TIME_NONE;
  p->live_ticket.reset ();
  p->latest_result = ta::TopLogits ();
  p->latest_pts = GST_CLOCK_TIME_NONE;
  p->frame_index = 0;
}

/* mode=auto: live when the upstream says it is live (the latency query). */
static void
resolve_mode (GstTorchClassify * self)
{
  GstTorchClassifyPrivate *p = self->priv;

  if (p->mode_resolved)
    return;
  p->mode_resolved = true;
  if (p->run_mode != GST_TORCH_MODE_AUTO) {
    p->live = p->run_mode == GST_TORCH_MODE_LIVE;
    return;
  }
  GstQuery *q = gst_query_new_latency ();
  gboolean live = FALSE;
  if (gst_pad_peer_query (GST_BASE_TRANSFORM_SINK_PAD (self), q))
    gst_query_parse_latency (q, &live, NULL, NULL);
  gst_query_unref (q);
  p->live = live;
  GST_INFO_OBJECT (self, "mode=auto: the upstream is %slive, running in %s mode", live ? "" : "not ",
      live ? "live" : "sync");
}

static GstFlowReturn
gst_torch_classify_submit_input_buffer (GstBaseTransform * trans, gboolean is_discont,
    GstBuffer * buf)
{
  GstTorchClassify *self = GST_TORCH_CLASSIFY (trans);
  GstTorchClassifyPrivate *p = self->priv;

  (void) is_discont;
  if (!p->have_info || !p->engine) {
    gst_buffer_unref (buf);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("No caps or no model before the first buffer."), (NULL));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  resolve_mode (self);
  const bool due = p->frame_index++ % (guint64) p->run_interval == 0;

  try {
    if (p->live) {
      /* Hand the newest frame to the model when our previous one is done. */
      if (p->live_ticket && p->live_ticket->ready ()) {
        if (!p->live_ticket->error ().empty ())
          throw ta::Error (ta::ErrorKind::Stream, "The model failed on a frame.", p->live_ticket->error ());
        p->latest_result = p->live_ticket->result ();
        p->latest_pts = p->live_ticket_pts;
        p->live_ticket.reset ();
      }
      if (!p->live_ticket && due) {
        p->live_ticket = submit_buffer (self, buf);
        p->live_ticket_pts = GST_BUFFER_PTS (buf);
      }
      p->pending.push_back ({buf, nullptr, GST_CLOCK_TIME_NONE});
      return GST_FLOW_OK;
    }
    if (due || !p->last_ticket) {
      p->last_ticket = submit_buffer (self, buf);
      p->last_pts = GST_BUFFER_PTS (buf);
      p->pending.push_back ({buf, p->last_ticket, GST_CLOCK_TIME_NONE});
      p->pending_own++;
    } else {
      /* interval: this frame gets the result of the last classified one */
      p->pending.push_back ({buf, p->last_ticket, p->last_pts});
    }
    return GST_FLOW_OK;
  } catch (const ta::Error & e) {
    post_core_error (self, e);
  }
  gst_buffer_unref (buf);
  return GST_FLOW_ERROR;
}

/* Pops the head of the queue with its result attached; blocks for it when `block`. */
static GstFlowReturn
pop_ready (GstTorchClassify * self, bool block, GstBuffer ** outbuf)
{
  GstTorchClassifyPrivate *p = self->priv;

  *outbuf = NULL;
  if (p->pending.empty ())
    return GST_FLOW_OK;
  GstTorchClassifyPrivate::Pending head = p->pending.front ();

  if (p->live) {
    p->pending.pop_front ();
    GstBuffer *buf = gst_buffer_make_writable (head.buf);
    if (!p->latest_result.empty ())
      attach_result (self, buf, p->latest_result, p->latest_pts);
    *outbuf = buf;
    return GST_FLOW_OK;
  }

  if (!head.ticket->ready ()) {
    if (!block)
      return GST_FLOW_OK;
    p->engine->flush ();
    if (!head.ticket->wait (&p->flushing))
      return GST_FLOW_FLUSHING;
  }
  if (!head.ticket->error ().empty ()) {
    const ta::Error e (ta::ErrorKind::Stream, "The model failed on a frame.", head.ticket->error ());
    post_core_error (self, e);
    return GST_FLOW_ERROR;
  }
  p->pending.pop_front ();
  if (head.source_pts == GST_CLOCK_TIME_NONE)
    p->pending_own--;
  GstBuffer *buf = gst_buffer_make_writable (head.buf);
  attach_result (self, buf, head.ticket->result (), head.source_pts);
  *outbuf = buf;
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_torch_classify_generate_output (GstBaseTransform * trans, GstBuffer ** outbuf)
{
  GstTorchClassify *self = GST_TORCH_CLASSIFY (trans);
  GstTorchClassifyPrivate *p = self->priv;

  /* sync: a full batch is waited for; a partial one waits for more frames (or EOS). */
  const bool block = p->pending_own >= p->run_batch_size;
  return pop_ready (self, block, outbuf);
}

/* Pushes every waiting buffer, in order, before a serialized event goes on. */
static GstFlowReturn
drain (GstTorchClassify * self)
{
  GstTorchClassifyPrivate *p = self->priv;
  GstFlowReturn ret = GST_FLOW_OK;

  if (p->engine)
    p->engine->flush ();
  while (!p->pending.empty () && ret == GST_FLOW_OK) {
    GstBuffer *out = NULL;
    ret = pop_ready (self, true, &out);
    if (out)
      ret = gst_pad_push (GST_BASE_TRANSFORM_SRC_PAD (self), out);
  }
  return ret;
}

static gboolean
gst_torch_classify_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstTorchClassify *self = GST_TORCH_CLASSIFY (trans);
  GstTorchClassifyPrivate *p = self->priv;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_START:
      /* Wakes the streaming thread if it waits for a result. */
      p->flushing = true;
      if (p->engine)
        p->engine->wake_all ();
      break;
    case GST_EVENT_FLUSH_STOP:
      clear_pending (p);
      p->flushing = false;
      break;
    case GST_EVENT_STREAM_START:
      /* A new stream (a reconnected camera, the next file): results of the old one must
       * not be attached to its frames. What waits is pushed first, in order. */
      if (!p->pending.empty ())
        drain (self);
      clear_pending (p);
      break;
    default:
      if (GST_EVENT_IS_SERIALIZED (event) && !p->pending.empty ()) {
        GstFlowReturn ret = drain (self);
        if (ret != GST_FLOW_OK && ret != GST_FLOW_FLUSHING)
          GST_DEBUG_OBJECT (self, "draining before %s: %s", GST_EVENT_TYPE_NAME (event),
              gst_flow_get_name (ret));
      }
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

/* Sync mode with batch-size N holds up to N - 1 frames before a forward (at most
 * batch-timeout when set): downstream must know, or a synchronized sink finds live frames
 * late. Live mode holds nothing. */
static gboolean
gst_torch_classify_query (GstBaseTransform * trans, GstPadDirection direction, GstQuery * query)
{
  GstTorchClassify *self = GST_TORCH_CLASSIFY (trans);
  GstTorchClassifyPrivate *p = self->priv;

#ifdef TA_HAVE_GST_CUDA
  if (GST_QUERY_TYPE (query) == GST_QUERY_CONTEXT && p->cuda.handle_query (GST_ELEMENT (self), query))
    return TRUE;
#endif
  if (direction != GST_PAD_SRC || GST_QUERY_TYPE (query) != GST_QUERY_LATENCY)
    return GST_BASE_TRANSFORM_CLASS (parent_class)->query (trans, direction, query);

  if (!gst_pad_peer_query (GST_BASE_TRANSFORM_SINK_PAD (trans), query))
    return FALSE;
  gboolean live;
  GstClockTime min, max;
  gst_query_parse_latency (query, &live, &min, &max);
  GST_OBJECT_LOCK (self);
  const int batch = p->batch_size, timeout_ms = p->batch_timeout;
  const bool sync = p->mode == GST_TORCH_MODE_SYNC || (p->mode == GST_TORCH_MODE_AUTO && !live);
  GST_OBJECT_UNLOCK (self);
  GstClockTime ours = 0;
  if (sync && batch > 1 && p->have_info && GST_VIDEO_INFO_FPS_N (&p->info) > 0) {
    ours = gst_util_uint64_scale_int ((guint64) (batch - 1) * GST_SECOND, GST_VIDEO_INFO_FPS_D (&p->info),
        GST_VIDEO_INFO_FPS_N (&p->info));
    if (timeout_ms > 0)
      ours = MIN (ours, (GstClockTime) timeout_ms * GST_MSECOND);
  }
  GST_DEBUG_OBJECT (self, "latency: upstream %" GST_TIME_FORMAT ", ours %" GST_TIME_FORMAT,
      GST_TIME_ARGS (min), GST_TIME_ARGS (ours));
  gst_query_set_latency (query, live, min + ours,
      GST_CLOCK_TIME_IS_VALID (max) ? max + ours : GST_CLOCK_TIME_NONE);
  return TRUE;
}

#ifdef TA_HAVE_GST_CUDA
/* CUDA memory is offered only while a CUDA context is open (the model's device is a
 * GPU): otherwise decoders give system memory, as to any other element. */
static GstCaps *
gst_torch_classify_transform_caps (GstBaseTransform * trans, GstPadDirection direction,
    GstCaps * caps, GstCaps * filter)
{
  GstTorchClassify *self = GST_TORCH_CLASSIFY (trans);
  GstCaps *out = GST_BASE_TRANSFORM_CLASS (parent_class)->transform_caps (trans, direction,
      caps, filter);
  if (self->priv->cuda.is_open () || !out)
    return out;
  GstCaps *sys = gst_caps_new_empty ();
  for (guint i = 0; i < gst_caps_get_size (out); i++) {
    GstCapsFeatures *f = gst_caps_get_features (out, i);
    if (f && gst_caps_features_contains (f, GST_CAPS_FEATURE_MEMORY_CUDA_MEMORY))
      continue;
    sys = gst_caps_merge_structure_full (sys, gst_structure_copy (gst_caps_get_structure (out, i)),
        f ? gst_caps_features_copy (f) : NULL);
  }
  gst_caps_unref (out);
  return sys;
}

/* The CUDA context is made at NULL -> READY, before the decoders upstream open (a bin
 * changes its sinks first) and ask their neighbours for one. */
static GstStateChangeReturn
gst_torch_classify_change_state (GstElement * element, GstStateChange transition)
{
  GstTorchClassify *self = GST_TORCH_CLASSIFY (element);
  GstTorchClassifyPrivate *p = self->priv;

  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    GST_OBJECT_LOCK (self);
    const std::string device = p->device;
    GST_OBJECT_UNLOCK (self);
    const int index = ta::cuda::device_index (device);
    std::string why;
    if (index >= 0 && !p->cuda.open (element, index, &why))
      GST_INFO_OBJECT (self, "no zero-copy CUDA input: %s", why.c_str ());
  }
  GstStateChangeReturn ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (transition == GST_STATE_CHANGE_READY_TO_NULL)
    p->cuda.close ();
  return ret;
}
#endif

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

  GST_DEBUG_CATEGORY_INIT (gst_torch_classify_debug, "torchclassify", 0, "torchclassify");

  gobject_class->set_property = gst_torch_classify_set_property;
  gobject_class->get_property = gst_torch_classify_get_property;
  gobject_class->finalize = gst_torch_classify_finalize;

  g_object_class_install_property (gobject_class, PROP_WEIGHTS_LOCATION,
      g_param_spec_string ("weights-location", "Weights location",
          "torchvision state dict (torch.save(model.state_dict(), f)) loaded into 'architecture'",
          NULL, rw_ready));
  g_object_class_install_property (gobject_class, PROP_MODEL_LOCATION,
      g_param_spec_string ("model-location", "Model location",
          "TorchScript classifier (torch.jit.save) mapping float [N,3,H,W] to [N,C] scores",
          NULL, rw_ready));
  g_object_class_install_property (gobject_class, PROP_ARCHITECTURE,
      g_param_spec_enum ("architecture", "Architecture",
          "Built-in network for weights-location and the torch hub cache",
          GST_TYPE_TORCH_ARCHITECTURE, DEFAULT_ARCHITECTURE, rw_ready));
  g_object_class_install_property (gobject_class, PROP_NUM_CLASSES,
      g_param_spec_int ("num-classes", "Number of classes",
          "Outputs of the fc head of the built-in network (as model.fc = nn.Linear(..., N))",
          1, 1000000, DEFAULT_NUM_CLASSES, rw_ready));
  g_object_class_install_property (gobject_class, PROP_STRICT,
      g_param_spec_boolean ("strict", "Strict",
          "Refuse weights whose keys or shapes differ (false: load what matches, warn about the rest)",
          DEFAULT_STRICT, rw_ready));
  g_object_class_install_property (gobject_class, PROP_LABELS_LOCATION,
      g_param_spec_string ("labels-location", "Labels location",
          "File with one label per line (default: ImageNet-1k names for 1000 classes, else 'class N')",
          NULL, rw_ready));
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_string ("device", "Device",
          "Where the model runs: auto (CUDA when available), cpu, cuda or cuda:N",
          DEFAULT_DEVICE, rw_ready));
  g_object_class_install_property (gobject_class, PROP_PRECISION,
      g_param_spec_enum ("precision", "Precision", "Arithmetic of the model",
          GST_TYPE_TORCH_PRECISION, DEFAULT_PRECISION, rw_ready));
  g_object_class_install_property (gobject_class, PROP_RESIZE_SIZE,
      g_param_spec_int ("resize-size", "Resize size",
          "Shorter side of the frame after resizing, in pixels (center-crop mode)",
          1, 16384, DEFAULT_RESIZE_SIZE, rw_ready));
  g_object_class_install_property (gobject_class, PROP_CROP_SIZE,
      g_param_spec_int ("crop-size", "Crop size", "Side of the square model input, in pixels",
          1, 8192, DEFAULT_CROP_SIZE, rw_ready));
  g_object_class_install_property (gobject_class, PROP_RESIZE_MODE,
      g_param_spec_enum ("resize-mode", "Resize mode", "How the frame is fitted to the model input",
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
      g_param_spec_enum ("activation", "Activation", "Function applied to the model outputs",
          GST_TYPE_TORCH_ACTIVATION, DEFAULT_ACTIVATION, rw_ready));
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Also post an element message 'torchclassify' per classified frame on the bus",
          DEFAULT_POST_MESSAGES, rw_ready));

  g_object_class_install_property (gobject_class, PROP_BATCH_SIZE,
      g_param_spec_int ("batch-size", "Batch size",
          "Frames run through the model in one forward pass (sync mode waits for a full batch)",
          1, 1024, DEFAULT_BATCH_SIZE, rw_ready));
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
          "sync: each frame waits for its own result; live: frames never wait (newest result attached)",
          GST_TYPE_TORCH_MODE, DEFAULT_MODE, rw_ready));
  g_object_class_install_property (gobject_class, PROP_MODEL_INSTANCE_ID,
      g_param_spec_string ("model-instance-id", "Model instance id",
          "Elements of a process with the same id share one loaded model and one batching queue",
          NULL, rw_ready));

  gst_element_class_set_static_metadata (element_class, "Torch classifier",
      "Filter/Analyzer/Video",
      "Classifies video frames with a ResNet or TorchScript model through LibTorch "
      "and attaches the top-k classes as metadata",
      "torchanalytics developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  trans_class->start = GST_DEBUG_FUNCPTR (gst_torch_classify_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_torch_classify_stop);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_torch_classify_set_caps);
  trans_class->submit_input_buffer = GST_DEBUG_FUNCPTR (gst_torch_classify_submit_input_buffer);
  trans_class->generate_output = GST_DEBUG_FUNCPTR (gst_torch_classify_generate_output);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_torch_classify_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_torch_classify_query);
#ifdef TA_HAVE_GST_CUDA
  trans_class->transform_caps = GST_DEBUG_FUNCPTR (gst_torch_classify_transform_caps);
  element_class->change_state = GST_DEBUG_FUNCPTR (gst_torch_classify_change_state);
#endif
  trans_class->passthrough_on_same_caps = FALSE;
  trans_class->transform_ip_on_passthrough = FALSE;

  gst_type_mark_as_plugin_api (GST_TYPE_TORCH_ARCHITECTURE, (GstPluginAPIFlags) 0);
  gst_type_mark_as_plugin_api (GST_TYPE_TORCH_PRECISION, (GstPluginAPIFlags) 0);
  gst_type_mark_as_plugin_api (GST_TYPE_TORCH_RESIZE_MODE, (GstPluginAPIFlags) 0);
  gst_type_mark_as_plugin_api (GST_TYPE_TORCH_ACTIVATION, (GstPluginAPIFlags) 0);
  gst_type_mark_as_plugin_api (GST_TYPE_TORCH_MODE, (GstPluginAPIFlags) 0);
}

static void
gst_torch_classify_init (GstTorchClassify * self)
{
  self->priv = new GstTorchClassifyPrivate ();
  gst_video_info_init (&self->priv->info);
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self), FALSE);
}
