/* torchanalytics: torchclassify's buffer flow
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The GStreamer adapter over ta::Scheduler and ta::Engine. The sink pad's streaming thread
 * maps each frame, hands it to the scheduler (which submits it to the model or lets it
 * borrow a result) and returns; a task on the source pad pushes the frames, in order, as
 * soon as their results are ready. So a frame whose batch ran on a timeout, or the last
 * frames before a stall of the source, leave without waiting for another input, as frames
 * leave a decoder. Serialized events wait until every earlier frame has left.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gsttorchclassifypriv.h"
#include "gsttorcherror.h"
#include "gsttorchclassificationmeta.h"
#include "gsttorchframe.h"
#ifdef TA_HAVE_GST_CUDA
#include "preprocess_cuda.h"
#endif

#define GST_CAT_DEFAULT gst_torch_classify_debug
/* G_DEFINE_TYPE's parent_class is private to gsttorchclassify.cpp: the same class, peeked. */
#define parent_class g_type_class_peek (GST_TYPE_BASE_TRANSFORM)

static void
post_core_error (GstTorchClassify * self, const ta::Error & e)
{
  gst_torch_post_core_error (GST_ELEMENT (self), e);
}

/* ---- caps ---------------------------------------------------------------- */

static gboolean
gst_torch_classify_set_caps (GstBaseTransform * trans, GstCaps * incaps, GstCaps * outcaps)
{
  GstTorchClassify *self = GST_TORCH_CLASSIFY (trans);
  GstTorchClassifyPrivate *p = self->priv;
  GstVideoInfo info;

  (void) outcaps;
  if (!gst_video_info_from_caps (&info, incaps)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Could not parse the video caps."),
        ("caps: %" GST_PTR_FORMAT, incaps));
    return FALSE;
  }
#ifdef TA_HAVE_GST_CUDA
  GstCapsFeatures *features = gst_caps_get_features (incaps, 0);
  p->cuda_caps = features && gst_caps_features_contains (features, GST_CAPS_FEATURE_MEMORY_CUDA_MEMORY);
  if (p->cuda_caps && !(p->engine && p->engine->gpu_preprocessing ())) {
    /* transform_caps offers CUDA memory only with the model on the GPU. */
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Frames in CUDA memory need the model on the "
            "GPU: set device=cuda (or auto on a machine with a GPU), or put cudadownload before "
            "torchclassify."), ("caps: %" GST_PTR_FORMAT, incaps));
    return FALSE;
  }
  p->warned_copy = false;
#endif
  /* Nothing waits now (the caps event drained the queue): the task reads `info` only for
   * frames pushed after this. */
  p->info = info;
  GST_OBJECT_LOCK (self);
  p->have_info = true;
  p->fps_n = GST_VIDEO_INFO_FPS_N (&info);
  p->fps_d = GST_VIDEO_INFO_FPS_D (&info);
  GST_OBJECT_UNLOCK (self);
  GST_DEBUG_OBJECT (self, "caps %" GST_PTR_FORMAT, incaps);
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
#endif

/* ---- submitting ---------------------------------------------------------- */

static ta::Error
short_buffer_error (GstBuffer * buf, const GstVideoInfo * info)
{
  return ta::Error (ta::ErrorKind::Stream, "A buffer of " + std::to_string (gst_buffer_get_size (buf)) +
      " bytes is smaller than its caps say (" + std::to_string (GST_VIDEO_INFO_SIZE (info)) +
      " bytes for " + std::to_string (GST_VIDEO_INFO_WIDTH (info)) + "x" +
      std::to_string (GST_VIDEO_INFO_HEIGHT (info)) + " " + GST_VIDEO_INFO_NAME (info) +
      "): fix the element upstream.");
}

