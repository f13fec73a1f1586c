// The one JSON serializer of the results: the JSON Lines schema of shared/DESIGN.md
// (docs/elements/torchmetasink.md) is known here and nowhere else. No GStreamer types:
// the elements fill a FrameResults from their metas and hand the line to a transport.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ta {

struct JsonLabel {
  int id = 0;          // class index in the model's output
  std::string label;   // any bytes: not UTF-8 is written with U+FFFD
  float score = 0.0f;  // rounded to 6 decimals; NaN and infinities are null
};

// How the classified image was preprocessed (provenance, include-model-info).
struct JsonPreprocess {
  int resize_size = 0;
  int crop_size = 0;
  std::string resize_mode;        // "center-crop", "stretch", "letterbox"
  float mean[3] = {0, 0, 0};      // rounded to 6 decimals like the scores
  float std[3] = {0, 0, 0};
};

// One classified region.
struct JsonClassification {
  std::string model;
  std::optional<uint64_t> source_pts;  // ns; set: computed on an earlier frame
  std::optional<int> roi_id;           // the region-of-interest meta's id (regions only)
  std::optional<std::string> roi_type; // its type (regions only)
  uint32_t x = 0, y = 0, w = 0, h = 0; // the region in the buffer's pixels
  std::vector<JsonLabel> labels;       // any order: written highest score first
  // Provenance (torchmetasink/torchmetaconvert include-model-info=true), each written
  // only when set:
  std::optional<std::string> model_sha256;   // lowercase hex SHA-256 of the model's file
  std::optional<JsonPreprocess> preprocess;
  std::optional<uint64_t> latency;           // ns from the frame's arrival to its result
};

// One frame (one buffer).
struct FrameResults {
  std::string stream;
  uint64_t frame = 0;
  std::optional<uint64_t> pts;   // ns; unset: null
  std::optional<int> width;      // unset: null (caps without a size)
  std::optional<int> height;
  std::vector<JsonClassification> classifications;
};

// The frame as one compact JSON object, without the newline. Members in the schema's
// order ("stream", "frame", "pts", "width", "height", "classifications"; in each entry
// "model", "source-pts", "roi-id", "roi-type", "roi", "labels", "model-sha256",
// "preprocess" {"resize-size", "crop-size", "resize-mode", "mean", "std"}, "latency";
// the optional ones only when set). Labels are sorted by score, highest first (stable; NaN last), whatever
// order they came in. Never throws for any content (std::bad_alloc aside); the result
// is always valid UTF-8 and valid JSON.
std::string to_json_line(const FrameResults& frame);

}  // namespace ta
