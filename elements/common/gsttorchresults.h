/* torchanalytics: the results of a sink pad's buffers as ta::FrameResults
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

#include "json_lines.h"

#include <optional>
#include <string>

/* What torchmetasink and torchmetaconvert both keep on their streaming thread to turn
 * a buffer and its #GstTorchClassificationMeta into ta::FrameResults (the schema is
 * ta::to_json_line's). The one conversion, so that both elements write the same line
 * for the same buffer. GStreamer and core types only, no LibTorch. */
class GstTorchResults
{
public:
  /* At start: frame 0, no size, no stream-id. */
  void reset ();

  /* "width" and "height" from the caps; a size missing in them is null in the output. */
  void set_caps (GstCaps * caps);

  /* Keeps the stream-id of a STREAM_START event. A sink pad stores a sticky event only
   * after its handler accepted it, so the id comes from the event, not from the pad. */
  void set_stream_start (GstEvent * event);

  /* The results of `buffer`, the next frame of the stream (the counter then moves on).
   * `stream_name` is the element's stream-name property, read under the element's
   * object lock; unset or empty, the stream is the upstream stream-id, else the
   * element's name. */
  ta::FrameResults next (GstElement * element, GstPad * sinkpad,
      const std::optional<std::string> & stream_name, GstBuffer * buffer);

  /* include-model-info: each classification also carries the model's SHA-256, the
   * preprocessing settings and the latency, where its meta has them. Off by default. */
  void set_include_model_info (bool on) { model_info_ = on; }

  /* How many frames next() gave since reset(). */
  guint64 frames () const { return frame_; }

private:
  std::string stream_id_;
  guint64 frame_ = 0;
  gint width_ = -1;             /* -1: not in the caps */
  gint height_ = -1;
  bool model_info_ = false;
};
