// torchclassify as an element: caps, metadata, pass-through of buffers, properties, bus
// messages, and a clear error for every bad input. Models are the small fixtures of
// tests/reference/make_fixtures.py (tiny.ts, resnet18); ResNet50 against torchvision is
// tests/reference's job.
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "gsttorchclassificationmeta.h"
#include "test_env.h"

namespace {

struct BusResult {
  GstMessage* error = nullptr;
  std::vector<std::string> warnings;
  std::vector<GstStructure*> elements;
  bool eos = false;
  ~BusResult() {
    if (error) gst_message_unref(error);
    for (auto* s : elements) gst_structure_free(s);
  }
};

// Runs a launch line to EOS or error (bounded by `timeout_s`), collecting messages.
void run_pipeline(const std::string& launch, BusResult* r, int timeout_s = 60) {
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(launch.c_str(), &err);
  ASSERT_TRUE(p) << launch << ": " << (err ? err->message : "");
  GstBus* bus = gst_element_get_bus(p);
  gst_element_set_state(p, GST_STATE_PLAYING);
  const gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
  while (!r->error && !r->eos) {
    const gint64 left = deadline - g_get_monotonic_time();
    if (left <= 0) {
      ADD_FAILURE() << "timeout running " << launch;
      break;
    }
    GstMessage* m = gst_bus_timed_pop(bus, left * GST_USECOND);
    if (!m) continue;
    switch (GST_MESSAGE_TYPE(m)) {
      case GST_MESSAGE_ERROR: r->error = gst_message_ref(m); break;
      case GST_MESSAGE_EOS: r->eos = true; break;
      case GST_MESSAGE_WARNING: {
        GError* e = nullptr;
        gst_message_parse_warning(m, &e, nullptr);
        r->warnings.push_back(e->message);
        g_error_free(e);
        break;
      }
      case GST_MESSAGE_ELEMENT:
        if (gst_message_has_name(m, "torchclassify"))
          r->elements.push_back(gst_structure_copy(gst_message_get_structure(m)));
        break;
      default: break;
    }
    gst_message_unref(m);
  }
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(p);
}

// Expects the pipeline to fail with this error domain/code and a message containing `text`.
void expect_error(const std::string& props, GQuark domain, int code, const std::string& text,
                  const std::string& caps = "video/x-raw,width=64,height=48") {
  BusResult r;
  run_pipeline("videotestsrc num-buffers=2 ! " + caps + " ! torchclassify device=cpu " + props + " ! fakesink", &r);
  ASSERT_TRUE(r.error) << "no error for: " << props;
  GError* e = nullptr;
  gchar* dbg = nullptr;
  gst_message_parse_error(r.error, &e, &dbg);
  EXPECT_EQ(e->domain, domain) << e->message;
  EXPECT_EQ(e->code, code) << e->message;
  EXPECT_NE(std::string(e->message).find(text), std::string::npos) << "message: " << e->message << "\ndebug: " << dbg;
  g_error_free(e);
  g_free(dbg);
}

GstHarness* harness_for(const std::string& props, const std::string& caps) {
  // GstHarness answers the latency query as a live source: ask for sync mode explicitly.
  GstHarness* h = gst_harness_new_parse(("torchclassify device=cpu mode=sync " + props).c_str());
  gst_harness_set_src_caps_str(h, caps.c_str());
  return h;
}

GstBuffer* make_frame(const GstVideoInfo& info, guint8 seed) {
  GstBuffer* b = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
  GstMapInfo m;
  gst_buffer_map(b, &m, GST_MAP_WRITE);
  for (gsize i = 0; i < m.size; i++) m.data[i] = (guint8)(i * 7 + seed * 13 + (i / 97));
  gst_buffer_unmap(b, &m);
  return b;
}

}  // namespace

