/* torchanalytics: torchregions
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __GST_TORCH_REGIONS_H__
#define __GST_TORCH_REGIONS_H__

#include <gst/base/gstbasetransform.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_TORCH_REGIONS (gst_torch_regions_get_type ())
G_DECLARE_FINAL_TYPE (GstTorchRegions, gst_torch_regions, GST, TORCH_REGIONS, GstBaseTransform)

GST_ELEMENT_REGISTER_DECLARE (torchregions);

G_END_DECLS

#endif /* __GST_TORCH_REGIONS_H__ */
