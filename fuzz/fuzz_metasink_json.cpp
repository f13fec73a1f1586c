// libFuzzer target: the JSON Lines serializer (ta::to_json_line, plugin/core/json_lines.h),
// as a round trip. The input is turned into one frame's results (regions, model names,
// class ids, labels of any bytes, scores of any float bits, NaN and infinities included,
// and the optional members source-pts, roi-id, roi-type), serialized, and the line
// parsed back with nlohmann::json. Checked:
//  - one line: no newline or carriage return in it, one JSON object;
//  - the members in the schema's order, the optional ones exactly when set;
//  - every value comes back: numbers exactly, strings exactly when they were UTF-8 (else
//    with U+FFFD replacements, still valid JSON), scores to 1e-6 or null when not
//    finite, labels highest first with NaN last (stable for equal scores).
//
// Input layout (what scripts/fuzz's seeds follow): n_metas, pts flag, then per meta:
// model, x y w h (u32 each), n_labels, per label: id (u32), label, score (f32 bits);
// strings are one length byte and the bytes. After the metas, when bytes are left: per
// meta a flags byte (1: source-pts, 2: roi-id, 4: roi-type, 8: model-sha256, 16:
// preprocess: resize-size and crop-size (u32 each, as int), resize-mode, mean and std (3
// f32 bits each), 32: latency (u64)) and the values, then the stream name and the frame
// number. Older seeds (without the tail, or without the provenance bits) still parse.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "json_lines.h"
#include "labels.h"

namespace {

void fail(const std::string& what, const std::string& line) {
  std::fprintf(stderr, "fuzz_metasink_json: %s\nline: %s\n", what.c_str(), line.c_str());
  std::abort();
}

// A little reader of the fuzz input; zeros once it is used up.
struct Reader {
  const uint8_t* p;
  size_t n;
  uint8_t byte() {
    if (!n) return 0;
    n--;
    return *p++;
  }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v = v << 8 | byte();
    return v;
  }
  uint64_t u64() { return static_cast<uint64_t>(u32()) << 32 | u32(); }
  std::string str() {
    const size_t len = std::min<size_t>(byte(), n);
    std::string s(reinterpret_cast<const char*>(p), len);
    p += len;
    n -= len;
    return s;  // NUL bytes included: the serializer takes std::string
  }
};

float key(float s) { return std::isnan(s) ? -INFINITY : s; }

std::vector<std::string> keys(const nlohmann::ordered_json& o) {
  std::vector<std::string> k;
  for (auto it = o.begin(); it != o.end(); ++it) k.push_back(it.key());
  return k;
}