TEST(TorchClassify, AttachesMetaOnEveryFormatAndPassesBuffersThrough) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  const char* formats[] = {"RGB", "BGR", "RGBA", "BGRA", "RGBx", "BGRx", "xRGB", "xBGR", "ARGB", "ABGR", "I420", "NV12"};
  for (const char* fmt : formats) {
    const std::string caps = std::string("video/x-raw,format=") + fmt + ",width=83,height=61,framerate=30/1";
    GstHarness* h = harness_for("model-location=" + model, caps);
    GstVideoInfo info;
    GstCaps* c = gst_caps_from_string(caps.c_str());
    ASSERT_TRUE(gst_video_info_from_caps(&info, c));
    gst_caps_unref(c);

    GstBuffer* in = make_frame(info, 3);
    GST_BUFFER_PTS(in) = 5 * GST_SECOND;
    GST_BUFFER_DTS(in) = 4 * GST_SECOND;
    GST_BUFFER_DURATION(in) = GST_SECOND / 30;
    GST_BUFFER_OFFSET(in) = 150;
    GST_BUFFER_FLAG_SET(in, GST_BUFFER_FLAG_DISCONT);
    GST_BUFFER_FLAG_SET(in, GST_BUFFER_FLAG_DELTA_UNIT);
    GstBuffer* copy = gst_buffer_copy_deep(in);
    ASSERT_EQ(gst_harness_push(h, in), GST_FLOW_OK) << fmt;
    GstBuffer* out = gst_harness_pull(h);
    ASSERT_TRUE(out) << fmt;

    EXPECT_EQ(GST_BUFFER_PTS(out), 5 * GST_SECOND);
    EXPECT_EQ(GST_BUFFER_DTS(out), 4 * GST_SECOND);
    EXPECT_EQ(GST_BUFFER_DURATION(out), GST_SECOND / 30);
    EXPECT_EQ(GST_BUFFER_OFFSET(out), 150u);
    EXPECT_TRUE(GST_BUFFER_FLAG_IS_SET(out, GST_BUFFER_FLAG_DISCONT));
    EXPECT_TRUE(GST_BUFFER_FLAG_IS_SET(out, GST_BUFFER_FLAG_DELTA_UNIT));
    GstMapInfo a, b;
    gst_buffer_map(out, &a, GST_MAP_READ);
    gst_buffer_map(copy, &b, GST_MAP_READ);
    ASSERT_EQ(a.size, b.size);
    EXPECT_EQ(memcmp(a.data, b.data, a.size), 0) << fmt << ": pixels changed";
    gst_buffer_unmap(out, &a);
    gst_buffer_unmap(copy, &b);

    ASSERT_EQ(gst_buffer_get_n_torch_classification_metas(out), 1u) << fmt;
    GstTorchClassificationMeta* m = gst_buffer_get_torch_classification_meta(out);
    EXPECT_EQ(m->x, 0u);
    EXPECT_EQ(m->y, 0u);
    EXPECT_EQ(m->width, 83u);
    EXPECT_EQ(m->height, 61u);
    EXPECT_STREQ(m->model, "tiny");
    EXPECT_EQ(m->source_pts, GST_CLOCK_TIME_NONE);
    ASSERT_EQ(m->n_labels, 5u);
    float sum = 0;
    for (guint i = 0; i < m->n_labels; i++) {
      EXPECT_GE(m->labels[i].class_id, 0);
      EXPECT_LT(m->labels[i].class_id, 10);
      EXPECT_EQ(std::string(m->labels[i].label), "class " + std::to_string(m->labels[i].class_id));
      if (i) {
        EXPECT_GE(m->labels[i - 1].score, m->labels[i].score);
      }
      sum += m->labels[i].score;
    }
    EXPECT_GT(sum, 0.f);
    EXPECT_LE(sum, 1.0001f);
    gst_buffer_unref(out);
    gst_buffer_unref(copy);
    gst_harness_teardown(h);
  }
}

TEST(TorchClassify, RefusesOtherCaps) {
  GstElement* e = gst_element_factory_make("torchclassify", nullptr);
  ASSERT_TRUE(e);
  GstPad* sink = gst_element_get_static_pad(e, "sink");
  for (const char* s : {"video/x-raw,format=GRAY8,width=64,height=48", "video/x-raw,format=YUY2,width=64,height=48",
                        "audio/x-raw,format=S16LE,rate=48000,channels=2", "video/x-raw,format=RGB,width=0,height=0",
                        "video/x-raw(memory:DMABuf),format=RGB,width=64,height=48"}) {
    GstCaps* c = gst_caps_from_string(s);
    EXPECT_FALSE(gst_pad_query_accept_caps(sink, c)) << s;
    gst_caps_unref(c);
  }
  GstCaps* ok = gst_caps_from_string("video/x-raw,format=NV12,width=1,height=1,framerate=0/1");
  EXPECT_TRUE(gst_pad_query_accept_caps(sink, ok));
  gst_caps_unref(ok);
  gst_object_unref(sink);
  gst_object_unref(e);
}

