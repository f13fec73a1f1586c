/* torchanalytics: video classification with LibTorch
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gsttorchclassify.h"
#include "gsttorchmetaconvert.h"
#include "gsttorchmetasink.h"
#include "gsttorchoverlay.h"
#include "gsttorchregions.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ret = FALSE;

  ret |= GST_ELEMENT_REGISTER (torchclassify, plugin);
  ret |= GST_ELEMENT_REGISTER (torchmetaconvert, plugin);
  ret |= GST_ELEMENT_REGISTER (torchmetasink, plugin);
  ret |= GST_ELEMENT_REGISTER (torchoverlay, plugin);
  ret |= GST_ELEMENT_REGISTER (torchregions, plugin);

  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, torchanalytics,
    "Video classification with LibTorch (ResNet, TorchScript) and its metadata",
    plugin_init, VERSION, GST_LICENSE, GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
