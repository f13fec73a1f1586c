/* torchanalytics: classification metadata
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "gsttorchclassificationmeta.h"

#include <gst/video/video.h>

GType
gst_torch_classification_meta_api_get_type (void)
{
  static GType type = 0;
  /* It holds pixel coordinates, so it is tied to the video size and orientation:
   * elements that change either drop or transform it. */
  static const gchar *tags[] = { GST_META_TAG_VIDEO_STR,
    GST_META_TAG_VIDEO_SIZE_STR, GST_META_TAG_VIDEO_ORIENTATION_STR, NULL
  };

  if (g_once_init_enter (&type)) {
    GType t = gst_meta_api_type_register ("GstTorchClassificationMetaAPI", tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

static gboolean
gst_torch_classification_meta_init (GstMeta * meta, gpointer params, GstBuffer * buffer)
{
  GstTorchClassificationMeta *m = (GstTorchClassificationMeta *) meta;

  (void) params;
  (void) buffer;
  m->x = m->y = m->width = m->height = 0;
  m->model = NULL;
  m->source_pts = GST_CLOCK_TIME_NONE;
  m->n_labels = 0;
  m->labels = NULL;
  m->roi_type = 0;
  m->roi_id = -1;
  m->model_sha256 = NULL;
  m->latency = GST_CLOCK_TIME_NONE;
  m->resize_size = m->crop_size = 0;
  m->resize_mode = 0;
  for (int i = 0; i < 3; i++)
    m->mean[i] = m->std[i] = 0.f;
  return TRUE;
}

static void
gst_torch_classification_meta_free (GstMeta * meta, GstBuffer * buffer)
{
  GstTorchClassificationMeta *m = (GstTorchClassificationMeta *) meta;
  guint i;

  (void) buffer;
  for (i = 0; i < m->n_labels; i++)
    g_free (m->labels[i].label);
  g_free (m->labels);
  g_free (m->model);
  g_free (m->model_sha256);
  m->labels = NULL;
  m->model = NULL;
  m->model_sha256 = NULL;
  m->n_labels = 0;
}

/* Everything but the model name and the rectangle, which the callers set. */
static void
copy_results (GstTorchClassificationMeta * dst, const GstTorchClassificationMeta * src)
{
  guint i;

  for (i = 0; i < src->n_labels; i++)
    gst_torch_classification_meta_add_label (dst, src->labels[i].class_id,
        src->labels[i].label, src->labels[i].score);
  dst->source_pts = src->source_pts;
  dst->roi_type = src->roi_type;
  dst->roi_id = src->roi_id;
  gst_torch_classification_meta_set_model_sha256 (dst, src->model_sha256);
  dst->latency = src->latency;
  dst->resize_size = src->resize_size;
  dst->crop_size = src->crop_size;
  dst->resize_mode = src->resize_mode;
  for (int i = 0; i < 3; i++) {
    dst->mean[i] = src->mean[i];
    dst->std[i] = src->std[i];
  }
}

static gboolean
gst_torch_classification_meta_transform (GstBuffer * dest, GstMeta * meta,
    GstBuffer * buffer, GQuark type, gpointer data)
{
  GstTorchClassificationMeta *src = (GstTorchClassificationMeta *) meta;
  GstTorchClassificationMeta *dst;

  (void) buffer;
  if (GST_META_TRANSFORM_IS_COPY (type)) {
    GstMetaTransformCopy *copy = data;

    /* A region copy (a sub-buffer) does not keep a frame's geometry: drop the meta. */
    if (copy->region)
      return FALSE;
    dst = gst_buffer_add_torch_classification_meta (dest, src->model, src->x, src->y,
        src->width, src->height);
    if (!dst)
      return FALSE;
    copy_results (dst, src);
    return TRUE;
  }

  if (GST_VIDEO_META_TRANSFORM_IS_SCALE (type)) {
    GstVideoMetaTransform *trans = data;
    gint ow = GST_VIDEO_INFO_WIDTH (trans->in_info);
    gint oh = GST_VIDEO_INFO_HEIGHT (trans->in_info);
    gint nw = GST_VIDEO_INFO_WIDTH (trans->out_info);
    gint nh = GST_VIDEO_INFO_HEIGHT (trans->out_info);

    if (ow <= 0 || oh <= 0)
      return FALSE;
    /* Scale the corners, not the size, so that a full-frame region stays full-frame. */
    guint x0 = (guint) ((guint64) src->x * nw / ow);
    guint y0 = (guint) ((guint64) src->y * nh / oh);
    guint x1 = (guint) ((guint64) (src->x + src->width) * nw / ow);
    guint y1 = (guint) ((guint64) (src->y + src->height) * nh / oh);

    dst = gst_buffer_add_torch_classification_meta (dest, src->model, x0, y0,
        x1 - x0, y1 - y0);
    if (!dst)
      return FALSE;
    copy_results (dst, src);
    return TRUE;
  }

  /* Any other transformation (rotation, cropping...) would need a rule we do not know. */
  return FALSE;
}

const GstMetaInfo *
gst_torch_classification_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter ((GstMetaInfo **) & info)) {
    const GstMetaInfo *mi = gst_meta_register (GST_TORCH_CLASSIFICATION_META_API_TYPE,
        "GstTorchClassificationMeta", sizeof (GstTorchClassificationMeta),
        gst_torch_classification_meta_init, gst_torch_classification_meta_free,
        gst_torch_classification_meta_transform);
    g_once_init_leave ((GstMetaInfo **) & info, (GstMetaInfo *) mi);
  }
  return info;
}