// Zero-copy input from NVIDIA's decoders: in a build with the CUDA path and
// gstreamer-cuda-1.0 the templates offer video/x-raw(memory:CUDAMemory), but the pads
// offer it only while torchclassify holds a CUDA context, i.e. its device is a GPU. With
// device=cpu, or device=auto where there is no GPU, a decoder is offered system memory
// only, and no CUDA context is announced to the pipeline.
TEST(TorchClassify, CudaMemoryIsOfferedOnlyWithTheModelOnAGpu) {
  GstElementFactory* f = gst_element_factory_find("torchclassify");
  ASSERT_TRUE(f);
  bool in_template = false;
  for (const GList* l = gst_element_factory_get_static_pad_templates(f); l; l = l->next) {
    GstCaps* c = gst_static_pad_template_get_caps(static_cast<GstStaticPadTemplate*>(l->data));
    for (guint i = 0; i < gst_caps_get_size(c); i++)
      in_template |= gst_caps_features_contains(gst_caps_get_features(c, i), "memory:CUDAMemory") != 0;
    gst_caps_unref(c);
  }
  gst_object_unref(f);
#ifdef TA_EXPECT_CUDA_CAPS
  ASSERT_TRUE(in_template) << "a build with the CUDA path and gstreamer-cuda-1.0 offers CUDA memory";
#else
  EXPECT_FALSE(in_template);
  GTEST_SKIP() << "this build has no zero-copy CUDA input (meson: CUDA path or gstreamer-cuda-1.0 missing)";
#endif
  const bool gpu = access("/dev/nvidia0", F_OK) == 0;
  for (const char* device : {"cpu", "auto", "cuda"}) {
    SCOPED_TRACE(device);
    if (!gpu && std::string(device) == "cuda") continue;  // fails to start: DeviceAndPrecision_n
    GstElement* pipe = gst_pipeline_new(nullptr);
    GstElement* e = gst_element_factory_make("torchclassify", nullptr);
    g_object_set(e, "device", device, nullptr);
    gst_bin_add(GST_BIN(pipe), e);
    ASSERT_EQ(gst_element_set_state(pipe, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
    GstPad* sink = gst_element_get_static_pad(e, "sink");
    GstCaps* caps = gst_pad_query_caps(sink, nullptr);
    bool offered = false;
    for (guint i = 0; i < gst_caps_get_size(caps); i++)
      offered |= gst_caps_features_contains(gst_caps_get_features(caps, i), "memory:CUDAMemory") != 0;
    GstCaps* cuda = gst_caps_from_string("video/x-raw(memory:CUDAMemory),format=NV12,width=64,height=48");
    const bool accepted = gst_pad_query_accept_caps(sink, cuda);
    GstBus* bus = gst_element_get_bus(pipe);
    GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_HAVE_CONTEXT);
    const bool announced = m != nullptr;
    const bool on_gpu = gpu && std::string(device) != "cpu";
    EXPECT_EQ(offered, on_gpu) << "caps " << gst_caps_to_string(caps);
    EXPECT_EQ(accepted, on_gpu);
    EXPECT_EQ(announced, on_gpu);
    // System memory is always offered.
    GstCaps* sys = gst_caps_from_string("video/x-raw,format=NV12,width=64,height=48");
    EXPECT_TRUE(gst_pad_query_accept_caps(sink, sys));
    gst_caps_unref(sys);
    if (m) gst_message_unref(m);
    gst_object_unref(bus);
    gst_caps_unref(cuda);
    gst_caps_unref(caps);
    gst_object_unref(sink);
    gst_element_set_state(pipe, GST_STATE_NULL);
    gst_object_unref(pipe);
  }
}

TEST(TorchClassify, TopKThresholdAndActivation) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  const std::string caps = "video/x-raw,format=RGB,width=64,height=64,framerate=30/1";
  GstVideoInfo info;
  gst_video_info_set_format(&info, GST_VIDEO_FORMAT_RGB, 64, 64);
  struct Case {
    std::string props;
    guint n;
  } cases[] = {{"top-k=3", 3}, {"top-k=20", 10}, {"threshold=2.0", 0}, {"activation=none top-k=10 threshold=-1e9", 10},
               {"activation=sigmoid top-k=10", 10}};
  for (const Case& c : cases) {
    GstHarness* h = harness_for("model-location=" + model + " " + c.props, caps);
    GstBuffer* out = gst_harness_push_and_pull(h, make_frame(info, 1));
    ASSERT_TRUE(out);
    GstTorchClassificationMeta* m = gst_buffer_get_torch_classification_meta(out);
    ASSERT_TRUE(m) << c.props;
    EXPECT_EQ(m->n_labels, c.n) << c.props;
    if (c.props.find("sigmoid") != std::string::npos)
      for (guint i = 0; i < m->n_labels; i++) {
        EXPECT_GT(m->labels[i].score, 0.f);
        EXPECT_LT(m->labels[i].score, 1.f);
      }
    if (c.props.find("activation=none") != std::string::npos) {  // negative logits kept: threshold=-1e9
      float sum = 0;
      for (guint i = 0; i < m->n_labels; i++) sum += m->labels[i].score;
      EXPECT_GT(std::fabs(sum - 1.f), 1e-3) << "raw outputs look softmaxed";
    }
    gst_buffer_unref(out);
    gst_harness_teardown(h);
  }
}

