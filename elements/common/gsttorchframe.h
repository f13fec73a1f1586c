/* torchanalytics: a mapped GstVideoFrame as the core's ta::FrameView
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/video/video.h>

#include "frame.h"

/* Fills the format, size and colorimetry of `v` from `info`. Returns false for a format
 * the core does not read (the pad templates exclude them). */
static inline bool
frame_view_from_info (const GstVideoInfo * info, ta::FrameView * v)
{
  switch (GST_VIDEO_INFO_FORMAT (info)) {
    case GST_VIDEO_FORMAT_RGB: v->format = ta::PixelFormat::RGB; break;
    case GST_VIDEO_FORMAT_BGR: v->format = ta::PixelFormat::BGR; break;
    case GST_VIDEO_FORMAT_RGBA: v->format = ta::PixelFormat::RGBA; break;
    case GST_VIDEO_FORMAT_BGRA: v->format = ta::PixelFormat::BGRA; break;
    case GST_VIDEO_FORMAT_RGBx: v->format = ta::PixelFormat::RGBx; break;
    case GST_VIDEO_FORMAT_BGRx: v->format = ta::PixelFormat::BGRx; break;
    case GST_VIDEO_FORMAT_xRGB: v->format = ta::PixelFormat::xRGB; break;
    case GST_VIDEO_FORMAT_xBGR: v->format = ta::PixelFormat::xBGR; break;
    case GST_VIDEO_FORMAT_ARGB: v->format = ta::PixelFormat::ARGB; break;
    case GST_VIDEO_FORMAT_ABGR: v->format = ta::PixelFormat::ABGR; break;
    case GST_VIDEO_FORMAT_I420: v->format = ta::PixelFormat::I420; break;
    case GST_VIDEO_FORMAT_NV12: v->format = ta::PixelFormat::NV12; break;
    default: return false;
  }
  v->width = GST_VIDEO_INFO_WIDTH (info);
  v->height = GST_VIDEO_INFO_HEIGHT (info);
  const GstVideoColorimetry *c = &GST_VIDEO_INFO_COLORIMETRY (info);
  switch (c->matrix) {
    case GST_VIDEO_COLOR_MATRIX_BT709: v->matrix = ta::ColorMatrix::BT709; break;
    case GST_VIDEO_COLOR_MATRIX_BT2020: v->matrix = ta::ColorMatrix::BT2020; break;
    default: v->matrix = ta::ColorMatrix::BT601; break;
  }
  v->full_range = c->range == GST_VIDEO_COLOR_RANGE_0_255;
  return true;
}

/* Fills `v` from a mapped frame: format, size, planes, strides and colorimetry.
 * Returns false for a format the core does not read. */
static inline bool
frame_view_from (const GstVideoFrame * f, ta::FrameView * v)
{
  if (!frame_view_from_info (&f->info, v))
    return false;
  for (guint i = 0; i < GST_VIDEO_FRAME_N_PLANES (f) && i < 3; i++) {
    v->planes[i] = (const uint8_t *) GST_VIDEO_FRAME_PLANE_DATA (f, i);
    v->strides[i] = GST_VIDEO_FRAME_PLANE_STRIDE (f, i);
  }
  return true;
}
