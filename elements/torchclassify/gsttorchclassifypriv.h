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
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine.h"
#include "gsttorchclassify.h"
#include "gsttorchcudainput.h"
#include "labels.h"
#include "preprocess.h"
#include "regions.h"
#include "scheduler.h"
#include "stats.h"

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
#define DEFAULT_STATS_INTERVAL 0
#define DEFAULT_INFERENCE_REGION GST_TORCH_INFERENCE_REGION_FULL_FRAME
#define DEFAULT_ROI_MIN_SIZE 0
/* As many regions as two batches of the auto batch size: a detector's usual few faces or
 * cars all pass, a runaway one (10,000 boxes) costs two forwards a frame. */
#define DEFAULT_MAX_ROIS 16

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
  GstTorchInferenceRegion inference_region = DEFAULT_INFERENCE_REGION;
  std::string object_class;
  gint roi_min_size = DEFAULT_ROI_MIN_SIZE;
  gint max_rois = DEFAULT_MAX_ROIS;
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
  bool run_roi_list = false;
  ta::RegionSettings run_regions;

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

  /* Model updates and stats (gsttorchclassify.cpp). `live_engine` is `engine` while the
   * element runs, guarded by the object lock: property setters and the stats readers on
   * application threads take it from there. */
  std::shared_ptr<ta::Engine> live_engine;
  int swap_listener = 0;
  std::string run_resize_mode = "center-crop";  /* the resize-mode nick, for the meta */
  gint stats_interval = DEFAULT_STATS_INTERVAL; /* ms, object lock */
  std::thread stats_thread;
  std::mutex stats_mu;
  std::condition_variable stats_cv;
  bool stats_stop = false;      /* stats_mu */
  /* counters since start(); the scheduler counts frames in and out */
  guint64 last_result_pts = G_MAXUINT64;        /* the source-pad task's */
  std::atomic<guint64> regions_classified { 0 };
  std::atomic<guint64> regions_skipped { 0 };
  ta::SlidingWindow latency_ns { 1024 };        /* frame -> result, own results only */

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
/* gsttorchclassify.cpp: the `stats` structure ("torchclassify-stats"), and the counters
 * of classified and skipped regions (for the regions path). */
GstStructure *gst_torch_classify_make_stats (GstTorchClassify * self);
void gst_torch_classify_count_regions (GstTorchClassify * self, guint64 classified, guint64 skipped);
/* The labels for a result of `model` (a swapped-in model brings its own). */
const std::vector<std::string> &gst_torch_classify_labels_for (GstTorchClassify * self,
    const ta::ModelInfo * model);
/* The top-k as the arrays "labels", "class-ids", "scores" of a structure (gsttorchclassifyregions.cpp). */
void gst_torch_classify_take_result_arrays (GstStructure * s, const std::vector<std::string> & names,
    const std::vector<ta::Prediction> & preds);
/* The scheduler of a new element: its frames are GstBuffers. */
std::unique_ptr<ta::Scheduler> gst_torch_classify_make_scheduler (GstTorchClassify * self);
/* A host buffer's frame copied into the engine's staging pool (the GPU path): the buffer
 * is unmapped and not held when this returns. Throws ta::Error (Stream). */
ta::StagedFrame gst_torch_classify_stage_buffer (GstTorchClassify * self, GstBuffer * buf);

/* gsttorchclassifyregions.cpp: inference-region=roi-list */
/* One job per selected GstVideoRegionOfInterestMeta of `buf`, as one ta::JobGroup (no
 * region: a group of none, ready at once). Throws ta::Error. */
std::shared_ptr<ta::Job> gst_torch_classify_submit_regions (GstTorchClassify * self, GstBuffer * buf,
    std::function<void()> notify);
/* Attaches the region results of `job` (this buffer's own, or borrowed from the frame of
 * `source_pts`) and posts the frame's message; `buf` must be writable. */
void gst_torch_classify_attach_regions (GstTorchClassify * self, GstBuffer * buf,
    const std::shared_ptr<ta::Job> & job, bool has_result, GstClockTime source_pts);
