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
 * @model: name of the model that produced the result (owned by the meta; "" when unnamed)
 * @source_pts: presentation timestamp of the frame the result was computed on, or
 *   GST_CLOCK_TIME_NONE when it was computed on this very buffer
 * @n_labels: number of entries in @labels
 * @labels: (array length=n_labels): the top-k results, highest score first
 * @roi_type: (type GQuark): the type of the #GstVideoRegionOfInterestMeta the region came from (e.g.
 *   "face"), 0 for full-frame classification
 * @roi_id: the id of that #GstVideoRegionOfInterestMeta, -1 for full-frame classification
 * @model_sha256: (nullable): lowercase hex SHA-256 of the model's file, %NULL when unknown
 * @latency: time from the frame's arrival at torchclassify to its result, in nanoseconds,
 *   or GST_CLOCK_TIME_NONE when unknown (borrowed results keep their own frame's)
 * @resize_size: the preprocessing the model input got (see
 *   gst_torch_classification_meta_set_preprocess()): shorter side after resizing, in
 *   pixels; 0 together with @crop_size when unknown
 * @crop_size: side of the square model input, in pixels; 0 when unknown
 * @resize_mode: how the frame was fitted ("center-crop", "stretch", "letterbox") as a
 *   quark, 0 when unknown
 * @mean: the per-channel mean (R, G, B) subtracted
 * @std: the per-channel standard deviation (R, G, B) divided by
 *
 * One classified region of a video frame.
 *
 * From a GObject-Introspection language (Python: `gi.repository.GstTorchAnalytics`), get the
 * metas with gst_buffer_get_torch_classification_metas() and read the fields directly (the
 * labels with gst_torch_classification_meta_get_label()). The meta belongs to its buffer: it
 * is valid while the buffer is, e.g. inside a pad probe, and must not be kept after it.
 */
typedef struct {
  GstMeta meta;

  guint x, y, width, height;
  gchar *model;
  GstClockTime source_pts;

  guint n_labels;
  GstTorchClassLabel *labels;

  GQuark roi_type;
  gint roi_id;
  gchar *model_sha256;
  GstClockTime latency;

  guint resize_size, crop_size;
  GQuark resize_mode;
  gfloat mean[3];
  gfloat std[3];
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
 * gst_torch_classification_meta_set_roi:
 * @meta: a #GstTorchClassificationMeta
 * @roi_type: the region's type as a quark (0: none)
 * @roi_id: the id of the #GstVideoRegionOfInterestMeta the region came from
 *
 * Marks the result as the classification of a region of interest.
 */
void gst_torch_classification_meta_set_roi (GstTorchClassificationMeta * meta,
    GQuark roi_type, gint roi_id);

/**
 * gst_torch_classification_meta_get_roi_type_name:
 * @meta: a #GstTorchClassificationMeta
 *
 * Returns: (transfer none) (nullable): the region's type as a string, %NULL for a
 * full-frame result.
 */
const gchar *gst_torch_classification_meta_get_roi_type_name (const GstTorchClassificationMeta * meta);

/**
 * gst_torch_classification_meta_set_model_sha256:
 * @meta: a #GstTorchClassificationMeta
 * @sha256: (nullable): lowercase hex SHA-256 of the model's file
 */
void gst_torch_classification_meta_set_model_sha256 (GstTorchClassificationMeta * meta,
    const gchar * sha256);

/**
 * gst_torch_classification_meta_set_preprocess:
 * @meta: a #GstTorchClassificationMeta
 * @resize_size: shorter side after resizing, in pixels
 * @crop_size: side of the square model input, in pixels
 * @resize_mode: (nullable): "center-crop", "stretch" or "letterbox"
 * @mean: (array fixed-size=3): per-channel mean (R, G, B)
 * @std: (array fixed-size=3): per-channel standard deviation (R, G, B)
 *
 * Records how the classified image was preprocessed (provenance of the result).
 */
void gst_torch_classification_meta_set_preprocess (GstTorchClassificationMeta * meta,
    guint resize_size, guint crop_size, const gchar * resize_mode, const gfloat * mean,
    const gfloat * std);

/**
 * gst_torch_classification_meta_get_resize_mode_name:
 * @meta: a #GstTorchClassificationMeta
 *
 * Returns: (transfer none) (nullable): the resize mode of the preprocessing, %NULL when
 * unknown.
 */
const gchar *gst_torch_classification_meta_get_resize_mode_name (const GstTorchClassificationMeta * meta);

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
 * gst_torch_classification_meta_get_labels:
 * @meta: a #GstTorchClassificationMeta
 * @n_labels: (out) (optional): where to store the number of results
 *
 * The whole @labels array at once; what languages use that cannot read the @labels field
 * (PyGObject reads C arrays of structs only from function results).
 *
 * Returns: (transfer none) (array length=n_labels) (nullable): the results, highest score
 * first, owned by @meta; %NULL when there are none.
 */
const GstTorchClassLabel *gst_torch_classification_meta_get_labels (const GstTorchClassificationMeta * meta,
    guint * n_labels);

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

/**
 * gst_buffer_get_torch_classification_metas:
 * @buffer: a #GstBuffer
 *
 * All classification metas of @buffer, one region each, in the order they were added (the
 * order is not a contract: match regions by their fields). For languages that cannot walk
 * gst_buffer_iterate_torch_classification_meta()'s state pointer.
 *
 * Returns: (transfer container) (element-type GstTorchClassificationMeta): the metas, owned by
 * @buffer; free the list with g_list_free(). %NULL (an empty list) when there are none.

 */
GList *gst_buffer_get_torch_classification_metas (GstBuffer * buffer);

/**
 * gst_torch_classification_meta_get_n_labels:
 * @meta: a #GstTorchClassificationMeta
 *
 * Returns: how many results @meta holds (its @n_labels).

 */
guint gst_torch_classification_meta_get_n_labels (const GstTorchClassificationMeta * meta);

G_END_DECLS

#endif /* __GST_TORCH_CLASSIFICATION_META_H__ */