TEST(TorchClassify, LabelsFile) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  TA_REQUIRE_FIXTURE(labels, "labels10.txt");
  std::vector<std::string> lines;
  {
    gchar* text = nullptr;
    ASSERT_TRUE(g_file_get_contents(labels.c_str(), &text, nullptr, nullptr));
    gchar** v = g_strsplit(text, "\n", -1);
    for (gchar** l = v; *l; l++)
      if (**l) lines.push_back(*l);
    g_strfreev(v);
    g_free(text);
  }
  ASSERT_EQ(lines.size(), 10u);
  GstHarness* h = harness_for("model-location=" + model + " labels-location=" + labels + " top-k=10",
                              "video/x-raw,format=BGRx,width=32,height=32");
  GstVideoInfo info;
  gst_video_info_set_format(&info, GST_VIDEO_FORMAT_BGRx, 32, 32);
  GstBuffer* out = gst_harness_push_and_pull(h, make_frame(info, 2));
  GstTorchClassificationMeta* m = gst_buffer_get_torch_classification_meta(out);
  ASSERT_TRUE(m);
  ASSERT_EQ(m->n_labels, 10u);
  for (guint i = 0; i < m->n_labels; i++) EXPECT_EQ(lines[m->labels[i].class_id], m->labels[i].label);
  gst_buffer_unref(out);
  gst_harness_teardown(h);
}

TEST(TorchClassify, PostsOneElementMessagePerFrame) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  BusResult r;
  run_pipeline("videotestsrc num-buffers=4 ! video/x-raw,width=96,height=64,framerate=10/1 ! torchclassify device=cpu "
               "post-messages=true top-k=2 model-location=" + model + " ! fakesink",
               &r);
  ASSERT_FALSE(r.error);
  ASSERT_TRUE(r.eos);
  ASSERT_EQ(r.elements.size(), 4u);
  for (size_t i = 0; i < r.elements.size(); i++) {
    GstStructure* s = r.elements[i];
    guint64 ts = 0;
    ASSERT_TRUE(gst_structure_get_uint64(s, "timestamp", &ts));
    EXPECT_EQ(ts, i * GST_SECOND / 10);
    EXPECT_STREQ(gst_structure_get_string(s, "model"), "tiny");
    const GValue* ids = gst_structure_get_value(s, "class-ids");
    const GValue* labels = gst_structure_get_value(s, "labels");
    const GValue* scores = gst_structure_get_value(s, "scores");
    ASSERT_TRUE(ids && labels && scores);
    ASSERT_EQ(gst_value_array_get_size(ids), 2u);
    ASSERT_EQ(gst_value_array_get_size(labels), 2u);
    ASSERT_EQ(gst_value_array_get_size(scores), 2u);
    const int id0 = g_value_get_int(gst_value_array_get_value(ids, 0));
    EXPECT_EQ(std::string(g_value_get_string(gst_value_array_get_value(labels, 0))), "class " + std::to_string(id0));
    EXPECT_GE(g_value_get_double(gst_value_array_get_value(scores, 0)),
              g_value_get_double(gst_value_array_get_value(scores, 1)));
  }
}