/* The normalized model input of one buffer. Throws ta::Error (Stream). */
static std::vector<float>
preprocess_buffer (GstTorchClassify * self, GstBuffer * buf)
{
  GstTorchClassifyPrivate *p = self->priv;
  GstVideoFrame frame;

  if (!gst_video_frame_map (&frame, &p->info, buf, GST_MAP_READ))
    throw short_buffer_error (buf, &p->info);
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

ta::StagedFrame
gst_torch_classify_stage_buffer (GstTorchClassify * self, GstBuffer * buf)
{
  GstTorchClassifyPrivate *p = self->priv;
  GstVideoFrame frame;

  if (!gst_video_frame_map (&frame, &p->info, buf, GST_MAP_READ))
    throw short_buffer_error (buf, &p->info);
  try {
    ta::FrameView view;
    frame_view_from (&frame, &view);
    ta::StagedFrame staged = p->engine->stage (view);
    gst_video_frame_unmap (&frame);
    return staged;
  } catch (...) {
    gst_video_frame_unmap (&frame);
    throw;
  }
}

/* Gives one buffer to the model: preprocessed here on the CPU, or, when the model runs on
 * a GPU of a CUDA build, handed over as it is for the GPU kernel. Throws ta::Error. */
static std::shared_ptr<ta::Job>
submit_buffer (GstTorchClassify * self, GstBuffer * buf, std::function<void()> notify)
{
  GstTorchClassifyPrivate *p = self->priv;
  /* The result's latency starts here (the meta's latency field). */
  const auto arrival = std::chrono::steady_clock::now ();

  if (!p->engine->gpu_preprocessing ())
    return p->engine->submit (preprocess_buffer (self, buf), p->run_top_k, std::move (notify),
        arrival);
#ifdef TA_HAVE_GST_CUDA
  if (p->cuda_caps) {
    /* Zero-copy: the kernel reads the decoder's memory where it is. */
    ta::FrameView dview;
    std::string why;
    std::shared_ptr<void> hold = p->cuda.map (buf, p->info, &dview, &why);
    if (hold)
      return p->engine->submit_frame (dview, p->pre, p->run_top_k, std::move (hold), std::move (notify),
          arrival);
    if (!p->warned_copy) {
      p->warned_copy = true;
      GST_ELEMENT_WARNING (self, STREAM, FORMAT, ("Frames in CUDA memory are copied through "
              "the host: %s.", why.c_str ()), ("Let the decoder use torchclassify's CUDA "
              "context (it does when both are in one pipeline and none was set by the application)."));
    }
  }
#endif
  /* Copied now into the engine's staging block (page-locked): the buffer goes on at once,
   * with no hold on it, so live mode pushes it without a copy and torchoverlay draws on it
   * in place; the worker uploads the block with one copy. */
  ta::StagedFrame staged = gst_torch_classify_stage_buffer (self, buf);
  return p->engine->submit_frame (staged.view, p->pre, p->run_top_k, std::move (staged.hold),
      std::move (notify), arrival);
}

std::unique_ptr<ta::Scheduler>
gst_torch_classify_make_scheduler (GstTorchClassify * self)
{
  return std::make_unique<ta::Scheduler>(
      [self](void *frame, std::function<void()> notify) {
        GstTorchClassifyPrivate *p = self->priv;
        GstBuffer *buf = static_cast<GstBuffer *> (frame);
        std::shared_ptr<ta::Job> job = p->run_roi_list ?
            gst_torch_classify_submit_regions (self, buf, std::move (notify)) :
            submit_buffer (self, buf, std::move (notify));
        /* Live mode has one frame in the model at a time: a private engine's batch would
         * never fill, so it runs at once (shared engines batch the other streams' frames). */
        if (p->sched->config ().live && p->run_private_engine)
          p->engine->flush ();
        return job;
      },
      [](void *frame) { gst_buffer_unref (static_cast<GstBuffer *> (frame)); });
}

/* mode=auto: live when the upstream says it is live (the latency query). */
static void
resolve_mode (GstTorchClassify * self)
{
  GstTorchClassifyPrivate *p = self->priv;

  if (p->mode_resolved)
    return;
  p->mode_resolved = true;
  bool live = p->run_mode == GST_TORCH_MODE_LIVE;
  if (p->run_mode == GST_TORCH_MODE_AUTO) {
    GstQuery *q = gst_query_new_latency ();
    gboolean is_live = FALSE;
    if (gst_pad_peer_query (GST_BASE_TRANSFORM_SINK_PAD (self), q))
      gst_query_parse_latency (q, &is_live, NULL, NULL);
    gst_query_unref (q);
    live = is_live;
    GST_INFO_OBJECT (self, "mode=auto: the upstream is %slive, running in %s mode",
        live ? "" : "not ", live ? "live" : "sync");
  }
  ta::SchedulerConfig c;
  c.live = live;
  c.interval = p->run_interval;
  c.max_own = p->run_auto_batch ? 2 * p->run_batch_size : p->run_batch_size;
  p->sched->configure (c);
  /* Frames carry any number of regions: the regions in flight when push() waits for room
   * may not fill a batch, which then runs partial. */
  if (p->run_roi_list)
    p->sched->set_stall_handler ([self] { self->priv->engine->flush (); });
  else
    p->sched->set_stall_handler (nullptr);
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
  GstFlowReturn ret = p->src_ret;
  if (ret != GST_FLOW_OK) {
    gst_buffer_unref (buf);
    return ret;
  }
  resolve_mode (self);
  try {
    if (p->sched->push (buf, GST_BUFFER_PTS (buf)))
      return GST_FLOW_OK;
    /* Flushing, or the task stopped on what downstream said. */
    gst_buffer_unref (buf);
    ret = p->src_ret;
    return ret != GST_FLOW_OK ? ret : GST_FLOW_FLUSHING;
  } catch (const ta::Error & e) {
    post_core_error (self, e);
  } catch (const std::exception & e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("A frame could not be classified."), ("%s", e.what ()));
  }
  gst_buffer_unref (buf);
  return GST_FLOW_ERROR;
}

