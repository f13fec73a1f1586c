// torchmetasink: one JSON object per line for every buffer, exactly the DESIGN.md schema.
#include <fcntl.h>
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gsttorchclassificationmeta.h"
#include "stdout_redirect.h"
#include "text_files.h"

using ojson = nlohmann::ordered_json;

namespace {

const char* kCaps = "video/x-raw,format=RGB,width=320,height=240,framerate=30/1";

// A fresh file name under the temp dir, removed when the test ends.
class TempFile {
 public:
  explicit TempFile(const char* tmpl = "torchmetasink-XXXXXX.jsonl") {
    GError* err = nullptr;
    gchar* path = nullptr;
    const gint fd = g_file_open_tmp(tmpl, &path, &err);
    EXPECT_GE(fd, 0) << (err ? err->message : "");
    if (fd >= 0) close(fd);
    g_clear_error(&err);
    path_ = path ? path : "";
    g_free(path);
  }
  ~TempFile() {
    if (!path_.empty()) g_unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  const char* c_str() const { return path_.c_str(); }

 private:
  std::string path_;
};

using ta_test::read_file;

// The file's lines; a file that does not end with '\n' fails the test (a cut line).
std::vector<std::string> read_lines(const std::string& path) { return ta_test::split_lines(read_file(path)); }

std::vector<std::string> keys(const ojson& o) {
  std::vector<std::string> k;
  for (auto it = o.begin(); it != o.end(); ++it) k.push_back(it.key());
  return k;
}

// A harness around a torchmetasink configured before it starts (gst_harness_new would
// start it at once, with the default location).
GstHarness* new_sink_harness(const std::string& location, const char* stream_name = nullptr) {
  GstElement* e = gst_element_factory_make("torchmetasink", nullptr);
  EXPECT_NE(e, nullptr) << "torchmetasink not found: is GST_PLUGIN_PATH the build's plugin dir?";
  if (!e) return nullptr;
  if (!location.empty()) g_object_set(e, "location", location.c_str(), nullptr);
  if (stream_name) g_object_set(e, "stream-name", stream_name, nullptr);
  GstHarness* h = gst_harness_new_with_element(e, "sink", nullptr);
  gst_object_unref(e);
  gst_harness_set_src_caps_str(h, kCaps);
  return h;
}

GstBuffer* new_frame(GstClockTime pts) {
  GstBuffer* buf = gst_buffer_new_allocate(nullptr, 320 * 240 * 3, nullptr);
  GST_BUFFER_PTS(buf) = pts;
  GST_BUFFER_DURATION(buf) = GST_SECOND / 30;
  return buf;
}

struct Label {
  gint id;
  std::string label;
  gfloat score;
};

GstTorchClassificationMeta* add_meta(GstBuffer* buf, const char* model, guint x, guint y, guint w,
                                     guint h, const std::vector<Label>& labels) {
  GstTorchClassificationMeta* m = gst_buffer_add_torch_classification_meta(buf, model, x, y, w, h);
  EXPECT_NE(m, nullptr);
  if (!m) return nullptr;
  for (const Label& l : labels)
    gst_torch_classification_meta_add_label(m, l.id, l.label.c_str(), l.score);
  return m;
}

void expect_roi(const ojson& c, guint x, guint y, guint w, guint h) {
  ASSERT_TRUE(c.contains("roi")) << c.dump();
  const ojson& roi = c["roi"];
  EXPECT_EQ(keys(roi), (std::vector<std::string>{"x", "y", "w", "h"}));
  EXPECT_EQ(roi["x"].get<guint>(), x);
  EXPECT_EQ(roi["y"].get<guint>(), y);
  EXPECT_EQ(roi["w"].get<guint>(), w);
  EXPECT_EQ(roi["h"].get<guint>(), h);
}

// `want` is in the expected output order.
void expect_labels(const ojson& c, const std::vector<Label>& want) {
  ASSERT_TRUE(c.contains("labels")) << c.dump();
  const ojson& labels = c["labels"];
  ASSERT_TRUE(labels.is_array());
  ASSERT_EQ(labels.size(), want.size()) << c.dump();
  for (size_t i = 0; i < want.size(); i++) {
    SCOPED_TRACE("label " + std::to_string(i));
    EXPECT_EQ(keys(labels[i]), (std::vector<std::string>{"id", "label", "score"}));
    EXPECT_EQ(labels[i]["id"].get<gint>(), want[i].id);
    EXPECT_EQ(labels[i]["label"].get<std::string>(), want[i].label);
    EXPECT_NEAR(labels[i]["score"].get<double>(), (double)want[i].score, 1e-6);
  }
}

// Parses a line as one JSON object; fails the test when it is not one.
ojson parse_line(const std::string& line) {
  ojson j;
  try {
    j = ojson::parse(line);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON: " << e.what() << "\n" << line;
    return ojson::object();
  }
  EXPECT_TRUE(j.is_object()) << line;
  return j;
}

void expect_frame_header(const ojson& j, const char* stream, guint64 frame) {
  EXPECT_EQ(keys(j), (std::vector<std::string>{"stream", "frame", "pts", "width", "height",
                                               "classifications"}));
  EXPECT_EQ(j["stream"].get<std::string>(), stream);
  EXPECT_EQ(j["frame"].get<guint64>(), frame);
  EXPECT_EQ(j["width"].get<gint>(), 320);
  EXPECT_EQ(j["height"].get<gint>(), 240);
  EXPECT_TRUE(j["classifications"].is_array());
}

GstMessage* pop_error_or_eos(GstBus* bus, GstClockTime timeout) {
  return gst_bus_timed_pop_filtered(bus, timeout,
                                    (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
}

std::string error_text(GstMessage* msg) {
  if (!msg || GST_MESSAGE_TYPE(msg) != GST_MESSAGE_ERROR) return "";
  GError* err = nullptr;
  gchar* dbg = nullptr;
  gst_message_parse_error(msg, &err, &dbg);
  std::string s = std::string(err->message) + " (" + (dbg ? dbg : "") + ")";
  g_error_free(err);
  g_free(dbg);
  return s;
}

}  // namespace

TEST(TorchMetaSink, Properties) {
  GstElement* e = gst_element_factory_make("torchmetasink", nullptr);
  ASSERT_NE(e, nullptr);
  gchar* location = (gchar*)0x1;
  gchar* stream = (gchar*)0x1;
  gboolean sync = TRUE;
  g_object_get(e, "location", &location, "stream-name", &stream, "sync", &sync, nullptr);
  EXPECT_EQ(location, nullptr);
  EXPECT_EQ(stream, nullptr);
  EXPECT_FALSE(sync);  // like filesink

  g_object_set(e, "location", "/tmp/a.jsonl", "stream-name", "cam0", nullptr);
  g_object_get(e, "location", &location, "stream-name", &stream, nullptr);
  EXPECT_STREQ(location, "/tmp/a.jsonl");
  EXPECT_STREQ(stream, "cam0");
  g_free(location);
  g_free(stream);

  g_object_set(e, "location", nullptr, "stream-name", nullptr, nullptr);
  g_object_get(e, "location", &location, "stream-name", &stream, nullptr);
  EXPECT_EQ(location, nullptr);
  EXPECT_EQ(stream, nullptr);

  GParamSpec* p = g_object_class_find_property(G_OBJECT_GET_CLASS(e), "location");
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->flags & GST_PARAM_MUTABLE_READY);
  EXPECT_NE(g_param_spec_get_blurb(p), nullptr);
  gst_object_unref(e);
}

TEST(TorchMetaSink, PadTemplateAcceptsAnyVideoFeatures) {
  GstElementFactory* f = gst_element_factory_find("torchmetasink");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(gst_element_factory_get_num_pad_templates(f), 1u);
  GstCaps* cuda = gst_caps_from_string("video/x-raw(memory:CUDAMemory),format=NV12,width=64,height=32");
  GstCaps* audio = gst_caps_from_string("audio/x-raw");
  EXPECT_TRUE(gst_element_factory_can_sink_any_caps(f, cuda));
  EXPECT_FALSE(gst_element_factory_can_sink_any_caps(f, audio));
  gst_caps_unref(cuda);
  gst_caps_unref(audio);
  gst_object_unref(f);
}

TEST(TorchMetaSink, WritesEveryFieldExactly) {
  TempFile out;
  GstHarness* h = new_sink_harness(out.path(), "cam0");
  ASSERT_NE(h, nullptr);

  // 0: one full-frame result, added highest first.
  const std::vector<Label> l0 = {{281, "tabby", 0.8123f}, {285, "Egyptian cat", 0.0911f}};
  // 1: labels that need escaping, added in no particular order.
  const std::vector<Label> l1 = {{1, "quote \"x\"", 0.1f},
                                 {2, "back\\slash", 0.3f},
                                 {3, "new\nline", 0.05f},
                                 {4, "tab\there", 0.25f},
                                 {5, "caf\xc3\xa9 \xf0\x9f\x90\xb1", 0.2f},
                                 {6, std::string("ctl\x01\x1f end"), 0.07f},
                                 {7, "", 0.03f}};
  // 2: two regions.
  const std::vector<Label> l2a = {{10, "a-first", 0.9f}, {11, "a-second", 0.1f}};
  const std::vector<Label> l2b = {{20, "b-only", 0.5f}};
  // 4: no PTS. 5: computed on an earlier frame.
  const std::vector<Label> l4 = {{0, "zero", 1.0f}};
  const std::vector<Label> l5 = {{999, "toilet tissue", 0.421875f}, {998, "ear", 0.125f}};

  GstBuffer* b;
  b = new_frame(0);
  add_meta(b, "resnet50", 0, 0, 320, 240, l0);
  ASSERT_EQ(gst_harness_push(h, b), GST_FLOW_OK);

  b = new_frame(33333333);
  add_meta(b, "resnet50", 0, 0, 320, 240, l1);
  ASSERT_EQ(gst_harness_push(h, b), GST_FLOW_OK);

  b = new_frame(66666666);
  add_meta(b, "model-a", 10, 20, 30, 40, l2a);
  add_meta(b, "model-b", 100, 120, 50, 60, l2b);
  ASSERT_EQ(gst_harness_push(h, b), GST_FLOW_OK);

  b = new_frame(100000000);  // no meta
  ASSERT_EQ(gst_harness_push(h, b), GST_FLOW_OK);

  b = new_frame(GST_CLOCK_TIME_NONE);
  add_meta(b, "resnet18", 1, 2, 3, 4, l4);
  ASSERT_EQ(gst_harness_push(h, b), GST_FLOW_OK);

  b = new_frame(166666666);
  GstTorchClassificationMeta* m = add_meta(b, "resnet50", 0, 0, 320, 240, l5);
  ASSERT_NE(m, nullptr);
  m->source_pts = 133333333;
  ASSERT_EQ(gst_harness_push(h, b), GST_FLOW_OK);

  ASSERT_TRUE(gst_harness_push_event(h, gst_event_new_eos()));
  gst_harness_teardown(h);

  const std::vector<std::string> lines = read_lines(out.path());
  ASSERT_EQ(lines.size(), 6u);

  // Scores keep six decimals, not the float's noise; every line is compact JSON.
  EXPECT_NE(lines[0].find("\"score\":0.8123}"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"score\":0.0911}"), std::string::npos) << lines[0];
  EXPECT_EQ(lines[0].find("0.8123000"), std::string::npos) << lines[0];

  {
    SCOPED_TRACE("frame 0");
    ojson j = parse_line(lines[0]);
    expect_frame_header(j, "cam0", 0);
    EXPECT_EQ(j["pts"].get<guint64>(), 0u);
    ASSERT_EQ(j["classifications"].size(), 1u);
    const ojson& c = j["classifications"][0];
    EXPECT_EQ(keys(c), (std::vector<std::string>{"model", "roi", "labels"}));
    EXPECT_EQ(c["model"].get<std::string>(), "resnet50");
    expect_roi(c, 0, 0, 320, 240);
    expect_labels(c, l0);
  }
  {
    SCOPED_TRACE("frame 1: escaping and order");
    ojson j = parse_line(lines[1]);
    expect_frame_header(j, "cam0", 1);
    EXPECT_EQ(j["pts"].get<guint64>(), 33333333u);
    ASSERT_EQ(j["classifications"].size(), 1u);
    std::vector<Label> sorted = l1;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const Label& a, const Label& b) { return a.score > b.score; });
    ASSERT_EQ(sorted[0].id, 2);  // the test's own premise
    expect_labels(j["classifications"][0], sorted);
  }
  {
    SCOPED_TRACE("frame 2: two regions");
    ojson j = parse_line(lines[2]);
    expect_frame_header(j, "cam0", 2);
    EXPECT_EQ(j["pts"].get<guint64>(), 66666666u);
    const ojson& cs = j["classifications"];
    ASSERT_EQ(cs.size(), 2u);
    // The order of regions on a buffer is not part of the contract: match by model.
    int seen_a = 0, seen_b = 0;
    for (const ojson& c : cs) {
      if (c["model"] == "model-a") {
        seen_a++;
        expect_roi(c, 10, 20, 30, 40);
        expect_labels(c, l2a);
      } else if (c["model"] == "model-b") {
        seen_b++;
        expect_roi(c, 100, 120, 50, 60);
        expect_labels(c, l2b);
      } else {
        ADD_FAILURE() << "unexpected model " << c["model"];
      }
      EXPECT_FALSE(c.contains("source-pts"));
    }
    EXPECT_EQ(seen_a, 1);
    EXPECT_EQ(seen_b, 1);
  }
  {
    SCOPED_TRACE("frame 3: no meta");
    ojson j = parse_line(lines[3]);
    expect_frame_header(j, "cam0", 3);
    EXPECT_EQ(j["pts"].get<guint64>(), 100000000u);
    EXPECT_TRUE(j["classifications"].is_array());
    EXPECT_TRUE(j["classifications"].empty());
    EXPECT_NE(lines[3].find("\"classifications\":[]"), std::string::npos) << lines[3];
  }
  {
    SCOPED_TRACE("frame 4: no pts");
    ojson j = parse_line(lines[4]);
    expect_frame_header(j, "cam0", 4);
    EXPECT_TRUE(j["pts"].is_null()) << lines[4];
    ASSERT_EQ(j["classifications"].size(), 1u);
    const ojson& c = j["classifications"][0];
    EXPECT_EQ(c["model"].get<std::string>(), "resnet18");
    EXPECT_FALSE(c.contains("source-pts"));
    expect_roi(c, 1, 2, 3, 4);
    expect_labels(c, l4);
  }
  {
    SCOPED_TRACE("frame 5: source-pts");
    ojson j = parse_line(lines[5]);
    expect_frame_header(j, "cam0", 5);
    EXPECT_EQ(j["pts"].get<guint64>(), 166666666u);
    ASSERT_EQ(j["classifications"].size(), 1u);
    const ojson& c = j["classifications"][0];
    EXPECT_EQ(keys(c), (std::vector<std::string>{"model", "source-pts", "roi", "labels"}));
    EXPECT_EQ(c["source-pts"].get<guint64>(), 133333333u);
    expect_roi(c, 0, 0, 320, 240);
    expect_labels(c, l5);
  }
}

