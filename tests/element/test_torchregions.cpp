// torchregions: fixed GstVideoRegionOfInterestMeta on every frame, from the `regions` list
// or a JSON file, clipped to the frame, with stable ids; bad lists and files fail the start
// naming the entry. Real pipelines (videotestsrc, appsink), and torchclassify roi-list
// downstream where it has that mode.
#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "gsttorchclassificationmeta.h"
#include "test_env.h"

namespace {

struct Roi {
  std::string type;
  int id, parent_id;
  guint x, y, w, h;
};

std::vector<Roi> rois_of(GstBuffer* b) {
  std::vector<Roi> out;
  gpointer state = nullptr;
  GstMeta* m;
  while ((m = gst_buffer_iterate_meta_filtered(b, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    auto* r = (GstVideoRegionOfInterestMeta*)m;
    out.push_back({g_quark_to_string(r->roi_type), r->id, r->parent_id, r->x, r->y, r->w, r->h});
  }
  return out;
}

std::string describe(const std::vector<Roi>& rois) {
  std::string s;
  for (const Roi& r : rois)
    s += r.type + "#" + std::to_string(r.id) + "(" + std::to_string(r.x) + "," + std::to_string(r.y) + "," +
         std::to_string(r.w) + "," + std::to_string(r.h) + ") ";
  return s;
}

// A file under the temp dir with `content`, removed when the test ends.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    gchar* path = nullptr;
    const gint fd = g_file_open_tmp("torchregions-XXXXXX.json", &path, nullptr);
    EXPECT_GE(fd, 0);
    if (fd >= 0) {
      EXPECT_EQ(write(fd, content.data(), content.size()), (ssize_t)content.size());
      close(fd);
    }
    path_ = path ? path : "";
    g_free(path);
  }
  ~TempFile() {
    if (!path_.empty()) g_unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct RunResult {
  std::vector<std::vector<Roi>> frames;
  std::vector<std::string> warnings;
  std::string error;  // "" when it reached EOS
  GQuark error_domain = 0;
  int error_code = 0;
};

// Runs `desc` (ending in "appsink name=sink") to EOS, collecting each frame's regions and
// the bus's warnings and error.
RunResult run(const std::string& desc) {
  RunResult r;
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &err);
  if (!p || err) {
    ADD_FAILURE() << desc << ": " << (err ? err->message : "no pipeline");
    g_clear_error(&err);
    if (p) gst_object_unref(p);
    r.error = "parse";
    return r;
  }
  GstElement* sink = gst_bin_get_by_name(GST_BIN(p), "sink");
  g_object_set(sink, "sync", FALSE, "max-buffers", 0, "wait-on-eos", FALSE, nullptr);
  gst_element_set_state(p, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(p);
  while (true) {
    GstMessage* m = gst_bus_timed_pop_filtered(
        bus, 60 * GST_SECOND, (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING));
    if (!m) {
      r.error = "timeout";
      break;
    }
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING) {
      GError* e = nullptr;
      gst_message_parse_warning(m, &e, nullptr);
      r.warnings.push_back(e->message);
      g_error_free(e);
      gst_message_unref(m);
      continue;
    }
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
      GError* e = nullptr;
      gst_message_parse_error(m, &e, nullptr);
      r.error = e->message;
      r.error_domain = e->domain;
      r.error_code = e->code;
      g_error_free(e);
    }
    gst_message_unref(m);
    break;
  }
  while (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 0)) {
    r.frames.push_back(rois_of(gst_sample_get_buffer(s)));
    gst_sample_unref(s);
  }
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(p);
  return r;
}

