/* torchanalytics: torchclassify inference-region=roi-list
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each selected GstVideoRegionOfInterestMeta of a frame (ta::select_regions: clipped,
 * filtered by object-class and roi-min-size, the max-rois largest) becomes one engine job,
 * preprocessed straight from the frame's planes (PreprocessConfig::source); the engine
 * batches them with the regions of every other frame and stream that shares it. The frame's
 * jobs form one ta::JobGroup in the scheduler, so the frame leaves when all its regions are
 * done. Each result is attached twice: as a GstTorchClassificationMeta with the region's
 * rectangle, type and id, and as a "classification" param of the ROI meta itself.
 *
 * Borrowed results (interval, mode=live): a region borrows the result of the region with
 * the same id in the frame the result was computed on, when that id names exactly one
 * selected region there and here; other regions get none. See docs/elements/torchclassify.md.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <map>

#include "gsttorchclassifypriv.h"
#include "gsttorchclassificationmeta.h"
#include "gsttorchframe.h"

#define GST_CAT_DEFAULT gst_torch_classify_debug

namespace {

/* A frame's region jobs and the regions they were submitted for (part k: regions[k]). */
class RegionsJob : public ta::JobGroup {
 public:
  RegionsJob (std::vector<std::shared_ptr<ta::Job>> parts, std::vector<ta::SelectedRegion> r)
      : ta::JobGroup (std::move (parts)), regions (std::move (r)) {}
  const std::vector<ta::SelectedRegion> regions;
};

std::vector<GstVideoRegionOfInterestMeta *>
roi_metas (GstBuffer * buf)
{
  std::vector<GstVideoRegionOfInterestMeta *> v;
  gpointer state = NULL;
  GstMeta *m;
  while ((m = gst_buffer_iterate_meta_filtered (buf, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE)))
    v.push_back (reinterpret_cast<GstVideoRegionOfInterestMeta *> (m));
  return v;
}

/* The ROI meta's rectangle is unsigned: x and y above G_MAXINT are read as the negative
 * numbers they wrap from (a detector that wrote x = -10 into the field), so a box that
 * starts left of or above the frame is clipped, not dropped. */
ta::RegionSelection
select (GstTorchClassify * self, const std::vector<GstVideoRegionOfInterestMeta *> & metas)
{
  GstTorchClassifyPrivate *p = self->priv;
  std::vector<ta::Region> in (metas.size ());
  for (size_t i = 0; i < metas.size (); i++) {
    const GstVideoRegionOfInterestMeta *m = metas[i];
    ta::Region & r = in[i];
    r.x = (gint32) m->x;
    r.y = (gint32) m->y;
    r.w = m->w;
    r.h = m->h;
    if (m->roi_type)
      r.type = g_quark_to_string (m->roi_type);
    r.id = m->id;
    r.index = i;
  }
  return ta::select_regions (GST_VIDEO_INFO_WIDTH (&p->info), GST_VIDEO_INFO_HEIGHT (&p->info), in,
      p->run_regions);
}

ta::Error
map_error (GstBuffer * buf, const GstVideoInfo * info)
{
  return ta::Error (ta::ErrorKind::Stream, "A buffer of " + std::to_string (gst_buffer_get_size (buf)) +
      " bytes could not be mapped as its caps say (" + std::to_string (GST_VIDEO_INFO_SIZE (info)) +
      " bytes for " + std::to_string (GST_VIDEO_INFO_WIDTH (info)) + "x" +
      std::to_string (GST_VIDEO_INFO_HEIGHT (info)) + " " + GST_VIDEO_INFO_NAME (info) +
      "): fix the element upstream.");
}

ta::PreprocessConfig
region_config (const ta::PreprocessConfig & pre, const ta::SelectedRegion & r)
{
  ta::PreprocessConfig c = pre;
  c.source = ta::Rect { r.x, r.y, r.w, r.h };
  return c;
}

