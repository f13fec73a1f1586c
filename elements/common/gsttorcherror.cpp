/* torchanalytics: one mapping of core errors onto GStreamer error messages
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "gsttorcherror.h"

/* GST_ELEMENT_ERROR needs its domain and code as tokens, so each kind has its own line. */
#define POST(element, domain, code, e)                                          \
  G_STMT_START {                                                                \
    if ((e).detail ().empty ())                                                 \
      GST_ELEMENT_ERROR (element, domain, code, ("%s", (e).what ()), (NULL));   \
    else                                                                        \
      GST_ELEMENT_ERROR (element, domain, code, ("%s", (e).what ()),            \
          ("%s", (e).detail ().c_str ()));                                      \
  } G_STMT_END

void
gst_torch_post_core_error (GstElement * element, const ta::Error & e)
{
  switch (e.kind ()) {
    case ta::ErrorKind::NotFound:
      POST (element, RESOURCE, NOT_FOUND, e);
      break;
    case ta::ErrorKind::OpenRead:
      POST (element, RESOURCE, OPEN_READ, e);
      break;
    case ta::ErrorKind::Settings:
      POST (element, RESOURCE, SETTINGS, e);
      break;
    case ta::ErrorKind::Device:
      /* A device that is not there (cuda:3 on a one-GPU machine): a resource, as a
       * missing file is. */
      POST (element, RESOURCE, NOT_FOUND, e);
      break;
    case ta::ErrorKind::Init:
      POST (element, LIBRARY, INIT, e);
      break;
    case ta::ErrorKind::Stream:
      POST (element, STREAM, FAILED, e);
      break;
    case ta::ErrorKind::OpenWrite:
      POST (element, RESOURCE, OPEN_WRITE, e);
      break;
    case ta::ErrorKind::Write:
      POST (element, RESOURCE, WRITE, e);
      break;
    case ta::ErrorKind::NoSpaceLeft:
      POST (element, RESOURCE, NO_SPACE_LEFT, e);
      break;
    case ta::ErrorKind::Close:
      POST (element, RESOURCE, CLOSE, e);
      break;
    case ta::ErrorKind::NotImplemented:
      POST (element, CORE, NOT_IMPLEMENTED, e);
      break;
  }
}