std::string source(int frames, int w = 320, int h = 240, const char* format = "I420") {
  return "videotestsrc num-buffers=" + std::to_string(frames) + " ! video/x-raw,format=" + format +
         ",width=" + std::to_string(w) + ",height=" + std::to_string(h) + ",framerate=30/1 ! ";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST(TorchRegions, AttachesTheSameRegionsToEveryFrame) {
  RunResult r = run(source(5) + "torchregions regions=\"bay1:10,20,100,80;door:0.5,0,0.5,1.0;30,40,5,6\" ! appsink name=sink");
  ASSERT_EQ(r.error, "");
  EXPECT_TRUE(r.warnings.empty());
  ASSERT_EQ(r.frames.size(), 5u);
  for (const auto& f : r.frames) {
    SCOPED_TRACE(describe(f));
    ASSERT_EQ(f.size(), 3u);
    EXPECT_EQ(f[0].type, "bay1");
    EXPECT_EQ(f[0].id, 0);
    EXPECT_EQ(f[0].parent_id, -1);
    EXPECT_EQ(f[0].x, 10u);
    EXPECT_EQ(f[0].y, 20u);
    EXPECT_EQ(f[0].w, 100u);
    EXPECT_EQ(f[0].h, 80u);
    EXPECT_EQ(f[1].type, "door");
    EXPECT_EQ(f[1].id, 1);
    EXPECT_EQ(f[1].x, 160u);
    EXPECT_EQ(f[1].y, 0u);
    EXPECT_EQ(f[1].w, 160u);
    EXPECT_EQ(f[1].h, 240u);
    EXPECT_EQ(f[2].type, "region");
    EXPECT_EQ(f[2].id, 2);
    EXPECT_EQ(f[2].w, 5u);
  }
}

// Fractions follow the frame size: a caps change lays the regions out again.
TEST(TorchRegions, FractionsFollowTheFrameSize) {
  RunResult a = run(source(2, 641, 481, "RGB") + "torchregions regions=\"0.25,0.5,0.5,0.5\" ! appsink name=sink");
  ASSERT_EQ(a.error, "");
  ASSERT_EQ(a.frames.size(), 2u);
  ASSERT_EQ(a.frames[0].size(), 1u);
  EXPECT_EQ(a.frames[0][0].x, 160u);  // 0.25 * 641 = 160.25
  EXPECT_EQ(a.frames[0][0].y, 241u);  // 0.5 * 481 = 240.5, rounded away from zero
  EXPECT_EQ(a.frames[0][0].w, 641u - 160u - 160u);
  EXPECT_EQ(a.frames[0][0].h, 481u - 241u);

  GstHarness* h = gst_harness_new_parse("torchregions regions=\"a:0.0,0.0,0.5,0.5\"");
  gst_harness_set_src_caps_str(h, "video/x-raw,format=NV12,width=64,height=48,framerate=30/1");
  GstBuffer* out = gst_harness_push_and_pull(h, gst_buffer_new_allocate(nullptr, 64 * 48 * 3 / 2, nullptr));
  ASSERT_NE(out, nullptr);
  auto f = rois_of(out);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].w, 32u);
  EXPECT_EQ(f[0].h, 24u);
  gst_buffer_unref(out);
  gst_harness_set_src_caps_str(h, "video/x-raw,format=NV12,width=128,height=96,framerate=30/1");
  out = gst_harness_push_and_pull(h, gst_buffer_new_allocate(nullptr, 128 * 96 * 3 / 2, nullptr));
  ASSERT_NE(out, nullptr);
  f = rois_of(out);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].w, 64u);
  EXPECT_EQ(f[0].h, 48u);
  gst_buffer_unref(out);
  gst_harness_teardown(h);
}

// Over the border: clipped. Outside: not attached, one warning for the stream (not one
// a frame), and the other regions keep their ids.
TEST(TorchRegions, ClipsAndWarnsOnceAboutRegionsOutside) {
  RunResult r = run(source(6) +
              "torchregions regions=\"edge:-20,200,100,100;gone:400,10,50,50;in:300,0,100,10;gone2:0.0,0.0,0.001,0.5\" "
              "! appsink name=sink");
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_TRUE(has(r.warnings[0], "1 ('gone:400,10,50,50')")) << r.warnings[0];
  EXPECT_TRUE(has(r.warnings[0], "3 ('gone2:0.0,0.0,0.001,0.5')")) << r.warnings[0];
  EXPECT_TRUE(has(r.warnings[0], "320x240")) << r.warnings[0];
  ASSERT_EQ(r.frames.size(), 6u);
  for (const auto& f : r.frames) {
    SCOPED_TRACE(describe(f));
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f[0].type, "edge");
    EXPECT_EQ(f[0].id, 0);
    EXPECT_EQ(f[0].x, 0u);
    EXPECT_EQ(f[0].y, 200u);
    EXPECT_EQ(f[0].w, 80u);
    EXPECT_EQ(f[0].h, 40u);
    EXPECT_EQ(f[1].type, "in");
    EXPECT_EQ(f[1].id, 2);
    EXPECT_EQ(f[1].x, 300u);
    EXPECT_EQ(f[1].w, 20u);
  }
}