TEST(TorchMetaSink, InvalidUtf8LabelStillGivesValidJson) {
  TempFile out;
  GstHarness* h = new_sink_harness(out.path(), "s");
  ASSERT_NE(h, nullptr);
  GstBuffer* b = new_frame(0);
  add_meta(b, "bad\xc3", 0, 0, 320, 240, {{1, "ok", 0.6f}, {2, "bad \xff\xfe utf8", 0.4f}});
  ASSERT_EQ(gst_harness_push(h, b), GST_FLOW_OK);
  gst_harness_teardown(h);

  const std::vector<std::string> lines = read_lines(out.path());
  ASSERT_EQ(lines.size(), 1u);
  ojson j = parse_line(lines[0]);
  ASSERT_EQ(j["classifications"].size(), 1u);
  const ojson& c = j["classifications"][0];
  const std::string bad = c["labels"][1]["label"].get<std::string>();
  // Each invalid byte becomes U+FFFD; the valid parts are kept.
  EXPECT_EQ(bad, "bad \xef\xbf\xbd\xef\xbf\xbd utf8");
  EXPECT_EQ(c["labels"][0]["label"].get<std::string>(), "ok");
  EXPECT_EQ(c["model"].get<std::string>(), "bad\xef\xbf\xbd");
}

// A broken model's NaN must neither break the sort nor the JSON: null, and last.
TEST(TorchMetaSink, NanScoreIsNullAndLast) {
  TempFile out;
  GstHarness* h = new_sink_harness(out.path(), "s");
  ASSERT_NE(h, nullptr);
  GstBuffer* b = new_frame(0);
  add_meta(b, "m", 0, 0, 320, 240,
           {{1, "nan", NAN}, {2, "low", 0.25f}, {3, "inf", INFINITY}, {4, "mid", 0.5f}});
  ASSERT_EQ(gst_harness_push(h, b), GST_FLOW_OK);
  gst_harness_teardown(h);

  const std::vector<std::string> lines = read_lines(out.path());
  ASSERT_EQ(lines.size(), 1u);
  ojson j = parse_line(lines[0]);
  const ojson& labels = j["classifications"][0]["labels"];
  ASSERT_EQ(labels.size(), 4u);
  std::vector<int> ids;
  for (const ojson& l : labels) ids.push_back(l["id"].get<int>());
  EXPECT_EQ(ids, (std::vector<int>{3, 4, 2, 1}));
  EXPECT_TRUE(labels[0]["score"].is_null());  // inf: JSON has no infinity
  EXPECT_DOUBLE_EQ(labels[1]["score"].get<double>(), 0.5);
  EXPECT_TRUE(labels[3]["score"].is_null());
}