/* The label of a class of the model that computed the result (swaps change the model). */
const char *
label_of (const std::vector<std::string> & names, int class_id)
{
  return class_id >= 0 && class_id < (int) names.size ()? names[class_id].c_str () : "";
}

/* One region's result: the classification meta, the ROI meta's param, the message entry. */
void
attach_one (GstTorchClassify * self, GstBuffer * buf, GstVideoRegionOfInterestMeta * roi,
    const ta::SelectedRegion & r, const ta::TopLogits & top, GstClockTime source_pts, GValue * msg_regions)
{
  GstTorchClassifyPrivate *p = self->priv;
  const std::vector<ta::Prediction> preds = ta::postprocess (top, p->act, p->run_top_k, p->run_threshold);

  const ta::ModelInfo *model = top.model.get ();
  const std::vector<std::string> &names = gst_torch_classify_labels_for (self, model);
  const char *model_name = model ? model->name.c_str () : p->model_name.c_str ();

  GstTorchClassificationMeta *meta = gst_buffer_add_torch_classification_meta (buf, model_name,
      (guint) r.x, (guint) r.y, (guint) r.w, (guint) r.h);
  meta->source_pts = source_pts;
  gst_torch_classification_meta_set_roi (meta, roi->roi_type, roi->id);
  for (const auto &pr : preds)
    gst_torch_classification_meta_add_label (meta, pr.class_id, label_of (names, pr.class_id), pr.score);
  if (model)
    gst_torch_classification_meta_set_model_sha256 (meta, model->sha256.c_str ());
  if (top.latency_ns >= 0)
    meta->latency = (GstClockTime) top.latency_ns;
  gst_torch_classification_meta_set_preprocess (meta, p->pre.resize_size, p->pre.crop_size,
      p->run_resize_mode.c_str (), p->pre.mean.data (), p->pre.std.data ());

  GstStructure *s = gst_structure_new ("classification", "model", G_TYPE_STRING, model_name, NULL);
  if (!preds.empty ())
    gst_structure_set (s, "label", G_TYPE_STRING, label_of (names, preds[0].class_id),
        "class-id", G_TYPE_INT, preds[0].class_id, "confidence", G_TYPE_DOUBLE, (double) preds[0].score, NULL);
  gst_torch_classify_take_result_arrays (s, names, preds);
  if (GST_CLOCK_TIME_IS_VALID (source_pts))
    gst_structure_set (s, "source-pts", G_TYPE_UINT64, source_pts, NULL);
  if (msg_regions) {
    GstStructure *e = gst_structure_copy (s);
    gst_structure_set_name (e, "region");
    gst_structure_set (e, "roi-id", G_TYPE_INT, roi->id, "roi-type", G_TYPE_STRING,
        roi->roi_type ? g_quark_to_string (roi->roi_type) : "", "x", G_TYPE_INT, r.x, "y", G_TYPE_INT, r.y,
        "width", G_TYPE_INT, r.w, "height", G_TYPE_INT, r.h, NULL);
    gst_structure_remove_field (e, "model");
    GValue v = G_VALUE_INIT;
    g_value_init (&v, GST_TYPE_STRUCTURE);
    g_value_take_boxed (&v, e);
    gst_value_array_append_and_take_value (msg_regions, &v);
  }
  /* The ROI meta takes the structure. */
  gst_video_region_of_interest_meta_add_param (roi, s);
  GST_LOG_OBJECT (self, "%" GST_TIME_FORMAT ": region %d (%s) %dx%d at %d,%d: %s %.4f",
      GST_TIME_ARGS (GST_BUFFER_PTS (buf)), roi->id, roi->roi_type ? g_quark_to_string (roi->roi_type) : "-",
      r.w, r.h, r.x, r.y, preds.empty ()? "-" : label_of (names, preds[0].class_id),
      preds.empty ()? 0.0 : preds[0].score);
}