TEST(TorchClassify, StateDictTenClassesAndRestart) {
  TA_REQUIRE_FIXTURE(weights, "resnet18_10class.pth");
  const std::string launch = "videotestsrc num-buffers=2 ! video/x-raw,width=64,height=48 ! torchclassify device=cpu "
                             "architecture=resnet18 num-classes=10 weights-location=" + weights +
                             " post-messages=true ! fakesink";
  for (int round = 0; round < 2; round++) {  // the model is loaded again after NULL
    BusResult r;
    run_pipeline(launch, &r);
    ASSERT_FALSE(r.error);
    ASSERT_EQ(r.elements.size(), 2u);
    EXPECT_STREQ(gst_structure_get_string(r.elements[0], "model"), "resnet18");
  }
}

TEST(TorchClassify, NonStrictLoadWarnsAndRuns) {
  TA_REQUIRE_FIXTURE(weights, "resnet18_10class.pth");
  BusResult r;
  run_pipeline("videotestsrc num-buffers=1 ! video/x-raw,width=64,height=48 ! torchclassify device=cpu "
               "architecture=resnet18 strict=false weights-location=" + weights + " ! fakesink",
               &r);
  ASSERT_FALSE(r.error);
  EXPECT_TRUE(r.eos);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("strict=false"), std::string::npos) << r.warnings[0];
  EXPECT_NE(r.warnings[0].find("fc.weight"), std::string::npos) << r.warnings[0];
}

TEST(TorchClassify, MetaIsRescaledByVideoscale) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  GstHarness* h = gst_harness_new_parse(("torchclassify device=cpu mode=sync model-location=" + model +
                                         " ! videoscale ! capsfilter caps=video/x-raw,width=160,height=120").c_str());
  gst_harness_set_src_caps_str(h, "video/x-raw,format=RGBA,width=640,height=480,framerate=30/1");
  GstVideoInfo info;
  gst_video_info_set_format(&info, GST_VIDEO_FORMAT_RGBA, 640, 480);
  GstBuffer* out = gst_harness_push_and_pull(h, make_frame(info, 9));
  ASSERT_TRUE(out);
  GstTorchClassificationMeta* m = gst_buffer_get_torch_classification_meta(out);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->width, 160u);
  EXPECT_EQ(m->height, 120u);
  EXPECT_EQ(m->n_labels, 5u);
  gst_buffer_unref(out);
  gst_harness_teardown(h);
}

TEST(TorchClassify, TinyAndHugeFrames) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  for (auto wh : std::vector<std::pair<int, int>>{{1, 1}, {3, 1}, {3840, 2160}}) {
    const std::string caps = "video/x-raw,format=I420,width=" + std::to_string(wh.first) +
                             ",height=" + std::to_string(wh.second);
    GstHarness* h = harness_for("model-location=" + model, caps);
    GstVideoInfo info;
    gst_video_info_set_format(&info, GST_VIDEO_FORMAT_I420, wh.first, wh.second);
    GstBuffer* out = gst_harness_push_and_pull(h, make_frame(info, 4));
    ASSERT_TRUE(out);
    GstTorchClassificationMeta* m = gst_buffer_get_torch_classification_meta(out);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->width, (guint)wh.first);
    EXPECT_EQ(m->n_labels, 5u);
    gst_buffer_unref(out);
    gst_harness_teardown(h);
  }
}

TEST(TorchClassify, BufferSmallerThanCaps_n) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  GstHarness* h = harness_for("model-location=" + model, "video/x-raw,format=RGB,width=64,height=64");
  GstBuffer* b = gst_buffer_new_allocate(nullptr, 100, nullptr);
  EXPECT_EQ(gst_harness_push(h, b), GST_FLOW_ERROR);
  gst_harness_teardown(h);
}

// ---- every bad input is a clear error on the bus and a failed start ----------------

TEST(TorchClassifyErrors, MissingWeightsFile_n) {
  expect_error("weights-location=/nonexistent/w.pth", GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND,
               "does not exist");
}

TEST(TorchClassifyErrors, MissingModelFile_n) {
  expect_error("model-location=/nonexistent/m.ts", GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND,
               "check model-location");
}

TEST(TorchClassifyErrors, UnreadableFile_n) {
  // A directory cannot be read as a file, whoever runs the test (root reads any mode).
  const std::string dir = ::testing::TempDir() + "/weights_dir.pth";
  g_mkdir_with_parents(dir.c_str(), 0755);
  expect_error("weights-location=" + dir, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ, "cannot be read");
  if (geteuid() == 0) return;  // the mode check below only binds other users
  const std::string p = ::testing::TempDir() + "/unreadable.pth";
  ASSERT_TRUE(g_file_set_contents(p.c_str(), "x", 1, nullptr));
  ASSERT_EQ(chmod(p.c_str(), 0), 0);
  expect_error("weights-location=" + p, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ, "cannot be read");
}

