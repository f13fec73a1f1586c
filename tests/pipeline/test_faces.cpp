// Regions on real footage: OpenCV's facedetect (gstreamer1.0-opencv, opencv-data) finds the
// faces of Megamind.avi (Debian's opencv-doc sample media, unpacked by scripts/install-deps),
// torchclassify inference-region=roi-list classifies each, torchoverlay draws them and
// torchmetasink writes them. And the scripts pipelines/faces.sh and pipelines/zones.sh.
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "pipeline_helpers.h"
#include "test_env.h"

using namespace ta_test;
using ojson = nlohmann::json;

namespace {

const char* kCascade = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";
// Enough frames for faces to come and go, few enough for a loaded 2-core machine.
const int kFrames = 24;

// Megamind.avi: $TA_MEDIA_DIR, the cache install-deps fills, or an installed opencv-doc.
std::string megamind() {
  std::vector<std::string> where;
  const std::string rel = "/usr/share/doc/opencv-doc/examples/data/Megamind.avi";
  if (!env_or("TA_MEDIA_DIR").empty()) where.push_back(env_or("TA_MEDIA_DIR") + "/Megamind.avi");
  const std::string cache = env_or("TORCHANALYTICS_CACHE", (env_or("HOME") + "/.cache/torchanalytics").c_str());
  where.push_back(cache + "/media" + rel);
  where.push_back(rel);
  for (const auto& p : where)
    if (file_exists(p)) return p;
  return "";
}

bool has_property(const char* factory, const char* prop) {
  GstElement* e = gst_element_factory_make(factory, nullptr);
  if (!e) return false;
  const bool has = g_object_class_find_property(G_OBJECT_GET_CLASS(e), prop) != nullptr;
  gst_object_unref(e);
  return has;
}

// Why the face pipeline cannot run here ("" when it can).
std::string faces_missing(const std::string& media) {
  if (media.empty())
    return "Megamind.avi not found (scripts/install-deps unpacks Debian's opencv-doc media into "
           "~/.cache/torchanalytics/media; or set TA_MEDIA_DIR)";
  GstElementFactory* f = gst_element_factory_find("facedetect");
  if (!f) return "no facedetect element (Debian: gstreamer1.0-opencv)";
  gst_object_unref(f);
  if (!file_exists(kCascade)) return std::string("no face cascade at ") + kCascade + " (Debian: opencv-data)";
  if (!has_property("torchclassify", "inference-region"))
    return "torchclassify has no inference-region property (region classification not built in)";
  return "";
}

struct Face {
  int id;
  guint x, y, w, h;
};

// What the probe upstream of torchclassify saw: each frame's faces and its pixels.
struct Seen {
  std::mutex mu;
  std::vector<GstClockTime> pts;
  std::vector<std::vector<Face>> faces;
  std::vector<GstBuffer*> frames;
  ~Seen() {
    for (GstBuffer* b : frames) gst_buffer_unref(b);
  }
};

GstPadProbeReturn remember(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* seen = static_cast<Seen*>(data);
  GstBuffer* b = GST_PAD_PROBE_INFO_BUFFER(info);
  std::vector<Face> faces;
  gpointer state = nullptr;
  GstMeta* m;
  while ((m = gst_buffer_iterate_meta_filtered(b, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    auto* r = (GstVideoRegionOfInterestMeta*)m;
    if (r->roi_type == g_quark_from_string("face")) faces.push_back({r->id, r->x, r->y, r->w, r->h});
  }
  std::lock_guard<std::mutex> lock(seen->mu);
  seen->pts.push_back(GST_BUFFER_PTS(b));
  seen->faces.push_back(std::move(faces));
  seen->frames.push_back(gst_buffer_copy_deep(b));
  return GST_PAD_PROBE_OK;
}

// Pixels of RGB frame `b` that differ from `a` inside the rectangle.
int changed_inside(const GstVideoInfo& info, GstBuffer* a, GstBuffer* b, const Face& f) {
  GstVideoFrame fa, fb;
  if (!gst_video_frame_map(&fa, (GstVideoInfo*)&info, a, GST_MAP_READ)) return -1;
  if (!gst_video_frame_map(&fb, (GstVideoInfo*)&info, b, GST_MAP_READ)) {
    gst_video_frame_unmap(&fa);
    return -1;
  }
  int n = 0;
  const guint x1 = std::min<guint>(f.x + f.w, GST_VIDEO_INFO_WIDTH(&info));
  const guint y1 = std::min<guint>(f.y + f.h, GST_VIDEO_INFO_HEIGHT(&info));
  for (guint y = f.y; y < y1; y++)
    for (guint x = f.x; x < x1; x++) {
      const guint8* p = (const guint8*)GST_VIDEO_FRAME_PLANE_DATA(&fa, 0) + y * GST_VIDEO_FRAME_PLANE_STRIDE(&fa, 0) + x * 3;
      const guint8* q = (const guint8*)GST_VIDEO_FRAME_PLANE_DATA(&fb, 0) + y * GST_VIDEO_FRAME_PLANE_STRIDE(&fb, 0) + x * 3;
      n += memcmp(p, q, 3) != 0;
    }
  gst_video_frame_unmap(&fa);
  gst_video_frame_unmap(&fb);
  return n;
}

std::string script(const char* name) { return env_or("TA_PIPELINES_DIR") + "/" + name; }

}  // namespace

// Every face facedetect reported has its classified region in the JSON, with the same
// rectangle and id; the annotated frames differ from the input inside each box, and frames
// without faces leave untouched.
TEST(Faces, EveryDetectedFaceIsClassifiedAndDrawn) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  const std::string media = megamind(), why = faces_missing(media);
  if (!why.empty()) GTEST_SKIP() << why;
  TempPath json(".jsonl");
  const std::string desc =
      "filesrc location=\"" + media + "\" ! decodebin ! identity eos-after=" + std::to_string(kFrames) +
      " ! videoconvert ! video/x-raw,format=RGB ! facedetect name=fd display=false ! "
      "torchclassify name=tc inference-region=roi-list object-class=face device=cpu model-location=\"" + model +
      "\" ! torchoverlay ! tee name=t t. ! queue ! torchmetasink location=\"" + json.path() +
      "\" stream-name=megamind t. ! queue ! appsink name=out sync=false max-buffers=0 wait-on-eos=false";
  GstElement* p = nullptr;
  ASSERT_EQ(parse_pipeline(desc, &p), "") << desc;
  Seen seen;
  {
    GstElement* tc = gst_bin_get_by_name(GST_BIN(p), "tc");
    GstPad* pad = gst_element_get_static_pad(tc, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, remember, &seen, nullptr);
    gst_object_unref(pad);
    gst_object_unref(tc);
  }
  GstElement* out = gst_bin_get_by_name(GST_BIN(p), "out");
  gst_element_set_state(p, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(p);
  // facedetect's own report: one element message per frame, in frame order, with its faces
  // (matched by order: this clip's decoded frames repeat timestamps in pairs).
  std::vector<std::vector<Face>> reported;
  GstMessage* m;
  while ((m = gst_bus_timed_pop_filtered(bus, 180 * GST_SECOND,
                                         (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT)))) {
    const GstStructure* s = gst_message_get_structure(m);
    if (GST_MESSAGE_TYPE(m) != GST_MESSAGE_ELEMENT) break;
    const GValue* list = s ? gst_structure_get_value(s, "faces") : nullptr;
    if (gst_structure_has_name(s, "facedetect") && list && GST_VALUE_HOLDS_LIST(list)) {
      reported.emplace_back();
      std::vector<Face>& faces = reported.back();
      for (guint i = 0; i < gst_value_list_get_size(list); i++) {
        const GValue* v = gst_value_list_get_value(list, i);
        if (!GST_VALUE_HOLDS_STRUCTURE(v)) continue;
        const GstStructure* f = gst_value_get_structure(v);
        Face face{-1, 0, 0, 0, 0};
        gst_structure_get_uint(f, "x", &face.x);
        gst_structure_get_uint(f, "y", &face.y);
        gst_structure_get_uint(f, "width", &face.w);
        gst_structure_get_uint(f, "height", &face.h);
        faces.push_back(face);
      }
    }
    gst_message_unref(m);
  }
  ASSERT_NE(m, nullptr) << "no EOS within 180 s";
  if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
    GError* e = nullptr;
    gchar* dbg = nullptr;
    gst_message_parse_error(m, &e, &dbg);
    ADD_FAILURE() << e->message << " (" << (dbg ? dbg : "") << ")";
    g_error_free(e);
    g_free(dbg);
  }
  gst_message_unref(m);
  std::vector<GstSample*> annotated;
  while (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(out), 0)) annotated.push_back(s);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(out);
  gst_object_unref(p);