/* The ids that name exactly one region of `regions`. */
std::map<int, size_t>
unique_ids (const std::vector<ta::SelectedRegion> & regions)
{
  std::map<int, size_t> at;
  std::map<int, int> count;
  for (size_t k = 0; k < regions.size (); k++) {
    at[regions[k].id] = k;
    count[regions[k].id]++;
  }
  for (const auto &c : count)
    if (c.second > 1)
      at.erase (c.first);
  return at;
}

}  // namespace

/* The top-k of a result as the arrays "labels", "class-ids" and "scores" of `s` (the ROI
 * meta's param, the element messages). */
void
gst_torch_classify_take_result_arrays (GstStructure * s, const std::vector<std::string> & names,
    const std::vector<ta::Prediction> & preds)
{
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
    g_value_set_string (&v, label_of (names, pr.class_id));
    gst_value_array_append_and_take_value (&labels, &v);
    g_value_init (&v, G_TYPE_DOUBLE);
    g_value_set_double (&v, pr.score);
    gst_value_array_append_and_take_value (&scores, &v);
  }
  gst_structure_take_value (s, "labels", &labels);
  gst_structure_take_value (s, "class-ids", &ids);
  gst_structure_take_value (s, "scores", &scores);
}

std::shared_ptr<ta::Job>
gst_torch_classify_submit_regions (GstTorchClassify * self, GstBuffer * buf, std::function<void()> notify)
{
  GstTorchClassifyPrivate *p = self->priv;
  const std::vector<GstVideoRegionOfInterestMeta *> metas = roi_metas (buf);
  ta::RegionSelection sel = select (self, metas);
  GST_LOG_OBJECT (self, "%" GST_TIME_FORMAT ": %zu ROI metas, %zu classified (skipped: %zu type, %zu empty, "
      "%zu small, %zu over max-rois)", GST_TIME_ARGS (GST_BUFFER_PTS (buf)), metas.size (), sel.regions.size (),
      sel.skipped_class, sel.skipped_empty, sel.skipped_small, sel.skipped_limit);
  gst_torch_classify_count_regions (self, sel.regions.size (),
      sel.skipped_class + sel.skipped_empty + sel.skipped_small + sel.skipped_limit);
  std::vector<std::shared_ptr<ta::Job>> parts;
  if (sel.regions.empty ())
    return std::make_shared<RegionsJob> (std::move (parts), std::move (sel.regions));

  try {
    if (!p->engine->gpu_preprocessing ()) {
      /* The CPU path: each region preprocessed here, from the mapped planes. */
      GstVideoFrame frame;
      if (!gst_video_frame_map (&frame, &p->info, buf, GST_MAP_READ))
        throw map_error (buf, &p->info);
      try {
        ta::FrameView view;
        frame_view_from (&frame, &view);
        for (const auto &r : sel.regions) {
          std::vector<float> input ((size_t) 3 * p->pre.crop_size * p->pre.crop_size);
          ta::preprocess (view, region_config (p->pre, r), input.data ());
          parts.push_back (p->engine->submit (std::move (input), p->run_top_k, notify));
        }
      } catch (...) {
        gst_video_frame_unmap (&frame);
        throw;
      }
      gst_video_frame_unmap (&frame);
    } else {
      /* The GPU path: the frame is handed over once (one hold shared by its regions: the
       * CUDA memory's mapping, or the staged copy); the kernel reads each region where it
       * lies. */
      ta::FrameView view;
      std::shared_ptr<void> hold;
#ifdef TA_HAVE_GST_CUDA
      if (p->cuda_caps) {
        std::string why;
        hold = p->cuda.map (buf, p->info, &view, &why);
        if (!hold && !p->warned_copy) {
          p->warned_copy = true;
          GST_ELEMENT_WARNING (self, STREAM, FORMAT, ("Frames in CUDA memory are copied through "
                  "the host: %s.", why.c_str ()), ("Let the decoder use torchclassify's CUDA "
                  "context (it does when both are in one pipeline and none was set by the application)."));
        }
      }
#endif
      if (!hold) {
        /* Host memory: copied once into the engine's staging block, shared by the regions;
         * the buffer is not held. */
        ta::StagedFrame staged = gst_torch_classify_stage_buffer (self, buf);
        view = staged.view;
        hold = std::move (staged.hold);
      }
      for (const auto &r : sel.regions)
        parts.push_back (p->engine->submit_frame (view, region_config (p->pre, r), p->run_top_k, hold, notify));
    }
  } catch (const std::invalid_argument & e) {
    throw ta::Error (ta::ErrorKind::Stream, "A region of a frame could not be read.", e.what ());
  }
  return std::make_shared<RegionsJob> (std::move (parts), std::move (sel.regions));
}