TEST(TorchMetaSink, DefaultStreamNameIsUpstreamStreamId) {
  TempFile out;
  GstHarness* h = new_sink_harness(out.path());
  ASSERT_NE(h, nullptr);
  ASSERT_EQ(gst_harness_push(h, new_frame(0)), GST_FLOW_OK);
  gchar* id = gst_pad_get_stream_id(h->srcpad);
  ASSERT_NE(id, nullptr) << "the harness sent no stream-start";
  const std::string stream_id = id;
  g_free(id);
  gchar* name = gst_element_get_name(h->element);
  const std::string element_name = name;
  g_free(name);
  gst_harness_teardown(h);

  const std::vector<std::string> lines = read_lines(out.path());
  ASSERT_EQ(lines.size(), 1u);
  ojson j = parse_line(lines[0]);
  EXPECT_FALSE(stream_id.empty());
  EXPECT_NE(stream_id, element_name);
  EXPECT_EQ(j["stream"].get<std::string>(), stream_id);
}

TEST(TorchMetaSink, CapsWithoutSizeGiveNullSize) {
  TempFile out;
  GstElement* e = gst_element_factory_make("torchmetasink", nullptr);
  ASSERT_NE(e, nullptr);
  g_object_set(e, "location", out.c_str(), nullptr);
  GstHarness* h = gst_harness_new_with_element(e, "sink", nullptr);
  gst_object_unref(e);
  gst_harness_set_src_caps_str(h, "video/x-raw(memory:CUDAMemory),format=NV12");
  ASSERT_EQ(gst_harness_push(h, new_frame(5)), GST_FLOW_OK);
  gst_harness_set_src_caps_str(h, "video/x-raw(memory:CUDAMemory),format=NV12,width=64,height=32");
  ASSERT_EQ(gst_harness_push(h, new_frame(6)), GST_FLOW_OK);
  gst_harness_teardown(h);

  const std::vector<std::string> lines = read_lines(out.path());
  ASSERT_EQ(lines.size(), 2u);
  ojson j0 = parse_line(lines[0]);
  EXPECT_TRUE(j0["width"].is_null()) << lines[0];
  EXPECT_TRUE(j0["height"].is_null()) << lines[0];
  EXPECT_EQ(j0["pts"].get<guint64>(), 5u);
  ojson j1 = parse_line(lines[1]);
  EXPECT_EQ(j1["width"].get<gint>(), 64);
  EXPECT_EQ(j1["height"].get<gint>(), 32);
  EXPECT_EQ(j1["frame"].get<guint64>(), 1u);
}