  const auto lines = read_file_lines(json.path());
  // identity eos-after=N lets N or a few more buffers through (the decoder's threads may have
  // pushed the next ones before they see the EOS).
  ASSERT_GE(seen.faces.size(), (size_t)kFrames);
  ASSERT_LE(seen.faces.size(), (size_t)kFrames + 4);
  ASSERT_EQ(lines.size(), seen.faces.size());
  ASSERT_EQ(annotated.size(), seen.faces.size());
  GstVideoInfo info;
  ASSERT_TRUE(gst_video_info_from_caps(&info, gst_sample_get_caps(annotated[0])));

  size_t faces = 0, frames_with = 0, frames_without = 0, reported_frames = 0;
  for (size_t i = 0; i < lines.size(); i++) {
    SCOPED_TRACE("frame " + std::to_string(i) + ": " + lines[i]);
    const ojson j = ojson::parse(lines[i]);
    EXPECT_EQ(j["frame"].get<size_t>(), i);
    EXPECT_EQ(j["pts"].get<GstClockTime>(), seen.pts[i]);
    const ojson& cs = j["classifications"];
    // One entry per face, nothing else (object-class=face).
    EXPECT_EQ(cs.size(), seen.faces[i].size());
    for (const Face& f : seen.faces[i]) {
      bool found = false;
      for (const auto& c : cs)
        found |= c.value("roi-type", "") == "face" && c.value("roi-id", -2) == f.id && c["roi"]["x"] == f.x &&
                 c["roi"]["y"] == f.y && c["roi"]["w"] == f.w && c["roi"]["h"] == f.h && !c["labels"].empty();
      EXPECT_TRUE(found) << "face " << f.id << " at " << f.x << "," << f.y << " " << f.w << "x" << f.h
                         << " has no classified region";
      EXPECT_GT(changed_inside(info, seen.frames[i], gst_sample_get_buffer(annotated[i]), f), 0)
          << "nothing drawn inside the face's box";
    }
    for (const auto& c : cs) EXPECT_EQ(c.value("roi-type", ""), "face");
    // The faces of the ROI metas are those facedetect reported on the bus for this frame.
    if (i < reported.size()) {
      EXPECT_EQ(reported[i].size(), seen.faces[i].size());
      for (const Face& r : reported[i]) {
        bool same = false;
        for (const Face& f : seen.faces[i]) same |= f.x == r.x && f.y == r.y && f.w == r.w && f.h == r.h;
        EXPECT_TRUE(same) << "facedetect reported a face at " << r.x << "," << r.y << " that has no ROI meta";
      }
      reported_frames++;
    }
    faces += seen.faces[i].size();
    if (seen.faces[i].empty()) {
      frames_without++;
      GstMapInfo a, b;
      gst_buffer_map(seen.frames[i], &a, GST_MAP_READ);
      gst_buffer_map(gst_sample_get_buffer(annotated[i]), &b, GST_MAP_READ);
      EXPECT_TRUE(a.size == b.size && memcmp(a.data, b.data, a.size) == 0) << "a frame without faces was drawn on";
      gst_buffer_unmap(seen.frames[i], &a);
      gst_buffer_unmap(gst_sample_get_buffer(annotated[i]), &b);
    } else {
      frames_with++;
    }
  }
  for (GstSample* s : annotated) gst_sample_unref(s);
  EXPECT_GE(reported_frames, (size_t)kFrames) << "facedetect's messages do not match the frames";
  // facedetect finds one or two faces in most frames of this clip.
  EXPECT_GE(frames_with, (size_t)kFrames / 2) << faces << " faces in " << lines.size() << " frames";
  RecordProperty("faces", (int)faces);
  std::printf("faces.cpp: %zu faces in %zu frames (%zu without)\n", faces, lines.size(), frames_without);
}

