/* torchanalytics: torchoverlay
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_TORCH_OVERLAY_H__
#define __GST_TORCH_OVERLAY_H__

#include <gst/base/gstbasetransform.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_TORCH_OVERLAY (gst_torch_overlay_get_type ())
G_DECLARE_FINAL_TYPE (GstTorchOverlay, gst_torch_overlay, GST, TORCH_OVERLAY, GstBaseTransform)

typedef enum {
  GST_TORCH_OVERLAY_POSITION_TOP_LEFT,
  GST_TORCH_OVERLAY_POSITION_TOP_RIGHT,
  GST_TORCH_OVERLAY_POSITION_BOTTOM_LEFT,
  GST_TORCH_OVERLAY_POSITION_BOTTOM_RIGHT,
} GstTorchOverlayPosition;

#define GST_TYPE_TORCH_OVERLAY_POSITION (gst_torch_overlay_position_get_type ())
GType gst_torch_overlay_position_get_type (void);

GST_ELEMENT_REGISTER_DECLARE (torchoverlay);

G_END_DECLS

#endif /* __GST_TORCH_OVERLAY_H__ */
