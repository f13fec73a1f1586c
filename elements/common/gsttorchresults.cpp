/* torchanalytics: the results of a sink pad's buffers as ta::FrameResults
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "gsttorchresults.h"

#include "gsttorchclassificationmeta.h"

namespace {

/* One meta as the serializer's struct. */
ta::JsonClassification
classification_of (const GstTorchClassificationMeta * m, bool model_info)
{
  ta::JsonClassification c;
  c.model = m->model ? m->model : "";
  if (GST_CLOCK_TIME_IS_VALID (m->source_pts))
    c.source_pts = m->source_pts;
  if (m->roi_id >= 0 || m->roi_type) {
    c.roi_id = m->roi_id;
    const gchar *type = gst_torch_classification_meta_get_roi_type_name (m);
    c.roi_type = type ? type : "";
  }
  c.x = m->x;
  c.y = m->y;
  c.w = m->width;
  c.h = m->height;
  c.labels.reserve (m->n_labels);
  for (guint i = 0; i < m->n_labels; i++) {
    const GstTorchClassLabel & l = m->labels[i];
    c.labels.push_back ({l.class_id, l.label ? l.label : "", l.score});
  }
  if (model_info) {
    /* Provenance: only what the meta knows (a meta of another producer may have none). */
    if (m->model_sha256)
      c.model_sha256 = m->model_sha256;
    if (m->crop_size > 0) {
      ta::JsonPreprocess p;
      p.resize_size = (int) m->resize_size;
      p.crop_size = (int) m->crop_size;
      const gchar *mode = gst_torch_classification_meta_get_resize_mode_name (m);
      p.resize_mode = mode ? mode : "";
      for (int i = 0; i < 3; i++) {
        p.mean[i] = m->mean[i];
        p.std[i] = m->std[i];
      }
      c.preprocess = p;
    }
    if (GST_CLOCK_TIME_IS_VALID (m->latency))
      c.latency = m->latency;
  }
  return c;
}

}  // namespace

void
GstTorchResults::reset ()
{
  stream_id_.clear ();
  frame_ = 0;
  width_ = height_ = -1;
}

void
GstTorchResults::set_caps (GstCaps * caps)
{
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  gint w, h;

  /* The templates take any video/x-raw, even caps without a size. */
  width_ = s && gst_structure_get_int (s, "width", &w) ? w : -1;
  height_ = s && gst_structure_get_int (s, "height", &h) ? h : -1;
}

void
GstTorchResults::set_stream_start (GstEvent * event)
{
  const gchar *id = NULL;

  gst_event_parse_stream_start (event, &id);
  stream_id_ = id ? id : "";
}

ta::FrameResults
GstTorchResults::next (GstElement * element, GstPad * sinkpad,
    const std::optional<std::string> & stream_name, GstBuffer * buffer)
{
  ta::FrameResults r;
  gpointer state = NULL;
  GstTorchClassificationMeta *m;

  GST_OBJECT_LOCK (element);
  r.stream = stream_name.value_or ("");
  GST_OBJECT_UNLOCK (element);
  if (r.stream.empty ()) {
    if (stream_id_.empty ()) {
      gchar *id = gst_pad_get_stream_id (sinkpad);
      stream_id_ = id ? id : "";
      g_free (id);
    }
    if (!stream_id_.empty ()) {
      r.stream = stream_id_;
    } else {
      gchar *ename = gst_element_get_name (element);
      r.stream = ename;
      g_free (ename);
    }
  }
  r.frame = frame_;
  if (GST_BUFFER_PTS_IS_VALID (buffer))
    r.pts = GST_BUFFER_PTS (buffer);
  if (width_ >= 0)
    r.width = width_;
  if (height_ >= 0)
    r.height = height_;
  while ((m = gst_buffer_iterate_torch_classification_meta (buffer, &state)))
    r.classifications.push_back (classification_of (m, model_info_));
  frame_++;
  return r;
}