// Each line is written and flushed whole: stopping without EOS loses nothing.
TEST(TorchMetaSink, NothingLostOnStateChange) {
  TempFile out;
  GstHarness* h = new_sink_harness(out.path(), "burst");
  ASSERT_NE(h, nullptr);
  const int n = 500;
  for (int i = 0; i < n; i++) {
    GstBuffer* b = new_frame((GstClockTime)i * GST_MSECOND);
    add_meta(b, "resnet50", 0, 0, 320, 240, {{i % 1000, "label with some length to fill", 0.5f}});
    ASSERT_EQ(gst_harness_push(h, b), GST_FLOW_OK) << "buffer " << i;
  }
  // No EOS: straight to NULL.
  ASSERT_EQ(gst_element_set_state(h->element, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);

  const std::vector<std::string> lines = read_lines(out.path());
  ASSERT_EQ(lines.size(), (size_t)n);
  for (int i = 0; i < n; i++) {
    ojson j = parse_line(lines[i]);
    ASSERT_EQ(j["frame"].get<int>(), i) << lines[i];
    ASSERT_EQ(j["pts"].get<guint64>(), (guint64)i * GST_MSECOND);
    ASSERT_EQ(j["classifications"][0]["labels"][0]["id"].get<int>(), i % 1000);
  }
  gst_harness_teardown(h);
}

TEST(TorchMetaSink, UnwritableLocationFailsToStart_n) {
  const char* bad = "/nonexistent-dir/x.jsonl";
  GError* err = nullptr;
  GstElement* pipe = gst_parse_launch(
      "appsrc caps=video/x-raw,format=RGB,width=320,height=240,framerate=30/1 "
      "! torchmetasink name=sink location=/nonexistent-dir/x.jsonl",
      &err);
  ASSERT_NE(pipe, nullptr) << (err ? err->message : "");
  ASSERT_EQ(err, nullptr) << err->message;
  GstBus* bus = gst_element_get_bus(pipe);

  // The sink opens its file in start(), during READY -> PAUSED: that step fails.
  EXPECT_EQ(gst_element_set_state(pipe, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);

  GstMessage* msg = gst_bus_timed_pop_filtered(bus, 5 * GST_SECOND, GST_MESSAGE_ERROR);
  ASSERT_NE(msg, nullptr) << "no error on the bus within 5 s";
  GError* gerr = nullptr;
  gchar* dbg = nullptr;
  gst_message_parse_error(msg, &gerr, &dbg);
  EXPECT_EQ(gerr->domain, GST_RESOURCE_ERROR);
  EXPECT_EQ(gerr->code, GST_RESOURCE_ERROR_OPEN_WRITE);
  EXPECT_NE(std::string(gerr->message).find(bad), std::string::npos) << gerr->message;
  EXPECT_NE(std::string(gerr->message).find(g_strerror(ENOENT)), std::string::npos)
      << gerr->message;
  EXPECT_STREQ(GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)), "sink");
  g_error_free(gerr);
  g_free(dbg);
  gst_message_unref(msg);

  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(pipe);
}

