/* torchanalytics: one mapping of core errors onto GStreamer error messages
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

#include "error.h"

/* Posts `e` as an ERROR message of `element`, in the GStreamer domain and code its kind
 * stands for (see ta::ErrorKind): the message is the user's sentence, the debug text the
 * technical detail. Every element posts core errors through this one function, so that an
 * application sees the same domain and code for the same problem from any of them. */
void gst_torch_post_core_error (GstElement * element, const ta::Error & e);
