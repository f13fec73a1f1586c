// The JSON Lines schema: see json_lines.h. nlohmann::ordered_json keeps the members in
// the order they are added, which is the schema's.
#include "json_lines.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

namespace ta {

namespace {

using ojson = nlohmann::ordered_json;

// Scores are floats: their shortest double spelling is noise (0.8123f is
// 0.81230002641677856), so keep six decimals, ample for a probability. NaN and the
// infinities stay what they are and are written as null.
double round_score(float score) { return std::round(static_cast<double>(score) * 1e6) / 1e6; }

ojson classification_json(const JsonClassification& c) {
  ojson j;
  j["model"] = c.model;
  if (c.source_pts) j["source-pts"] = *c.source_pts;
  if (c.roi_id) j["roi-id"] = *c.roi_id;
  if (c.roi_type) j["roi-type"] = *c.roi_type;
  j["roi"] = ojson{{"x", c.x}, {"y", c.y}, {"w", c.w}, {"h", c.h}};

  // The schema promises highest score first; producers are not trusted with it. Sort
  // pointers, stable so that equal scores keep their order. NaN compares as -inf: the
  // order stays strict-weak, and NaN goes last.
  std::vector<const JsonLabel*> order;
  order.reserve(c.labels.size());
  for (const JsonLabel& l : c.labels) order.push_back(&l);
  std::stable_sort(order.begin(), order.end(), [](const JsonLabel* a, const JsonLabel* b) {
    auto key = [](float s) { return std::isnan(s) ? -INFINITY : s; };
    return key(a->score) > key(b->score);
  });

  ojson labels = ojson::array();
  for (const JsonLabel* l : order)
    labels.push_back(ojson{{"id", l->id}, {"label", l->label}, {"score", round_score(l->score)}});
  j["labels"] = std::move(labels);
  if (c.model_sha256) j["model-sha256"] = *c.model_sha256;
  if (c.preprocess) {
    const JsonPreprocess& p = *c.preprocess;
    auto triple = [](const float* v) {
      ojson a = ojson::array();
      for (int i = 0; i < 3; i++) a.push_back(round_score(v[i]));
      return a;
    };
    j["preprocess"] = ojson{{"resize-size", p.resize_size}, {"crop-size", p.crop_size},
                            {"resize-mode", p.resize_mode}, {"mean", triple(p.mean)}, {"std", triple(p.std)}};
  }
  if (c.latency) j["latency"] = *c.latency;
  return j;
}

}  // namespace

std::string to_json_line(const FrameResults& f) {
  ojson j;
  j["stream"] = f.stream;
  j["frame"] = f.frame;
  j["pts"] = f.pts ? ojson(*f.pts) : ojson(nullptr);
  j["width"] = f.width ? ojson(*f.width) : ojson(nullptr);
  j["height"] = f.height ? ojson(*f.height) : ojson(nullptr);
  ojson cs = ojson::array();
  for (const JsonClassification& c : f.classifications) cs.push_back(classification_json(c));
  j["classifications"] = std::move(cs);
  // replace: bytes that are not UTF-8 become U+FFFD instead of an exception, and the
  // line stays valid JSON. Compact: no indentation, no spaces.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ta
