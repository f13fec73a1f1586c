/* torchanalytics: torchmetaconvert, classification results as application/x-ndjson buffers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_TORCH_META_CONVERT_H__
#define __GST_TORCH_META_CONVERT_H__

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_TORCH_META_CONVERT (gst_torch_meta_convert_get_type ())
G_DECLARE_FINAL_TYPE (GstTorchMetaConvert, gst_torch_meta_convert, GST, TORCH_META_CONVERT,
    GstElement)

GST_ELEMENT_REGISTER_DECLARE (torchmetaconvert);

G_END_DECLS

#endif /* __GST_TORCH_META_CONVERT_H__ */
