/* torchanalytics: classification metadata
 *
 * A plain C API, installed with the pkg-config file gsttorchanalyticsmeta-1.0, so that
 * applications read the results of torchclassify without linking LibTorch.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_TORCH_CLASSIFICATION_META_H__
#define __GST_TORCH_CLASSIFICATION_META_H__

#include <gst/gst.h>

G_BEGIN_DECLS

/**
 * GstTorchClassLabel:
 * @class_id: index of the class in the model's output
 * @label: the class name (owned by the meta)
 * @score: the score after the element's activation (softmax: a probability)
 */
typedef struct {
  gint class_id;
  gchar *label;
  gfloat score;
} GstTorchClassLabel;

/**
 * GstTorchClassificationMeta:
 * @meta: parent #GstMeta
 * @x: left edge of the classified region, in the buffer's pixel coordinates
 * @y: top edge of the region
 * @width: width of the region (the frame width for full-frame classification)
 * @height: height of the region
 * @model: name of the model that produced the result (owned by the meta)
 * @source_pts: presentation timestamp of the frame the result was computed on, or
 *   GST_CLOCK_TIME_NONE when it was computed on this very buffer
 * @n_labels: number of entries in @labels
 * @labels: the top-k results, highest score first
 *
 * One classified region of a video frame.
 */
typedef struct {
  GstMeta meta;

  guint x, y, width, height;
  gchar *model;
  GstClockTime source_pts;

  guint n_labels;
  GstTorchClassLabel *labels;
} GstTorchClassificationMeta;

#define GST_TORCH_CLASSIFICATION_META_API_TYPE (gst_torch_classification_meta_api_get_type ())
#define GST_TORCH_CLASSIFICATION_META_INFO (gst_torch_classification_meta_get_info ())

GType gst_torch_classification_meta_api_get_type (void);
const GstMetaInfo *gst_torch_classification_meta_get_info (void);

/**
 * gst_buffer_add_torch_classification_meta:
 * @buffer: a writable #GstBuffer
 * @model: (nullable): the model name
 * @x: @y: @width: @height: the classified region in pixels
 *
 * Returns: (transfer none) (nullable): the new meta, without labels, or %NULL when
 * @buffer is not writable.
 */
GstTorchClassificationMeta *gst_buffer_add_torch_classification_meta (GstBuffer * buffer,
    const gchar * model, guint x, guint y, guint width, guint height);

/**
 * gst_torch_classification_meta_add_label:
 * @meta: a #GstTorchClassificationMeta
 * @class_id: the class index
 * @label: (nullable): the class name; %NULL stores "class N"
 * @score: its score
 *
 * Appends one result. Callers add them highest score first.
 */
void gst_torch_classification_meta_add_label (GstTorchClassificationMeta * meta,
    gint class_id, const gchar * label, gfloat score);

/**
 * gst_torch_classification_meta_get_label:
 * @meta: a #GstTorchClassificationMeta
 * @index: 0 for the best result
 *
 * Returns: (transfer none) (nullable): the @index-th result, %NULL past the end.
 */
const GstTorchClassLabel *gst_torch_classification_meta_get_label (const GstTorchClassificationMeta * meta,
    guint index);

/**
 * gst_buffer_get_torch_classification_meta:
 * @buffer: a #GstBuffer
 *
 * Returns: (transfer none) (nullable): the first classification meta of @buffer.
 */
GstTorchClassificationMeta *gst_buffer_get_torch_classification_meta (GstBuffer * buffer);

/**
 * gst_buffer_iterate_torch_classification_meta:
 * @buffer: a #GstBuffer
 * @state: (inout): a #gpointer set to %NULL before the first call
 *
 * Walks all classification metas of @buffer, one region each:
 * |[
 *   gpointer state = NULL;
 *   GstTorchClassificationMeta *m;
 *   while ((m = gst_buffer_iterate_torch_classification_meta (buf, &state)))
 *     g_print ("%s: %s\n", m->model, m->labels[0].label);
 * ]|
 *
 * Returns: (transfer none) (nullable): the next meta, %NULL when there are no more.
 */
GstTorchClassificationMeta *gst_buffer_iterate_torch_classification_meta (GstBuffer * buffer,
    gpointer * state);

/**
 * gst_buffer_get_n_torch_classification_metas:
 * @buffer: a #GstBuffer
 *
 * Returns: how many classification metas @buffer holds.
 */
guint gst_buffer_get_n_torch_classification_metas (GstBuffer * buffer);

G_END_DECLS

#endif /* __GST_TORCH_CLASSIFICATION_META_H__ */