void
gst_torch_classify_attach_regions (GstTorchClassify * self, GstBuffer * buf, const std::shared_ptr<ta::Job> & job,
    bool has_result, GstClockTime source_pts)
{
  GstTorchClassifyPrivate *p = self->priv;
  const std::vector<GstVideoRegionOfInterestMeta *> metas = roi_metas (buf);
  const ta::RegionSelection now = select (self, metas);
  const auto *rj = dynamic_cast<const RegionsJob *> (job.get ());
  GValue regions = G_VALUE_INIT;
  GValue *msg = NULL;
  if (p->run_post_messages) {
    g_value_init (&regions, GST_TYPE_ARRAY);
    msg = &regions;
  }

  if (has_result && rj) {
    if (!GST_CLOCK_TIME_IS_VALID (source_pts)) {
      /* This frame's own regions, in the order they were submitted. */
      for (size_t k = 0; k < rj->regions.size (); k++) {
        const ta::SelectedRegion & r = rj->regions[k];
        if (r.index < metas.size ())
          attach_one (self, buf, metas[r.index], r, rj->part (k).result (), GST_CLOCK_TIME_NONE, msg);
      }
    } else {
      /* Borrowed: this frame's regions take the result of the same id over there, with
       * this frame's rectangle; an id that is not unique on either side lends nothing. */
      const std::map<int, size_t> there = unique_ids (rj->regions);
      const std::map<int, size_t> here = unique_ids (now.regions);
      for (const auto &r : now.regions) {
        auto t = there.find (r.id);
        if (t == there.end () || !here.count (r.id))
          continue;
        attach_one (self, buf, metas[r.index], r, rj->part (t->second).result (), source_pts, msg);
      }
    }
  }

  if (msg) {
    GstSegment *seg = &GST_BASE_TRANSFORM (self)->segment;
    GstClockTime pts = GST_BUFFER_PTS (buf);
    GstStructure *s = gst_structure_new ("torchclassify",
        "timestamp", G_TYPE_UINT64, pts,
        "stream-time", G_TYPE_UINT64, gst_segment_to_stream_time (seg, GST_FORMAT_TIME, pts),
        "running-time", G_TYPE_UINT64, gst_segment_to_running_time (seg, GST_FORMAT_TIME, pts),
        "duration", G_TYPE_UINT64, GST_BUFFER_DURATION (buf),
        "model", G_TYPE_STRING, p->model_name.c_str (),
        "rois", G_TYPE_UINT, (guint) metas.size (),
        "skipped-class", G_TYPE_UINT, (guint) now.skipped_class,
        "skipped-empty", G_TYPE_UINT, (guint) now.skipped_empty,
        "skipped-small", G_TYPE_UINT, (guint) now.skipped_small,
        "skipped-limit", G_TYPE_UINT, (guint) now.skipped_limit, NULL);
    if (GST_CLOCK_TIME_IS_VALID (source_pts) && has_result)
      gst_structure_set (s, "source-pts", G_TYPE_UINT64, source_pts, NULL);
    gst_structure_take_value (s, "regions", &regions);
    gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
  }
}