// pipelines/faces.sh on the clip: an annotated MP4 and one JSON line per frame, faces in them.
TEST(Faces, FacesScriptWritesAnnotatedMp4AndJson) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  const std::string media = megamind(), why = faces_missing(media);
  if (!why.empty()) GTEST_SKIP() << why;
  TempPath out(".mp4");
  const std::string json = out.sibling("faces.jsonl");
  Child c;
  ASSERT_TRUE(c.start({script("faces.sh")}, {"INPUT=" + media, "OUTPUT=" + out.path(), "JSON=" + json,
                                             "FRAMES=" + std::to_string(kFrames), "MODEL=" + model,
                                             "TORCH_DEVICE=cpu"}));
  const int st = c.wait_exit(Seconds(180));
  ASSERT_TRUE(exited_with(st, 0)) << Child::describe(st) << "\n" << c.report();
  const auto lines = read_file_lines(json);
  ASSERT_GE(lines.size(), (size_t)kFrames);
  ASSERT_LE(lines.size(), (size_t)kFrames + 4);
  size_t faces = 0;
  for (const auto& l : lines) {
    const ojson j = ojson::parse(l);
    EXPECT_EQ(j["stream"].get<std::string>(), "Megamind.avi");
    for (const auto& cl : j["classifications"]) {
      EXPECT_EQ(cl["roi-type"].get<std::string>(), "face") << l;
      faces++;
    }
  }
  EXPECT_GE(faces, (size_t)kFrames / 2);
  EXPECT_EQ(run_to_eos("filesrc location=\"" + out.path() + "\" ! decodebin ! fakesink", Seconds(60)), "");
}

