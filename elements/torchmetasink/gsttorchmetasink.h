/* torchanalytics: torchmetasink, classification results as JSON Lines
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_TORCH_META_SINK_H__
#define __GST_TORCH_META_SINK_H__

#include <gst/gst.h>
#include <gst/base/gstbasesink.h>

G_BEGIN_DECLS

#define GST_TYPE_TORCH_META_SINK (gst_torch_meta_sink_get_type ())
G_DECLARE_FINAL_TYPE (GstTorchMetaSink, gst_torch_meta_sink, GST, TORCH_META_SINK, GstBaseSink)

GST_ELEMENT_REGISTER_DECLARE (torchmetasink);

G_END_DECLS

#endif /* __GST_TORCH_META_SINK_H__ */