/* Frames leave from the source-pad task: the chain only reports what that task met. */
static GstFlowReturn
gst_torch_classify_generate_output (GstBaseTransform * trans, GstBuffer ** outbuf)
{
  *outbuf = NULL;
  return GST_TORCH_CLASSIFY (trans)->priv->src_ret;
}

/* ---- results ------------------------------------------------------------- */

static void
post_result_message (GstTorchClassify * self, GstBuffer * buf, GstClockTime source_pts,
    const std::vector<ta::Prediction> & preds, const std::vector<std::string> & names,
    const char *model_name)
{
  GstSegment *seg = &GST_BASE_TRANSFORM (self)->segment;
  GstClockTime pts = GST_BUFFER_PTS (buf);
  GstStructure *s = gst_structure_new ("torchclassify",
      "timestamp", G_TYPE_UINT64, pts,
      "stream-time", G_TYPE_UINT64, gst_segment_to_stream_time (seg, GST_FORMAT_TIME, pts),
      "running-time", G_TYPE_UINT64, gst_segment_to_running_time (seg, GST_FORMAT_TIME, pts),
      "duration", G_TYPE_UINT64, GST_BUFFER_DURATION (buf),
      "model", G_TYPE_STRING, model_name, NULL);
  if (GST_CLOCK_TIME_IS_VALID (source_pts))
    gst_structure_set (s, "source-pts", G_TYPE_UINT64, source_pts, NULL);
  gst_torch_classify_take_result_arrays (s, names, preds);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
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
  /* The model that computed it (swaps change it between two batches) and its labels. */
  const ta::ModelInfo *model = logits.model.get ();
  const std::vector<std::string> &names = gst_torch_classify_labels_for (self, model);
  const char *model_name = model ? model->name.c_str () : p->model_name.c_str ();
  GstTorchClassificationMeta *meta = gst_buffer_add_torch_classification_meta (buf,
      model_name, 0, 0, GST_VIDEO_INFO_WIDTH (&p->info),
      GST_VIDEO_INFO_HEIGHT (&p->info));
  meta->source_pts = source_pts;
  for (const auto &pr : preds)
    gst_torch_classification_meta_add_label (meta, pr.class_id,
        pr.class_id < (int) names.size ()? names[pr.class_id].c_str () : NULL, pr.score);
  if (model)
    gst_torch_classification_meta_set_model_sha256 (meta, model->sha256.c_str ());
  if (logits.latency_ns >= 0)
    meta->latency = (GstClockTime) logits.latency_ns;
  gst_torch_classification_meta_set_preprocess (meta, p->pre.resize_size, p->pre.crop_size,
      p->run_resize_mode.c_str (), p->pre.mean.data (), p->pre.std.data ());
  GST_LOG_OBJECT (self, "%" GST_TIME_FORMAT ": %s %.4f (from %" GST_TIME_FORMAT ")",
      GST_TIME_ARGS (GST_BUFFER_PTS (buf)), preds.empty ()? "-" : meta->labels[0].label,
      preds.empty ()? 0.0 : preds[0].score, GST_TIME_ARGS (source_pts));
  if (p->run_post_messages)
    post_result_message (self, buf, source_pts, preds, names, model_name);
}

/* ---- the source-pad task ------------------------------------------------- */

/* Stops the output on `ret` from downstream (or a failed frame): the chain returns it
 * upstream, and whatever waits is woken. Fatal flows are posted, as a source would. */
static void
stop_output (GstTorchClassify * self, GstFlowReturn ret)
{
  GstTorchClassifyPrivate *p = self->priv;

  p->src_ret = ret;
  p->sched->set_flushing (true);
  if (ret == GST_FLOW_NOT_LINKED || ret < GST_FLOW_EOS)
    GST_ELEMENT_FLOW_ERROR (self, ret);
  gst_pad_pause_task (GST_BASE_TRANSFORM_SRC_PAD (self));
}