// pipelines/zones.sh without a camera falls back to videotestsrc: the zones are classified.
TEST(Faces, ZonesScriptClassifiesEachZone) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  if (!has_property("torchclassify", "inference-region"))
    GTEST_SKIP() << "torchclassify has no inference-region property (region classification not built in)";
  TempPath json(".jsonl");
  Child c;
  ASSERT_TRUE(c.start({script("zones.sh")}, {"DEVICE=/nonexistent/video0", "FRAMES=8", "SINK=fakesink",
                                             "REGIONS=bay1:0,120,160,120;bay2:0.5,0.5,0.5,0.5",
                                             "JSON=" + json.path(), "MODEL=" + model, "TORCH_DEVICE=cpu"}));
  const int st = c.wait_exit(Seconds(120));
  ASSERT_TRUE(exited_with(st, 0)) << Child::describe(st) << "\n" << c.report();
  EXPECT_NE(c.stderr_text().find("videotestsrc"), std::string::npos) << "no word of the fallback: " << c.stderr_text();
  const auto lines = read_file_lines(json.path());
  ASSERT_EQ(lines.size(), 8u);
  for (const auto& l : lines) {
    SCOPED_TRACE(l);
    const ojson j = ojson::parse(l);
    ASSERT_EQ(j["classifications"].size(), 2u);
    EXPECT_EQ(j["classifications"][0]["roi-type"].get<std::string>(), "bay1");
    EXPECT_EQ(j["classifications"][0]["roi-id"].get<int>(), 0);
    EXPECT_EQ(j["classifications"][0]["roi"]["y"].get<int>(), 120);
    EXPECT_EQ(j["classifications"][1]["roi-type"].get<std::string>(), "bay2");
    EXPECT_EQ(j["classifications"][1]["roi"]["x"].get<int>(), 160);
  }
}

// The scripts' pipelines parse (dry runs, GST_LAUNCH=echo) and the headers say what to set.
TEST(Faces, ScriptsDryRunsAndHeaders) {
  for (const char* s : {"faces.sh", "zones.sh"}) {
    SCOPED_TRACE(s);
    const auto lines = read_file_lines(script(s));
    ASSERT_GE(lines.size(), 3u);
    EXPECT_EQ(lines[0], "#!/usr/bin/env bash");
    EXPECT_EQ(lines[1].rfind(std::string("# ") + s + ": ", 0), 0u) << lines[1];
    bool variables = false;
    for (const auto& l : lines) variables |= l.rfind("# Variables (defaults in brackets):", 0) == 0;
    EXPECT_TRUE(variables);
    EXPECT_EQ(access(script(s).c_str(), X_OK), 0) << "not executable";
  }
  Child c;
  ASSERT_TRUE(c.start({script("zones.sh")}, {"GST_LAUNCH=echo", "DEVICE=/dev/null", "REGIONS_FILE=/tmp/zones.json"}));
  ASSERT_TRUE(exited_with(c.wait_exit(Seconds(30)), 0)) << c.report();
  ASSERT_EQ(c.lines().size(), 1u) << c.report();
  EXPECT_NE(c.lines()[0].find("v4l2src device=/dev/null"), std::string::npos) << c.lines()[0];
  EXPECT_NE(c.lines()[0].find("torchregions location=/tmp/zones.json"), std::string::npos) << c.lines()[0];
  Child bad;
  ASSERT_TRUE(bad.start({script("faces.sh")}, {"INPUT=/nonexistent.avi"}));
  EXPECT_TRUE(exited_with(bad.wait_exit(Seconds(30)), 2)) << bad.report();
  EXPECT_NE(bad.stderr_text().find("INPUT"), std::string::npos) << bad.stderr_text();
}