TEST(TorchClassifyErrors, LegacyFormat_n) {
  TA_REQUIRE_FIXTURE(weights, "legacy_resnet18.pth");
  expect_error("architecture=resnet18 weights-location=" + weights, GST_LIBRARY_ERROR, GST_LIBRARY_ERROR_INIT,
               "torch.save(torch.load(");
}

TEST(TorchClassifyErrors, CorruptFiles_n) {
  for (const char* name : {"truncated.pth", "random_bytes.pth", "checkpoint.pth", "list.pth", "nan_resnet18.pth"}) {
    TA_REQUIRE_FIXTURE(weights, name);
    SCOPED_TRACE(name);
    expect_error("architecture=resnet18 weights-location=" + weights, GST_LIBRARY_ERROR, GST_LIBRARY_ERROR_INIT,
                 weights);
  }
  TA_REQUIRE_FIXTURE(junk, "random_bytes.pth");
  expect_error("model-location=" + junk, GST_LIBRARY_ERROR, GST_LIBRARY_ERROR_INIT, "not a TorchScript file");
}

TEST(TorchClassifyErrors, WrongArchitecture_n) {
  TA_REQUIRE_FIXTURE(weights, "resnet18_seeded.pth");
  expect_error("weights-location=" + weights, GST_LIBRARY_ERROR, GST_LIBRARY_ERROR_INIT, "set architecture=resnet18");
}

TEST(TorchClassifyErrors, NoWeightsAnywhere_n) {
  const std::string home = ::testing::TempDir() + "/empty_torch_home";
  g_mkdir_with_parents(home.c_str(), 0755);
  g_setenv("TORCH_HOME", home.c_str(), TRUE);
  expect_error("", GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND, "weights-location");
  expect_error("", GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND, "model-location");
  expect_error("", GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND, "torchvision.models.resnet50(weights=");
  g_unsetenv("TORCH_HOME");
}

TEST(TorchClassifyErrors, LabelsCount_n) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  TA_REQUIRE_FIXTURE(labels, "labels9.txt");
  expect_error("model-location=" + model + " labels-location=" + labels, GST_RESOURCE_ERROR,
               GST_RESOURCE_ERROR_SETTINGS, "has 9 labels but the model has 10 classes");
}

TEST(TorchClassifyErrors, BadPreprocessingSettings_n) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  const std::string m = "model-location=" + model + " ";
  expect_error(m + "crop-size=300", GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, "crop-size (300) is larger");
  expect_error(m + "mean=\"<0.5,0.5>\"", GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, "mean has 2 values");
  expect_error(m + "std=\"<0.2,0.2,0.2,0.2>\"", GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, "std has 4 values");
  expect_error(m + "std=\"<0.2,0.0,0.2>\"", GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, "std must not contain 0");
}

// device=auto (the default) without a GPU runs on the CPU and says so, once.
TEST(TorchClassify, DeviceAutoWithoutAGpuWarnsOnceAndRunsOnTheCpu) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  if (access("/dev/nvidia0", F_OK) == 0) GTEST_SKIP() << "a GPU is present: device=auto takes it";
  BusResult r;
  run_pipeline("videotestsrc num-buffers=3 ! video/x-raw,width=64,height=48 ! torchclassify model-location=" +
                   model + " ! fakesink",
               &r);
  ASSERT_FALSE(r.error);
  EXPECT_TRUE(r.eos);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("runs on the CPU"), std::string::npos) << r.warnings[0];
  EXPECT_NE(r.warnings[0].find("device=cpu"), std::string::npos) << r.warnings[0];
}

TEST(TorchClassifyErrors, DeviceAndPrecision_n) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  const std::string m = "model-location=" + model + " ";
  expect_error(m + "device=tpu", GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, "is not a device");
  expect_error(m + "precision=fp16", GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, "needs a CUDA device");
  if (access("/dev/nvidia0", F_OK) == 0) GTEST_SKIP() << "a GPU is present: device=cuda works here";
  expect_error(m + "device=cuda", GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND, "no CUDA device");
}