TEST(TorchRegions, JsonFile) {
  TempFile f(R"({"regions": [{"type": "bay1", "x": 0, "y": 120, "w": 160, "h": 120},
                             {"type": "bay2", "x": 0.5, "y": 0.5, "w": 0.5, "h": 0.5}]})");
  RunResult r = run(source(3) + "torchregions location=\"" + f.path() + "\" ! appsink name=sink");
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.frames.size(), 3u);
  for (const auto& fr : r.frames) {
    SCOPED_TRACE(describe(fr));
    ASSERT_EQ(fr.size(), 2u);
    EXPECT_EQ(fr[0].type, "bay1");
    EXPECT_EQ(fr[0].y, 120u);
    EXPECT_EQ(fr[1].type, "bay2");
    EXPECT_EQ(fr[1].id, 1);
    EXPECT_EQ(fr[1].x, 160u);
    EXPECT_EQ(fr[1].y, 120u);
    EXPECT_EQ(fr[1].w, 160u);
  }
}

// Every way to give bad regions fails the start with an error that names the problem.
TEST(TorchRegions, BadRegionsFailTheStart_n) {
  TempFile bad_json(R"({"regions": [{"x": 1, "y": 2, "w": 3, "h": 4}, {"x": 1, "y": 2, "w": 0, "h": 4}]})");
  TempFile not_json("x=1 y=2");
  struct Case {
    std::string props;
    int code;
    std::vector<std::string> says;
  };
  const std::vector<Case> cases = {
      {"regions=\"a:1,2,3,4;b:1,2,3\"", GST_RESOURCE_ERROR_SETTINGS, {"region 1 ('b:1,2,3')", "expected 4 numbers"}},
      {"regions=\"0.5,0,1.5,1\"", GST_RESOURCE_ERROR_SETTINGS, {"region 0", "between 0 and 1"}},
      {"location=\"" + bad_json.path() + "\"", GST_RESOURCE_ERROR_SETTINGS, {bad_json.path(), "region 1", "width and height"}},
      {"location=\"" + not_json.path() + "\"", GST_RESOURCE_ERROR_SETTINGS, {not_json.path(), "not valid JSON"}},
      {"location=/nonexistent/regions.json", GST_RESOURCE_ERROR_NOT_FOUND, {"/nonexistent/regions.json", "does not exist"}},
      {"", GST_RESOURCE_ERROR_SETTINGS, {"has no regions", "regions=", "location="}},
      {"regions=\" ; \"", GST_RESOURCE_ERROR_SETTINGS, {"has no regions"}},
      {"regions=\"1,2,3,4\" location=\"" + bad_json.path() + "\"", GST_RESOURCE_ERROR_SETTINGS, {"either the list or the JSON file"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.props);
    RunResult r = run(source(3) + "torchregions " + c.props + " ! appsink name=sink");
    ASSERT_NE(r.error, "") << "it ran";
    EXPECT_EQ(r.error_domain, GST_RESOURCE_ERROR);
    EXPECT_EQ(r.error_code, c.code);
    for (const auto& s : c.says) EXPECT_TRUE(has(r.error, s)) << r.error;
    EXPECT_TRUE(r.frames.empty());
  }
}

// While playing, a new list applies from the next frame; a bad one is a warning and the
// regions in use stay.
TEST(TorchRegions, RegionsChangeWhilePlaying) {
  GstHarness* h = gst_harness_new_parse("torchregions regions=\"a:0,0,10,10\"");
  GstElement* regions = gst_harness_find_element(h, "torchregions");
  ASSERT_NE(regions, nullptr);
  gst_harness_set_src_caps_str(h, "video/x-raw,format=RGB,width=64,height=48,framerate=30/1");
  auto push = [h]() {
    GstBuffer* out = gst_harness_push_and_pull(h, gst_buffer_new_allocate(nullptr, 64 * 48 * 3, nullptr));
    EXPECT_NE(out, nullptr);
    auto r = out ? rois_of(out) : std::vector<Roi>{};
    if (out) gst_buffer_unref(out);
    return r;
  };
  auto f = push();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].type, "a");
  g_object_set(regions, "regions", "b:1,1,5,5;c:2,2,5,5", nullptr);
  f = push();
  ASSERT_EQ(f.size(), 2u) << describe(f);
  EXPECT_EQ(f[0].type, "b");
  EXPECT_EQ(f[1].type, "c");
  EXPECT_EQ(f[1].id, 1);
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(regions, bus);
  g_object_set(regions, "regions", "d:1,1,5", nullptr);
  GstMessage* w = gst_bus_pop_filtered(bus, GST_MESSAGE_WARNING);
  ASSERT_NE(w, nullptr) << "no warning for a bad list while playing";
  GError* e = nullptr;
  gst_message_parse_warning(w, &e, nullptr);
  EXPECT_TRUE(has(e->message, "previous regions stay")) << e->message;
  EXPECT_TRUE(has(e->message, "region 0 ('d:1,1,5')")) << e->message;
  g_error_free(e);
  gst_message_unref(w);
  f = push();
  ASSERT_EQ(f.size(), 2u) << describe(f);
  EXPECT_EQ(f[0].type, "b");
  gchar* now = nullptr;
  g_object_get(regions, "regions", &now, nullptr);
  EXPECT_STREQ(now, "b:1,1,5,5;c:2,2,5,5");
  g_free(now);
  gst_element_set_bus(regions, nullptr);
  gst_object_unref(bus);
  gst_object_unref(regions);
  gst_harness_teardown(h);
}

