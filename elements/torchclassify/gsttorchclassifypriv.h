/* torchanalytics: torchclassify's private state, shared by its two source files
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * gsttorchclassify.cpp holds the GObject side (properties, start and stop);
 * gsttorchclassifystream.cpp the buffer flow (submit, the source-pad task, events, queries).
 */
#pragma once

#include <gst/base/gstbasetransform.h>
#include <gst/video/video.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "engine.h"
#include "gsttorchclassify.h"
#include "gsttorchcudainput.h"
#include "labels.h"
#include "preprocess.h"
#include "scheduler.h"

GST_DEBUG_CATEGORY_EXTERN (gst_torch_classify_debug);

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
#define DEFAULT_BATCH_SIZE 0
/* batch-size=0 (auto): up to this many frames a forward, taken from what is queued. */
#define AUTO_BATCH_SIZE 8
#define DEFAULT_BATCH_TIMEOUT 0
#define DEFAULT_INTERVAL 1
#define DEFAULT_MODE GST_TORCH_MODE_AUTO

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
  std::vector<double> mean { 0.485, 0.456, 0.406 };
  std::vector<double> std { 0.229, 0.224, 0.225 };
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
  /* the caps' frame rate, for the latency query (application threads) */
  gint fps_n = 0, fps_d = 1;

  /* Set in start() (before any buffer) and read by both streaming threads. */
  std::shared_ptr<ta::Engine> engine;
  std::string model_name;
  std::vector<std::string> labels;
  ta::PreprocessConfig pre;
  ta::Activation act = ta::Activation::Softmax;
  int run_top_k = DEFAULT_TOP_K;
  float run_threshold = 0.f;
  bool run_post_messages = false;
  int run_batch_size = AUTO_BATCH_SIZE;
  bool run_auto_batch = true;
  bool run_private_engine = true;  /* no model-instance-id: only this element fills batches */
  int run_interval = DEFAULT_INTERVAL;
  GstTorchMode run_mode = DEFAULT_MODE;

  /* Set by set_caps on the sink's streaming thread while nothing waits (serialized events
   * drain first), read by the source-pad task through the scheduler's lock. */
  GstVideoInfo info;
  bool have_info = false;
  bool mode_resolved = false;

  /* Frames in order between the streaming thread (push) and the source-pad task (pop);
   * each GstBuffer in it is owned by it. */
  std::unique_ptr<ta::Scheduler> sched;
  /* What the source-pad task last got from downstream: returned upstream from the chain. */
  std::atomic<GstFlowReturn> src_ret { GST_FLOW_OK };

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

/* gsttorchclassifystream.cpp */
void gst_torch_classify_install_stream_vfuncs (GstBaseTransformClass * klass);
void gst_torch_classify_start_task (GstTorchClassify * self);
void gst_torch_classify_stop_task (GstTorchClassify * self);
/* The scheduler of a new element: its frames are GstBuffers. */
std::unique_ptr<ta::Scheduler> gst_torch_classify_make_scheduler (GstTorchClassify * self);
