// libFuzzer target: torchmetasink's JSON Lines output, as a round trip. The input is
// turned into classification metas (regions, model names, class ids, labels of any
// bytes, scores of any float bits, NaN and infinities included) on a buffer pushed
// through torchmetasink (the plugin of this build, GST_PLUGIN_PATH); the line it writes is
// parsed back with nlohmann::json. Checked:
//  - exactly one line per buffer, one JSON object, ending with the only newline;
//  - frame counts from 0, pts is the buffer's or null;
//  - every meta and label comes back: ids and regions exactly, labels exactly when they
//    were UTF-8 (else with U+FFFD replacements, still valid JSON), scores to 1e-6 or
//    null when not finite, highest first with NaN last (stable for equal scores).
#include <glib.h>
#include <glib/gstdio.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gsttorchclassificationmeta.h"

namespace {

std::string path;
GstHarness* h = nullptr;
size_t offset = 0;   // what of the file was read
guint64 frame = 0;   // the sink's frame counter
int pushed = 0;

void fail(const std::string& what, const std::string& line) {
  std::fprintf(stderr, "fuzz_metasink_json: %s\nline: %s\n", what.c_str(), line.c_str());
  std::abort();
}

void start_sink() {
  if (h) gst_harness_teardown(h);
  h = gst_harness_new_parse(("torchmetasink sync=false stream-name=fuzz location=" + path).c_str());
  if (!h) fail("no torchmetasink: set GST_PLUGIN_PATH to the build's plugin/", "");
  gst_harness_set_src_caps_str(h, "video/x-raw,format=RGB,width=16,height=8,framerate=30/1");
  offset = 0;
  frame = 0;
}

// A little reader of the fuzz input.
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
  std::string str() {
    const size_t len = std::min<size_t>(byte(), n);
    std::string s(reinterpret_cast<const char*>(p), len);
    p += len;
    n -= len;
    // The meta keeps C strings: what follows a NUL byte is not part of the label.
    return s.substr(0, s.find('\0'));
  }
};

struct Label {
  int id;
  std::string text;
  float score;
};
struct Meta {
  std::string model;
  guint x, y, w, h;
  std::vector<Label> labels;
};

float key(float s) { return std::isnan(s) ? -INFINITY : s; }

bool utf8(const std::string& s) { return g_utf8_validate(s.data(), (gssize)s.size(), nullptr); }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  gst_init(argc, argv);
  gchar* p = g_build_filename(g_get_tmp_dir(), "ta-fuzz-metasink-XXXXXX", nullptr);
  const int fd = g_mkstemp(p);
  if (fd < 0) std::abort();
  close(fd);
  path = p;
  g_free(p);
  std::atexit([] { g_unlink(path.c_str()); });
  start_sink();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A fresh sink now and then: the file starts again, the frame counter too.
  if (++pushed % 2000 == 0) start_sink();

  Reader r{data, size};
  std::vector<Meta> metas(r.byte() % 5);
  const bool has_pts = r.byte() & 1;
  for (Meta& m : metas) {
    m.model = r.str();
    m.x = r.u32();
    m.y = r.u32();
    m.w = r.u32();
    m.h = r.u32();
    m.labels.resize(r.byte() % 8);
    for (Label& l : m.labels) {
      l.id = (int)r.u32();
      l.text = r.str();
      const uint32_t bits = r.u32();
      std::memcpy(&l.score, &bits, 4);
    }
  }

  GstBuffer* b = gst_buffer_new_allocate(nullptr, 16 * 8 * 3, nullptr);
  const GstClockTime pts = has_pts ? (GstClockTime)(size * 1000) : GST_CLOCK_TIME_NONE;
  GST_BUFFER_PTS(b) = pts;
  for (const Meta& m : metas) {
    GstTorchClassificationMeta* gm = gst_buffer_add_torch_classification_meta(b, m.model.c_str(), m.x, m.y, m.w, m.h);
    for (const Label& l : m.labels) gst_torch_classification_meta_add_label(gm, l.id, l.text.c_str(), l.score);
  }
  if (gst_harness_push(h, b) != GST_FLOW_OK) fail("push failed", "");

  // The new bytes of the file: one line.
  std::ifstream f(path, std::ios::binary);
  f.seekg((std::streamoff)offset);
  const std::string got((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  offset += got.size();
  if (got.empty() || got.back() != '\n' || got.find('\n') != got.size() - 1) fail("not one line", got);
  const std::string line = got.substr(0, got.size() - 1);

  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const std::exception& e) {
    fail(std::string("not JSON: ") + e.what(), line);
  }
  if (!j.is_object()) fail("not an object", line);
  if (j["stream"] != "fuzz") fail("stream", line);
  if (j["frame"] != frame++) fail("frame", line);
  if (has_pts ? j["pts"] != pts : !j["pts"].is_null()) fail("pts", line);
  if (j["width"] != 16 || j["height"] != 8) fail("size", line);
  const auto& cs = j["classifications"];
  if (!cs.is_array() || cs.size() != metas.size()) fail("classification count", line);
  for (size_t i = 0; i < metas.size(); i++) {
    const Meta& m = metas[i];
    const auto& c = cs[i];
    if (utf8(m.model) && c["model"] != m.model) fail("model", line);
    if (c.contains("source-pts")) fail("source-pts without one set", line);
    if (c["roi"]["x"] != m.x || c["roi"]["y"] != m.y || c["roi"]["w"] != m.w || c["roi"]["h"] != m.h)
      fail("roi", line);
    std::vector<Label> want = m.labels;
    std::stable_sort(want.begin(), want.end(), [](const Label& a, const Label& b) { return key(a.score) > key(b.score); });
    const auto& ls = c["labels"];
    if (ls.size() != want.size()) fail("label count", line);
    for (size_t k = 0; k < want.size(); k++) {
      const Label& w = want[k];
      if (ls[k]["id"] != w.id) fail("label order or id", line);
      if (utf8(w.text) && ls[k]["label"] != w.text) fail("label text", line);
      const auto& s = ls[k]["score"];
      if (std::isfinite(w.score)) {
        if (!s.is_number()) fail("a finite score that is not a number", line);
        const double want_s = std::round((double)w.score * 1e6) / 1e6;
        if (std::fabs(s.get<double>() - want_s) > 1e-9 * std::max(1.0, std::fabs(want_s))) fail("score", line);
      } else if (!s.is_null()) {
        fail("a score that is not finite is not null", line);
      }
    }
  }
  return 0;
}