static void
gst_torch_classify_loop (GstTorchClassify * self)
{
  GstTorchClassifyPrivate *p = self->priv;
  ta::Output out;

  if (!p->sched->pop (&out, true)) {
    /* Flushing: flush-stop or the next READY->PAUSED starts the task again. */
    gst_pad_pause_task (GST_BASE_TRANSFORM_SRC_PAD (self));
    return;
  }
  GstBuffer *buf = static_cast<GstBuffer *> (out.frame);
  if (!out.error.empty ()) {
    gst_buffer_unref (buf);
    p->sched->done_output ();
    post_core_error (self, ta::Error (ta::ErrorKind::Stream, "The model failed on a frame.", out.error));
    p->src_ret = GST_FLOW_ERROR;
    p->sched->set_flushing (true);
    gst_pad_pause_task (GST_BASE_TRANSFORM_SRC_PAD (self));
    return;
  }
  buf = gst_buffer_make_writable (buf);
  if (p->run_roi_list)
    gst_torch_classify_attach_regions (self, buf, out.job, out.has_result,
        out.owns ? GST_CLOCK_TIME_NONE : out.source_pts);
  else if (out.has_result)
    attach_result (self, buf, out.result, out.owns ? GST_CLOCK_TIME_NONE : out.source_pts);
  /* Each result's latency once: a frame's own, or (live mode) a newer borrowed one. */
  if (out.has_result && out.result.latency_ns >= 0 &&
      (out.owns || (p->sched->config ().live && out.source_pts != p->last_result_pts))) {
    p->latency_ns.add (out.result.latency_ns);
    p->last_result_pts = out.source_pts;
  }
  GstFlowReturn ret = gst_pad_push (GST_BASE_TRANSFORM_SRC_PAD (self), buf);
  p->sched->done_output ();
  if (ret != GST_FLOW_OK) {
    GST_DEBUG_OBJECT (self, "downstream: %s", gst_flow_get_name (ret));
    stop_output (self, ret);
  }
}

void
gst_torch_classify_start_task (GstTorchClassify * self)
{
  gst_pad_start_task (GST_BASE_TRANSFORM_SRC_PAD (self), (GstTaskFunction) gst_torch_classify_loop,
      self, NULL);
}

void
gst_torch_classify_stop_task (GstTorchClassify * self)
{
  /* Wakes the task and a chain waiting for room in the queue, then joins the task. */
  self->priv->sched->set_flushing (true);
  gst_pad_stop_task (GST_BASE_TRANSFORM_SRC_PAD (self));
}

/* ---- events and queries -------------------------------------------------- */

/* Waits until every queued frame has been pushed, before a serialized event goes on. */
static void
drain (GstTorchClassify * self)
{
  GstTorchClassifyPrivate *p = self->priv;

  if (p->engine)
    p->engine->flush ();
  if (!p->sched->drain ())
    GST_DEBUG_OBJECT (self, "drain interrupted (flushing, or downstream stopped: %s)",
        gst_flow_get_name (p->src_ret));
}

static gboolean
gst_torch_classify_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstTorchClassify *self = GST_TORCH_CLASSIFY (trans);
  GstTorchClassifyPrivate *p = self->priv;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_START: {
      p->sched->set_flushing (true);
      gboolean ok = GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
      /* Downstream is flushing too now: the task's push returns, and it pauses. */
      gst_pad_pause_task (GST_BASE_TRANSFORM_SRC_PAD (self));
      return ok;
    }
    case GST_EVENT_FLUSH_STOP: {
      gboolean ok = GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
      p->sched->clear ();
      p->src_ret = GST_FLOW_OK;
      p->sched->set_flushing (false);
      gst_torch_classify_start_task (self);
      return ok;
    }
    case GST_EVENT_STREAM_START:
      /* A new stream (a reconnected camera, the next file): results of the old one must
       * not be attached to its frames. What waits is pushed first, in order. */
      drain (self);
      p->sched->clear ();
      break;
    default:
      if (GST_EVENT_IS_SERIALIZED (event))
        drain (self);
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

/* The frames this element may hold at once under its current properties: what upstream's
 * buffer pools must have on top of their own needs. */