// A string member: exactly the input when it was UTF-8 (NUL bytes and all).
void check_string(const nlohmann::ordered_json& v, const std::string& want, const char* what, const std::string& line) {
  if (!v.is_string()) fail(std::string(what) + " is not a string", line);
  if (ta::is_valid_utf8(want) && v.get<std::string>() != want) fail(what, line);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r{data, size};
  ta::FrameResults f;
  f.stream = "fuzz";
  f.classifications.resize(r.byte() % 5);
  const bool has_pts = r.byte() & 1;
  if (has_pts) f.pts = size * 1000;
  f.width = 16;
  f.height = 8;
  for (ta::JsonClassification& c : f.classifications) {
    c.model = r.str();
    c.x = r.u32();
    c.y = r.u32();
    c.w = r.u32();
    c.h = r.u32();
    c.labels.resize(r.byte() % 8);
    for (ta::JsonLabel& l : c.labels) {
      l.id = static_cast<int>(r.u32());
      l.label = r.str();
      const uint32_t bits = r.u32();
      std::memcpy(&l.score, &bits, 4);
    }
  }
  if (r.n > 0) {
    for (ta::JsonClassification& c : f.classifications) {
      const uint8_t flags = r.byte();
      if (flags & 1) c.source_pts = r.u64();
      if (flags & 2) c.roi_id = static_cast<int>(r.u32());
      if (flags & 4) c.roi_type = r.str();
      if (flags & 8) c.model_sha256 = r.str();
      if (flags & 16) {
        ta::JsonPreprocess pp;
        pp.resize_size = static_cast<int>(r.u32());
        pp.crop_size = static_cast<int>(r.u32());
        pp.resize_mode = r.str();
        for (float* v : {&pp.mean[0], &pp.mean[1], &pp.mean[2], &pp.std[0], &pp.std[1], &pp.std[2]}) {
          const uint32_t bits = r.u32();
          std::memcpy(v, &bits, 4);
        }
        c.preprocess = pp;
      }
      if (flags & 32) c.latency = r.u64();
    }
    f.stream = r.str();
    f.frame = r.u64();
    if (r.byte() & 1) f.width.reset();
  }

  const std::string line = ta::to_json_line(f);
  if (line.find('\n') != std::string::npos || line.find('\r') != std::string::npos) fail("not one line", line);
  if (!ta::is_valid_utf8(line)) fail("not UTF-8", line);

  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(line);
  } catch (const std::exception& e) {
    fail(std::string("not JSON: ") + e.what(), line);
  }
  if (!j.is_object()) fail("not an object", line);
  if (keys(j) != std::vector<std::string>{"stream", "frame", "pts", "width", "height", "classifications"})
    fail("members or their order", line);
  check_string(j["stream"], f.stream, "stream", line);
  if (j["frame"] != f.frame) fail("frame", line);
  if (has_pts ? j["pts"] != *f.pts : !j["pts"].is_null()) fail("pts", line);
  if (f.width ? j["width"] != *f.width : !j["width"].is_null()) fail("width", line);
  if (j["height"] != 8) fail("height", line);
  const auto& cs = j["classifications"];
  if (!cs.is_array() || cs.size() != f.classifications.size()) fail("classification count", line);
  for (size_t i = 0; i < f.classifications.size(); i++) {
    const ta::JsonClassification& m = f.classifications[i];
    const auto& c = cs[i];
    std::vector<std::string> want_keys{"model"};
    if (m.source_pts) want_keys.push_back("source-pts");
    if (m.roi_id) want_keys.push_back("roi-id");
    if (m.roi_type) want_keys.push_back("roi-type");
    want_keys.insert(want_keys.end(), {"roi", "labels"});
    if (m.model_sha256) want_keys.push_back("model-sha256");
    if (m.preprocess) want_keys.push_back("preprocess");
    if (m.latency) want_keys.push_back("latency");
    if (keys(c) != want_keys) fail("classification members or their order", line);
    check_string(c["model"], m.model, "model", line);
    if (m.source_pts && c["source-pts"] != *m.source_pts) fail("source-pts", line);
    if (m.roi_id && c["roi-id"] != *m.roi_id) fail("roi-id", line);
    if (m.roi_type) check_string(c["roi-type"], *m.roi_type, "roi-type", line);
    if (m.model_sha256) check_string(c["model-sha256"], *m.model_sha256, "model-sha256", line);
    if (m.latency && c["latency"] != *m.latency) fail("latency", line);
    if (m.preprocess) {
      const auto& p = c["preprocess"];
      if (keys(p) != std::vector<std::string>{"resize-size", "crop-size", "resize-mode", "mean", "std"})
        fail("preprocess members or their order", line);
      if (p["resize-size"] != m.preprocess->resize_size || p["crop-size"] != m.preprocess->crop_size)
        fail("preprocess sizes", line);
      check_string(p["resize-mode"], m.preprocess->resize_mode, "resize-mode", line);
      for (int ch = 0; ch < 3; ch++)
        for (const auto& [name, want_v] : {std::pair<const char*, float>{"mean", m.preprocess->mean[ch]},
                                          std::pair<const char*, float>{"std", m.preprocess->std[ch]}}) {
          const auto& v = p[name][ch];
          if (std::isfinite(want_v)) {
            const double w = std::round(static_cast<double>(want_v) * 1e6) / 1e6;
            if (!v.is_number() || std::fabs(v.get<double>() - w) > 1e-9 * std::max(1.0, std::fabs(w)))
              fail(std::string("preprocess ") + name, line);
          } else if (!v.is_null()) {
            fail(std::string("preprocess ") + name + " not finite but not null", line);
          }
        }
    }
    if (keys(c["roi"]) != std::vector<std::string>{"x", "y", "w", "h"}) fail("roi members", line);
    if (c["roi"]["x"] != m.x || c["roi"]["y"] != m.y || c["roi"]["w"] != m.w || c["roi"]["h"] != m.h)
      fail("roi", line);
    std::vector<ta::JsonLabel> want = m.labels;
    std::stable_sort(want.begin(), want.end(),
                     [](const ta::JsonLabel& a, const ta::JsonLabel& b) { return key(a.score) > key(b.score); });
    const auto& ls = c["labels"];
    if (!ls.is_array() || ls.size() != want.size()) fail("label count", line);
    for (size_t k = 0; k < want.size(); k++) {
      const ta::JsonLabel& w = want[k];
      if (keys(ls[k]) != std::vector<std::string>{"id", "label", "score"}) fail("label members", line);
      if (ls[k]["id"] != w.id) fail("label order or id", line);
      check_string(ls[k]["label"], w.label, "label text", line);
      const auto& s = ls[k]["score"];
      if (std::isfinite(w.score)) {
        if (!s.is_number()) fail("a finite score that is not a number", line);
        const double want_s = std::round(static_cast<double>(w.score) * 1e6) / 1e6;
        if (std::fabs(s.get<double>() - want_s) > 1e-9 * std::max(1.0, std::fabs(want_s))) fail("score", line);
      } else if (!s.is_null()) {
        fail("a score that is not finite is not null", line);
      }
    }
  }
  return 0;
}