GstTorchClassificationMeta *
gst_buffer_add_torch_classification_meta (GstBuffer * buffer, const gchar * model,
    guint x, guint y, guint width, guint height)
{
  GstTorchClassificationMeta *m;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), NULL);

  m = (GstTorchClassificationMeta *) gst_buffer_add_meta (buffer,
      GST_TORCH_CLASSIFICATION_META_INFO, NULL);
  if (!m)
    return NULL;
  m->x = x;
  m->y = y;
  m->width = width;
  m->height = height;
  m->model = g_strdup (model ? model : "");
  return m;
}

void
gst_torch_classification_meta_add_label (GstTorchClassificationMeta * meta,
    gint class_id, const gchar * label, gfloat score)
{
  GstTorchClassLabel *l;

  g_return_if_fail (meta != NULL);

  meta->labels = g_renew (GstTorchClassLabel, meta->labels, meta->n_labels + 1);
  l = &meta->labels[meta->n_labels++];
  l->class_id = class_id;
  l->label = label ? g_strdup (label) : g_strdup_printf ("class %d", class_id);
  l->score = score;
}

void
gst_torch_classification_meta_set_roi (GstTorchClassificationMeta * meta, GQuark roi_type,
    gint roi_id)
{
  g_return_if_fail (meta != NULL);
  meta->roi_type = roi_type;
  meta->roi_id = roi_id;
}

const gchar *
gst_torch_classification_meta_get_roi_type_name (const GstTorchClassificationMeta * meta)
{
  g_return_val_if_fail (meta != NULL, NULL);
  return meta->roi_type ? g_quark_to_string (meta->roi_type) : NULL;
}

void
gst_torch_classification_meta_set_model_sha256 (GstTorchClassificationMeta * meta,
    const gchar * sha256)
{
  g_return_if_fail (meta != NULL);
  if (meta->model_sha256 == sha256)
    return;
  g_free (meta->model_sha256);
  meta->model_sha256 = g_strdup (sha256);
}

void
gst_torch_classification_meta_set_preprocess (GstTorchClassificationMeta * meta,
    guint resize_size, guint crop_size, const gchar * resize_mode, const gfloat * mean,
    const gfloat * std)
{
  g_return_if_fail (meta != NULL);
  meta->resize_size = resize_size;
  meta->crop_size = crop_size;
  meta->resize_mode = resize_mode ? g_quark_from_string (resize_mode) : 0;
  for (int i = 0; i < 3; i++) {
    meta->mean[i] = mean ? mean[i] : 0.f;
    meta->std[i] = std ? std[i] : 0.f;
  }
}

const gchar *
gst_torch_classification_meta_get_resize_mode_name (const GstTorchClassificationMeta * meta)
{
  g_return_val_if_fail (meta != NULL, NULL);
  return meta->resize_mode ? g_quark_to_string (meta->resize_mode) : NULL;
}

const GstTorchClassLabel *
gst_torch_classification_meta_get_label (const GstTorchClassificationMeta * meta, guint index)
{
  g_return_val_if_fail (meta != NULL, NULL);
  return index < meta->n_labels ? &meta->labels[index] : NULL;
}

GstTorchClassificationMeta *
gst_buffer_get_torch_classification_meta (GstBuffer * buffer)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  return (GstTorchClassificationMeta *) gst_buffer_get_meta (buffer,
      GST_TORCH_CLASSIFICATION_META_API_TYPE);
}

GstTorchClassificationMeta *
gst_buffer_iterate_torch_classification_meta (GstBuffer * buffer, gpointer * state)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (state != NULL, NULL);
  return (GstTorchClassificationMeta *) gst_buffer_iterate_meta_filtered (buffer, state,
      GST_TORCH_CLASSIFICATION_META_API_TYPE);
}

guint
gst_buffer_get_n_torch_classification_metas (GstBuffer * buffer)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), 0);
  return gst_buffer_get_n_meta (buffer, GST_TORCH_CLASSIFICATION_META_API_TYPE);
}

GList *
gst_buffer_get_torch_classification_metas (GstBuffer * buffer)
{
  GList *metas = NULL;
  gpointer state = NULL;
  GstTorchClassificationMeta *m;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  while ((m = gst_buffer_iterate_torch_classification_meta (buffer, &state)))
    metas = g_list_prepend (metas, m);
  return g_list_reverse (metas);
}

guint
gst_torch_classification_meta_get_n_labels (const GstTorchClassificationMeta * meta)
{
  g_return_val_if_fail (meta != NULL, 0);
  return meta->n_labels;
}

const GstTorchClassLabel *
gst_torch_classification_meta_get_labels (const GstTorchClassificationMeta * meta,
    guint * n_labels)
{
  if (n_labels)
    *n_labels = 0;
  g_return_val_if_fail (meta != NULL, NULL);
  if (n_labels)
    *n_labels = meta->n_labels;
  return meta->labels;
}