static guint
frames_held (GstTorchClassify * self)
{
  GstTorchClassifyPrivate *p = self->priv;
  ta::SchedulerConfig c;

  GST_OBJECT_LOCK (self);
  c.interval = p->interval;
  c.max_own = p->batch_size == 0 ? 2 * AUTO_BATCH_SIZE : p->batch_size;
  const GstTorchMode mode = p->mode;
  GST_OBJECT_UNLOCK (self);
  c.live = mode == GST_TORCH_MODE_LIVE;
  int held = ta::Scheduler::max_held (c);
  if (mode == GST_TORCH_MODE_AUTO) {
    c.live = true;
    held = MAX (held, ta::Scheduler::max_held (c));
  }
  return (guint) held;
}

/* Upstream (v4l2src, hardware decoders) sizes its pool from the ALLOCATION query: a pool
 * with a hard maximum that does not count the frames waiting here for their batch would
 * stall. Each pool downstream proposed gets our share added to its minimum; with none, a
 * pool entry without a pool carries the minimum alone. */
static gboolean
gst_torch_classify_propose_allocation (GstBaseTransform * trans, GstQuery * decide_query,
    GstQuery * query)
{
  GstTorchClassify *self = GST_TORCH_CLASSIFY (trans);

  /* Downstream's answer (in place: the query goes on to it); when it has none, ours alone. */
  if (!GST_BASE_TRANSFORM_CLASS (parent_class)->propose_allocation (trans, decide_query, query))
    GST_DEBUG_OBJECT (self, "downstream did not answer the ALLOCATION query");
  const guint held = frames_held (self);
  const guint n = gst_query_get_n_allocation_pools (query);
  for (guint i = 0; i < n; i++) {
    GstBufferPool *pool = NULL;
    guint size, min, max;
    gst_query_parse_nth_allocation_pool (query, i, &pool, &size, &min, &max);
    min += held;
    if (max != 0 && max < min)
      max = min;
    gst_query_set_nth_allocation_pool (query, i, pool, size, min, max);
    if (pool)
      gst_object_unref (pool);
  }
  if (n == 0) {
    GstCaps *caps = NULL;
    GstVideoInfo info;
    gst_query_parse_allocation (query, &caps, NULL);
    if (caps && gst_video_info_from_caps (&info, caps))
      gst_query_add_allocation_pool (query, NULL, (guint) GST_VIDEO_INFO_SIZE (&info), held, 0);
  }
  GST_DEBUG_OBJECT (self, "asked upstream for %u more buffers", held);
  return TRUE;
}

/* Sync mode with batch-size N holds up to N - 1 frames before a forward (at most
 * batch-timeout when set): downstream must know, or a synchronized sink finds live frames
 * late. Live mode, and batch-size=0 (a batch never waits to fill), add nothing. */
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
  /* An application thread: the caps' rate is read under the lock set_caps writes it with. */
  GST_OBJECT_LOCK (self);
  const int batch = p->batch_size, timeout_ms = p->batch_timeout;
  const bool sync = p->mode == GST_TORCH_MODE_SYNC || (p->mode == GST_TORCH_MODE_AUTO && !live);
  const bool have_rate = p->have_info && p->fps_n > 0;
  const gint fps_n = p->fps_n, fps_d = p->fps_d;
  GST_OBJECT_UNLOCK (self);
  GstClockTime ours = 0;
  if (sync && batch > 1 && have_rate) {
    ours = gst_util_uint64_scale_int ((guint64) (batch - 1) * GST_SECOND, fps_d, fps_n);
    if (timeout_ms > 0)
      ours = MIN (ours, (GstClockTime) timeout_ms * GST_MSECOND);
  }
  GST_DEBUG_OBJECT (self, "latency: upstream %" GST_TIME_FORMAT ", ours %" GST_TIME_FORMAT,
      GST_TIME_ARGS (min), GST_TIME_ARGS (ours));
  gst_query_set_latency (query, live, min + ours,
      GST_CLOCK_TIME_IS_VALID (max) ? max + ours : GST_CLOCK_TIME_NONE);
  return TRUE;
}

void
gst_torch_classify_install_stream_vfuncs (GstBaseTransformClass * trans_class)
{
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_torch_classify_set_caps);
  trans_class->submit_input_buffer = GST_DEBUG_FUNCPTR (gst_torch_classify_submit_input_buffer);
  trans_class->generate_output = GST_DEBUG_FUNCPTR (gst_torch_classify_generate_output);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_torch_classify_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_torch_classify_query);
  trans_class->propose_allocation = GST_DEBUG_FUNCPTR (gst_torch_classify_propose_allocation);
#ifdef TA_HAVE_GST_CUDA
  trans_class->transform_caps = GST_DEBUG_FUNCPTR (gst_torch_classify_transform_caps);
#endif
}
