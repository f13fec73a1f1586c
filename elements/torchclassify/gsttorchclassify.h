/* torchanalytics: torchclassify
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_TORCH_CLASSIFY_H__
#define __GST_TORCH_CLASSIFY_H__

#include <gst/base/gstbasetransform.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_TORCH_CLASSIFY (gst_torch_classify_get_type ())
G_DECLARE_FINAL_TYPE (GstTorchClassify, gst_torch_classify, GST, TORCH_CLASSIFY, GstBaseTransform)

typedef enum {
  GST_TORCH_ARCHITECTURE_RESNET18,
  GST_TORCH_ARCHITECTURE_RESNET34,
  GST_TORCH_ARCHITECTURE_RESNET50,
  GST_TORCH_ARCHITECTURE_RESNET101,
  GST_TORCH_ARCHITECTURE_RESNET152,
} GstTorchArchitecture;

typedef enum {
  GST_TORCH_PRECISION_AUTO,
  GST_TORCH_PRECISION_FP32,
  GST_TORCH_PRECISION_FP16,
  GST_TORCH_PRECISION_BF16,
} GstTorchPrecision;

typedef enum {
  GST_TORCH_RESIZE_MODE_CENTER_CROP,
  GST_TORCH_RESIZE_MODE_STRETCH,
  GST_TORCH_RESIZE_MODE_LETTERBOX,
} GstTorchResizeMode;

typedef enum {
  GST_TORCH_ACTIVATION_SOFTMAX,
  GST_TORCH_ACTIVATION_SIGMOID,
  GST_TORCH_ACTIVATION_NONE,
} GstTorchActivation;

#define GST_TYPE_TORCH_ARCHITECTURE (gst_torch_architecture_get_type ())
#define GST_TYPE_TORCH_PRECISION (gst_torch_precision_get_type ())
#define GST_TYPE_TORCH_RESIZE_MODE (gst_torch_resize_mode_get_type ())
#define GST_TYPE_TORCH_ACTIVATION (gst_torch_activation_get_type ())

typedef enum {
  GST_TORCH_MODE_AUTO,
  GST_TORCH_MODE_SYNC,
  GST_TORCH_MODE_LIVE,
} GstTorchMode;

#define GST_TYPE_TORCH_MODE (gst_torch_mode_get_type ())
GType gst_torch_mode_get_type (void);

typedef enum {
  GST_TORCH_INFERENCE_REGION_FULL_FRAME,
  GST_TORCH_INFERENCE_REGION_ROI_LIST,
} GstTorchInferenceRegion;

#define GST_TYPE_TORCH_INFERENCE_REGION (gst_torch_inference_region_get_type ())
GType gst_torch_inference_region_get_type (void);

GType gst_torch_architecture_get_type (void);
GType gst_torch_precision_get_type (void);
GType gst_torch_resize_mode_get_type (void);
GType gst_torch_activation_get_type (void);

GST_ELEMENT_REGISTER_DECLARE (torchclassify);

G_END_DECLS

#endif /* __GST_TORCH_CLASSIFY_H__ */