// /dev/full accepts the open and fails every write with ENOSPC: a disk-full stand-in.
TEST(TorchMetaSink, WriteFailureIsAnError_n) {
  if (access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  GstHarness* h = new_sink_harness("/dev/full", "full");
  ASSERT_NE(h, nullptr);
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(h->element, bus);

  EXPECT_EQ(gst_harness_push(h, new_frame(0)), GST_FLOW_ERROR);

  GstMessage* msg = gst_bus_timed_pop_filtered(bus, 5 * GST_SECOND, GST_MESSAGE_ERROR);
  ASSERT_NE(msg, nullptr) << "no error on the bus within 5 s";
  GError* gerr = nullptr;
  gchar* dbg = nullptr;
  gst_message_parse_error(msg, &gerr, &dbg);
  EXPECT_EQ(gerr->domain, GST_RESOURCE_ERROR);
  EXPECT_EQ(gerr->code, GST_RESOURCE_ERROR_NO_SPACE_LEFT);
  EXPECT_NE(std::string(gerr->message).find("/dev/full"), std::string::npos) << gerr->message;
  EXPECT_NE(std::string(gerr->message).find(g_strerror(ENOSPC)), std::string::npos)
      << gerr->message;
  g_error_free(gerr);
  g_free(dbg);
  gst_message_unref(msg);

  gst_element_set_bus(h->element, nullptr);
  gst_object_unref(bus);
  gst_harness_teardown(h);
}

namespace {
using ta_test::StdoutRedirect;

void check_stdout_output(const char* location) {
  TempFile out("torchmetasink-stdout-XXXXXX.jsonl");
  {
    StdoutRedirect redirect(out.path());
    GstElement* e = gst_element_factory_make("torchmetasink", nullptr);
    ASSERT_NE(e, nullptr);
    if (location) g_object_set(e, "location", location, nullptr);
    g_object_set(e, "stream-name", "stdout-stream", nullptr);
    GstHarness* h = gst_harness_new_with_element(e, "sink", nullptr);
    gst_object_unref(e);
    gst_harness_set_src_caps_str(h, kCaps);
    GstBuffer* b = new_frame(7 * GST_MSECOND);
    add_meta(b, "resnet50", 0, 0, 320, 240, {{281, "tabby", 0.5f}});
    EXPECT_EQ(gst_harness_push(h, b), GST_FLOW_OK);
    EXPECT_EQ(gst_harness_push(h, new_frame(8 * GST_MSECOND)), GST_FLOW_OK);
    EXPECT_TRUE(gst_harness_push_event(h, gst_event_new_eos()));
    gst_harness_teardown(h);
    redirect.restore();
  }
  // stdout itself must still work after the sink stopped (it is not closed).
  EXPECT_NE(fcntl(STDOUT_FILENO, F_GETFD), -1);

  const std::vector<std::string> lines = read_lines(out.path());
  ASSERT_EQ(lines.size(), 2u);
  ojson j = parse_line(lines[0]);
  EXPECT_EQ(j["stream"].get<std::string>(), "stdout-stream");
  EXPECT_EQ(j["frame"].get<int>(), 0);
  EXPECT_EQ(j["pts"].get<guint64>(), 7 * GST_MSECOND);
  EXPECT_EQ(j["width"].get<int>(), 320);
  ASSERT_EQ(j["classifications"].size(), 1u);
  expect_labels(j["classifications"][0], {{281, "tabby", 0.5f}});
  ojson j1 = parse_line(lines[1]);
  EXPECT_EQ(j1["frame"].get<int>(), 1);
  EXPECT_TRUE(j1["classifications"].empty());
}
}  // namespace

TEST(TorchMetaSink, WritesToStdoutWhenLocationUnset) { check_stdout_output(nullptr); }

TEST(TorchMetaSink, WritesToStdoutWhenLocationIsDash) { check_stdout_output("-"); }

TEST(TorchMetaSink, WritesToStdoutWhenLocationIsEmpty) { check_stdout_output(""); }

namespace {
// Runs `desc` to EOS (10 s at most) and returns the file's lines.
void run_to_eos(GstElement* pipe) {
  GstBus* bus = gst_element_get_bus(pipe);
  ASSERT_NE(gst_element_set_state(pipe, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  GstMessage* msg = pop_error_or_eos(bus, 10 * GST_SECOND);
  ASSERT_NE(msg, nullptr) << "no EOS within 10 s";
  EXPECT_EQ(GST_MESSAGE_TYPE(msg), GST_MESSAGE_EOS) << error_text(msg);
  gst_message_unref(msg);
  gst_object_unref(bus);
  EXPECT_EQ(gst_element_set_state(pipe, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
}

void expect_videotestsrc_lines(const std::vector<std::string>& lines) {
  ASSERT_EQ(lines.size(), 10u);
  gint64 last_pts = -1;
  for (size_t i = 0; i < lines.size(); i++) {
    ojson j = parse_line(lines[i]);
    EXPECT_EQ(keys(j), (std::vector<std::string>{"stream", "frame", "pts", "width", "height",
                                                 "classifications"}));
    EXPECT_EQ(j["stream"].get<std::string>(), "test");
    EXPECT_EQ(j["frame"].get<size_t>(), i);
    EXPECT_EQ(j["width"].get<int>(), 160);
    EXPECT_EQ(j["height"].get<int>(), 120);
    ASSERT_TRUE(j["pts"].is_number_unsigned()) << lines[i];
    const gint64 pts = j["pts"].get<gint64>();
    EXPECT_GT(pts, last_pts);
    // videotestsrc at its default 30/1
    EXPECT_EQ(pts, gst_util_uint64_scale((guint64)i, GST_SECOND, 30));
    last_pts = pts;
    EXPECT_TRUE(j["classifications"].empty());
  }
}
}  // namespace

TEST(TorchMetaSink, VideotestsrcPipelineToEos) {
  TempFile out;
  gchar* desc = g_strdup_printf(
      "videotestsrc num-buffers=10 ! video/x-raw,width=160,height=120 "
      "! torchmetasink stream-name=test location=\"%s\"",
      out.c_str());
  GError* err = nullptr;
  GstElement* pipe = gst_parse_launch(desc, &err);
  g_free(desc);
  ASSERT_NE(pipe, nullptr) << (err ? err->message : "");
  ASSERT_EQ(err, nullptr) << err->message;

  run_to_eos(pipe);
  expect_videotestsrc_lines(read_lines(out.path()));

  // A second run truncates the file and counts frames from 0 again.
  run_to_eos(pipe);
  expect_videotestsrc_lines(read_lines(out.path()));
  gst_object_unref(pipe);
}

namespace {
guint64 stats_u64(const GstStructure* s, const char* field) {
  guint64 v = G_MAXUINT64;
  EXPECT_TRUE(gst_structure_get_uint64(s, field, &v)) << field << " in " << gst_structure_to_string(s);
  return v;
}
}  // namespace

// "stats" against what a pipeline of known length did: every line and byte of the file.
TEST(TorchMetaSink, StatsCountLinesAndBytesOfTheFile) {
  TempFile out;
  gchar* desc = g_strdup_printf(
      "videotestsrc num-buffers=10 ! video/x-raw,width=160,height=120 "
      "! torchmetasink name=sink stream-name=test location=\"%s\"",
      out.c_str());
  GstElement* pipe = gst_parse_launch(desc, nullptr);
  g_free(desc);
  ASSERT_NE(pipe, nullptr);
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipe), "sink");

  GstStructure* s = nullptr;
  g_object_get(sink, "stats", &s, nullptr);
  ASSERT_NE(s, nullptr);
  EXPECT_STREQ(gst_structure_get_name(s), "torchmetasink-stats");
  EXPECT_EQ(stats_u64(s, "lines"), 0u);
  gst_structure_free(s);

  for (int run = 0; run < 2; run++) {
    run_to_eos(pipe);
    const std::string text = read_file(out.path());
    // After the stop: the numbers of the run that ended.
    g_object_get(sink, "stats", &s, nullptr);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(stats_u64(s, "lines"), 10u);
    EXPECT_EQ(stats_u64(s, "bytes"), text.size());
    EXPECT_EQ(stats_u64(s, "dropped"), 0u);
    EXPECT_EQ(stats_u64(s, "file-sent"), 10u);
    EXPECT_EQ(stats_u64(s, "file-queued"), 0u);
    EXPECT_EQ(stats_u64(s, "file-dropped"), 0u);
    EXPECT_EQ(stats_u64(s, "file-failed"), 0u);
    EXPECT_EQ(stats_u64(s, "file-reconnects"), 0u);
    EXPECT_STREQ(gst_structure_get_string(s, "file-where"), out.c_str());
    EXPECT_FALSE(gst_structure_has_field(s, "mqtt-sent"));
    EXPECT_FALSE(gst_structure_has_field(s, "kafka-sent"));
    gst_structure_free(s);
  }
  gst_object_unref(sink);
  gst_object_unref(pipe);
}

// Kafka settings that cannot work fail the start, naming the property.
TEST(TorchMetaSink, BadKafkaSettingsFailTheStart_n) {
#ifndef TA_HAVE_KAFKA
  GTEST_SKIP() << "the plugin was built without librdkafka (install librdkafka-dev and reconfigure)";
#endif
  struct Case {
    const char* props;
    const char* names;
  };
  const Case cases[] = {
      {"kafka-brokers=kafka1:notaport kafka-topic=t", "kafka-brokers"},
      {"kafka-brokers=127.0.0.1:9092", "kafka-topic"},
      {"kafka-brokers=127.0.0.1:9092 kafka-topic=\"bad topic\"", "kafka-topic"},
      {"kafka-brokers=127.0.0.1:9092 kafka-topic=t kafka-acks=2", "kafka-acks"},
      {"kafka-brokers=127.0.0.1:9092 kafka-topic=t kafka-config=no.such.thing=1", "kafka-config"},
      {"kafka-brokers=127.0.0.1:9092 kafka-topic=t kafka-security-protocol=tls", "kafka-security-protocol"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.props);
    gchar* desc = g_strdup_printf("videotestsrc num-buffers=1 ! torchmetasink %s", c.props);
    GstElement* pipe = gst_parse_launch(desc, nullptr);
    g_free(desc);
    ASSERT_NE(pipe, nullptr);
    EXPECT_EQ(gst_element_set_state(pipe, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    GstBus* bus = gst_element_get_bus(pipe);
    GstMessage* msg = gst_bus_timed_pop_filtered(bus, 0, GST_MESSAGE_ERROR);
    ASSERT_NE(msg, nullptr);
    GError* e = nullptr;
    gst_message_parse_error(msg, &e, nullptr);
    EXPECT_TRUE(g_error_matches(e, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS)) << e->message;
    EXPECT_NE(std::string(e->message).find(c.names), std::string::npos) << e->message;
    g_clear_error(&e);
    gst_message_unref(msg);
    gst_object_unref(bus);
    gst_element_set_state(pipe, GST_STATE_NULL);
    gst_object_unref(pipe);
  }
}

// Regions (torchclassify inference-region=roi-list): one entry of "classifications" per
// region, each with its rectangle, "roi-id" and "roi-type" beside the model; a full-frame
// result on the same buffer keeps its entry without them.
TEST(TorchMetaSink, OneEntryPerRegionWithRoiIdAndType) {
  TempFile out;
  GstHarness* h = new_sink_harness(out.path(), "bays");
  ASSERT_NE(h, nullptr);
  GstBuffer* buf = new_frame(0);
  GstTorchClassificationMeta* a = add_meta(buf, "resnet50", 10, 20, 100, 80, {{3, "car", 0.75f}, {4, "van", 0.2f}});
  gst_torch_classification_meta_set_roi(a, g_quark_from_string("bay1"), 0);
  add_meta(buf, "resnet50", 0, 0, 320, 240, {{1, "street", 0.5f}});
  GstTorchClassificationMeta* b = add_meta(buf, "resnet50", 160, 0, 160, 240, {{9, "door", 0.9f}});
  gst_torch_classification_meta_set_roi(b, g_quark_from_string("door"), 7);
  ASSERT_EQ(gst_harness_push(h, buf), GST_FLOW_OK);
  gst_harness_push_event(h, gst_event_new_eos());
  gst_harness_teardown(h);

  const auto lines = read_lines(out.path());
  ASSERT_EQ(lines.size(), 1u);
  const ojson j = parse_line(lines[0]);
  expect_frame_header(j, "bays", 0);
  const ojson& cs = j["classifications"];
  ASSERT_EQ(cs.size(), 3u) << lines[0];
  EXPECT_EQ(keys(cs[0]), (std::vector<std::string>{"model", "roi-id", "roi-type", "roi", "labels"}));
  EXPECT_EQ(cs[0]["roi-id"].get<int>(), 0);
  EXPECT_EQ(cs[0]["roi-type"].get<std::string>(), "bay1");
  expect_roi(cs[0], 10, 20, 100, 80);
  expect_labels(cs[0], {{3, "car", 0.75f}, {4, "van", 0.2f}});
  EXPECT_EQ(keys(cs[1]), (std::vector<std::string>{"model", "roi", "labels"}));
  expect_roi(cs[1], 0, 0, 320, 240);
  EXPECT_EQ(cs[2]["roi-id"].get<int>(), 7);
  EXPECT_EQ(cs[2]["roi-type"].get<std::string>(), "door");
  expect_roi(cs[2], 160, 0, 160, 240);
  expect_labels(cs[2], {{9, "door", 0.9f}});
}

// A borrowed region result (live mode, interval) has "source-pts" before the roi fields.
TEST(TorchMetaSink, BorrowedRegionResultKeepsSchemaOrder) {
  TempFile out;
  GstHarness* h = new_sink_harness(out.path(), "cam");
  ASSERT_NE(h, nullptr);
  GstBuffer* buf = new_frame(GST_SECOND);
  GstTorchClassificationMeta* m = add_meta(buf, "resnet50", 5, 6, 7, 8, {{1, "face", 0.6f}});
  gst_torch_classification_meta_set_roi(m, g_quark_from_string("face"), 2);
  m->source_pts = GST_SECOND / 2;
  ASSERT_EQ(gst_harness_push(h, buf), GST_FLOW_OK);
  gst_harness_push_event(h, gst_event_new_eos());
  gst_harness_teardown(h);
  const auto lines = read_lines(out.path());
  ASSERT_EQ(lines.size(), 1u);
  const ojson c = parse_line(lines[0])["classifications"][0];
  EXPECT_EQ(keys(c), (std::vector<std::string>{"model", "source-pts", "roi-id", "roi-type", "roi", "labels"}));
  EXPECT_EQ(c["source-pts"].get<guint64>(), GST_SECOND / 2);
  EXPECT_EQ(c["roi-id"].get<int>(), 2);
  expect_roi(c, 5, 6, 7, 8);
}