// Regions on a 1x1 frame and on a frame smaller than every region.
TEST(TorchRegions, TinyFrames) {
  RunResult r = run(source(2, 1, 1, "RGB") + "torchregions regions=\"0.0,0.0,1.0,1.0;0,0,100,100;5,5,1,1\" ! appsink name=sink");
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.frames.size(), 2u);
  ASSERT_EQ(r.frames[0].size(), 2u) << describe(r.frames[0]);
  EXPECT_EQ(r.frames[0][0].w, 1u);
  EXPECT_EQ(r.frames[0][1].w, 1u);
  EXPECT_EQ(r.frames[0][1].id, 1);
  EXPECT_EQ(r.warnings.size(), 1u);
}

// Parking bays: torchregions ! torchclassify inference-region=roi-list classifies each
// bay, one result per region with its id, type and rectangle.
TEST(TorchRegions, ParkingBaysAreClassified) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  {
    GstElement* tc = gst_element_factory_make("torchclassify", nullptr);
    ASSERT_NE(tc, nullptr);
    const bool has_mode = g_object_class_find_property(G_OBJECT_GET_CLASS(tc), "inference-region");
    gst_object_unref(tc);
    if (!has_mode) GTEST_SKIP() << "torchclassify has no inference-region property (region classification not merged)";
  }
  const std::string desc = source(4, 320, 240, "RGB") +
                           "torchregions regions=\"bay1:0,120,160,120;bay2:0.5,0.5,0.5,0.5;gone:900,0,10,10\" ! "
                           "torchclassify inference-region=roi-list device=cpu model-location=\"" + model +
                           "\" ! appsink name=sink";
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &err);
  ASSERT_TRUE(p && !err) << (err ? err->message : "");
  GstElement* sink = gst_bin_get_by_name(GST_BIN(p), "sink");
  g_object_set(sink, "sync", FALSE, "max-buffers", 0, "wait-on-eos", FALSE, nullptr);
  gst_element_set_state(p, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(p);
  GstMessage* m = gst_bus_timed_pop_filtered(bus, 120 * GST_SECOND, (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  ASSERT_NE(m, nullptr) << "no EOS within 120 s";
  EXPECT_EQ(GST_MESSAGE_TYPE(m), GST_MESSAGE_EOS);
  gst_message_unref(m);
  int frames = 0;
  while (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 0)) {
    GstBuffer* b = gst_sample_get_buffer(s);
    frames++;
    std::vector<GstTorchClassificationMeta*> results;
    gpointer state = nullptr;
    while (GstTorchClassificationMeta* c = gst_buffer_iterate_torch_classification_meta(b, &state)) results.push_back(c);
    ASSERT_EQ(results.size(), 2u);
    std::sort(results.begin(), results.end(), [](auto* a, auto* b) { return a->roi_id < b->roi_id; });
    EXPECT_EQ(results[0]->roi_id, 0);
    EXPECT_STREQ(gst_torch_classification_meta_get_roi_type_name(results[0]), "bay1");
    EXPECT_EQ(results[0]->x, 0u);
    EXPECT_EQ(results[0]->y, 120u);
    EXPECT_EQ(results[0]->width, 160u);
    EXPECT_EQ(results[1]->roi_id, 1);
    EXPECT_STREQ(gst_torch_classification_meta_get_roi_type_name(results[1]), "bay2");
    EXPECT_EQ(results[1]->x, 160u);
    EXPECT_GE(results[0]->n_labels, 1u);
    gst_sample_unref(s);
  }
  EXPECT_EQ(frames, 4);
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(p);
}

// Regions read from a file are not replaced by `regions` while playing.
TEST(TorchRegions, FileRegionsStayWhilePlaying) {
  TempFile f(R"([{"type": "file", "x": 1, "y": 2, "w": 3, "h": 4}])");
  GstElement* e = gst_element_factory_make("torchregions", nullptr);
  ASSERT_NE(e, nullptr);
  g_object_set(e, "location", f.path().c_str(), nullptr);
  GstHarness* h = gst_harness_new_with_element(e, "sink", "src");
  gst_harness_set_src_caps_str(h, "video/x-raw,format=RGB,width=64,height=48,framerate=30/1");
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(e, bus);
  g_object_set(e, "regions", "other:0,0,8,8", nullptr);
  GstMessage* w = gst_bus_pop_filtered(bus, GST_MESSAGE_WARNING);
  ASSERT_NE(w, nullptr);
  gst_message_unref(w);
  GstBuffer* out = gst_harness_push_and_pull(h, gst_buffer_new_allocate(nullptr, 64 * 48 * 3, nullptr));
  ASSERT_NE(out, nullptr);
  auto fr = rois_of(out);
  ASSERT_EQ(fr.size(), 1u);
  EXPECT_EQ(fr[0].type, "file");
  gst_buffer_unref(out);
  gst_element_set_bus(e, nullptr);
  gst_object_unref(bus);
  gst_harness_teardown(h);
  gst_object_unref(e);
}

// Any memory: only the caps' size is read, so frames in CUDA memory (here the caps say so;
// the buffer is never mapped) get their regions too.
TEST(TorchRegions, AnyCapsFeatures) {
  GstHarness* h = gst_harness_new_parse("torchregions regions=\"bay:0.0,0.0,0.5,0.5\"");
  gst_harness_set_src_caps_str(h, "video/x-raw(memory:CUDAMemory),format=NV12,width=640,height=480,framerate=30/1");
  GstBuffer* out = gst_harness_push_and_pull(h, gst_buffer_new_allocate(nullptr, 16, nullptr));
  ASSERT_NE(out, nullptr);
  auto f = rois_of(out);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].w, 320u);
  EXPECT_EQ(f[0].h, 240u);
  gst_buffer_unref(out);
  gst_harness_teardown(h);
}
