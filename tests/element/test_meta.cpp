// The classification meta's C API: add/get/iterate, labels, copies and videoscale.
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <tuple>
#include <string>
#include <vector>

#include "gsttorchclassificationmeta.h"

namespace {

GstBuffer* new_buffer(gsize size = 64) { return gst_buffer_new_allocate(nullptr, size, nullptr); }

// The regions, models and labels of every classification meta of a buffer, in order.
struct MetaCopy {
  guint x, y, w, h;
  std::string model;
  GstClockTime source_pts;
  std::vector<std::tuple<gint, std::string, gfloat>> labels;
};

std::vector<MetaCopy> read_metas(GstBuffer* buf) {
  std::vector<MetaCopy> out;
  gpointer state = nullptr;
  GstTorchClassificationMeta* m;
  while ((m = gst_buffer_iterate_torch_classification_meta(buf, &state))) {
    MetaCopy c{m->x, m->y, m->width, m->height, m->model ? m->model : "<null>", m->source_pts, {}};
    for (guint i = 0; i < m->n_labels; i++)
      c.labels.emplace_back(m->labels[i].class_id, m->labels[i].label, m->labels[i].score);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

TEST(Meta, ApiTypeHasVideoSizeOrientationTags) {
  GType api = GST_TORCH_CLASSIFICATION_META_API_TYPE;
  EXPECT_STREQ(g_type_name(api), "GstTorchClassificationMetaAPI");
  EXPECT_TRUE(gst_meta_api_type_has_tag(api, g_quark_from_string(GST_META_TAG_VIDEO_STR)));
  EXPECT_TRUE(gst_meta_api_type_has_tag(api, g_quark_from_string(GST_META_TAG_VIDEO_SIZE_STR)));
  EXPECT_TRUE(
      gst_meta_api_type_has_tag(api, g_quark_from_string(GST_META_TAG_VIDEO_ORIENTATION_STR)));
  EXPECT_FALSE(
      gst_meta_api_type_has_tag(api, g_quark_from_string(GST_META_TAG_VIDEO_COLORSPACE_STR)));
  const GstMetaInfo* info = GST_TORCH_CLASSIFICATION_META_INFO;
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->api, api);
  EXPECT_EQ(info->size, sizeof(GstTorchClassificationMeta));
  EXPECT_EQ(gst_meta_get_info("GstTorchClassificationMeta"), info);
}

TEST(Meta, AddAndGet) {
  GstBuffer* buf = new_buffer();
  EXPECT_EQ(gst_buffer_get_torch_classification_meta(buf), nullptr);
  EXPECT_EQ(gst_buffer_get_n_torch_classification_metas(buf), 0u);

  GstTorchClassificationMeta* m =
      gst_buffer_add_torch_classification_meta(buf, "resnet50", 10, 20, 300, 200);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->x, 10u);
  EXPECT_EQ(m->y, 20u);
  EXPECT_EQ(m->width, 300u);
  EXPECT_EQ(m->height, 200u);
  EXPECT_STREQ(m->model, "resnet50");
  EXPECT_EQ(m->source_pts, GST_CLOCK_TIME_NONE);
  EXPECT_EQ(m->n_labels, 0u);
  EXPECT_EQ(m->labels, nullptr);
  EXPECT_EQ(gst_torch_classification_meta_get_label(m, 0), nullptr);

  gst_torch_classification_meta_add_label(m, 281, "tabby", 0.8123f);
  gst_torch_classification_meta_add_label(m, 285, "Egyptian cat", 0.0911f);
  ASSERT_EQ(m->n_labels, 2u);

  EXPECT_EQ(gst_buffer_get_torch_classification_meta(buf), m);
  EXPECT_EQ(gst_buffer_get_n_torch_classification_metas(buf), 1u);

  const GstTorchClassLabel* l0 = gst_torch_classification_meta_get_label(m, 0);
  const GstTorchClassLabel* l1 = gst_torch_classification_meta_get_label(m, 1);
  ASSERT_NE(l0, nullptr);
  ASSERT_NE(l1, nullptr);
  EXPECT_EQ(l0->class_id, 281);
  EXPECT_STREQ(l0->label, "tabby");
  EXPECT_FLOAT_EQ(l0->score, 0.8123f);
  EXPECT_EQ(l1->class_id, 285);
  EXPECT_STREQ(l1->label, "Egyptian cat");
  EXPECT_FLOAT_EQ(l1->score, 0.0911f);
  EXPECT_EQ(gst_torch_classification_meta_get_label(m, 2), nullptr);
  EXPECT_EQ(gst_torch_classification_meta_get_label(m, G_MAXUINT), nullptr);
  gst_buffer_unref(buf);
}

TEST(Meta, LabelIsCopied) {
  GstBuffer* buf = new_buffer();
  GstTorchClassificationMeta* m =
      gst_buffer_add_torch_classification_meta(buf, "m", 0, 0, 1, 1);
  ASSERT_NE(m, nullptr);
  char label[] = "goldfish";
  gst_torch_classification_meta_add_label(m, 1, label, 0.5f);
  std::memcpy(label, "XXXXXXXX", 8);
  EXPECT_STREQ(m->labels[0].label, "goldfish");
  EXPECT_NE(m->labels[0].label, label);
  gst_buffer_unref(buf);
}

TEST(Meta, NullLabelStoresClassN) {
  GstBuffer* buf = new_buffer();
  GstTorchClassificationMeta* m =
      gst_buffer_add_torch_classification_meta(buf, "m", 0, 0, 8, 8);
  ASSERT_NE(m, nullptr);
  gst_torch_classification_meta_add_label(m, 7, nullptr, 0.25f);
  gst_torch_classification_meta_add_label(m, -3, nullptr, 0.125f);
  gst_torch_classification_meta_add_label(m, 0, "", 0.0f);
  ASSERT_EQ(m->n_labels, 3u);
  EXPECT_STREQ(m->labels[0].label, "class 7");
  EXPECT_EQ(m->labels[0].class_id, 7);
  EXPECT_STREQ(m->labels[1].label, "class -3");
  // An empty name is a name: only NULL is replaced.
  EXPECT_STREQ(m->labels[2].label, "");
  gst_buffer_unref(buf);
}

TEST(Meta, NullModelStoresEmptyString) {
  GstBuffer* buf = new_buffer();
  GstTorchClassificationMeta* m =
      gst_buffer_add_torch_classification_meta(buf, nullptr, 1, 2, 3, 4);
  ASSERT_NE(m, nullptr);
  ASSERT_NE(m->model, nullptr);
  EXPECT_STREQ(m->model, "");
  gst_buffer_unref(buf);
}

TEST(Meta, IterateAndCountSeveralRegions) {
  GstBuffer* buf = new_buffer();
  // A meta of another API in between must not be returned.
  gst_buffer_add_video_meta(buf, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_FORMAT_GRAY8, 8, 8);
  for (guint i = 0; i < 3; i++) {
    gchar* model = g_strdup_printf("model%u", i);
    GstTorchClassificationMeta* m =
        gst_buffer_add_torch_classification_meta(buf, model, i, i * 2, 10 + i, 20 + i);
    g_free(model);
    ASSERT_NE(m, nullptr);
    gst_torch_classification_meta_add_label(m, (gint)i, nullptr, 1.0f / (i + 1));
  }
  gst_buffer_add_video_meta(buf, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_FORMAT_GRAY8, 8, 8);

  EXPECT_EQ(gst_buffer_get_n_torch_classification_metas(buf), 3u);
  std::vector<MetaCopy> metas = read_metas(buf);
  ASSERT_EQ(metas.size(), 3u);
  std::vector<std::string> models;
  for (const MetaCopy& c : metas) models.push_back(c.model);
  // gst_buffer_add_meta prepends: the buffer returns the newest first. Which order it is
  // does not matter to readers, but every region must be there exactly once.
  std::sort(models.begin(), models.end());
  EXPECT_EQ(models, (std::vector<std::string>{"model0", "model1", "model2"}));
  for (const MetaCopy& c : metas) {
    const guint i = (guint)(c.model.back() - '0');
    EXPECT_EQ(c.x, i);
    EXPECT_EQ(c.y, i * 2);
    EXPECT_EQ(c.w, 10 + i);
    EXPECT_EQ(c.h, 20 + i);
    ASSERT_EQ(c.labels.size(), 1u);
    EXPECT_EQ(std::get<0>(c.labels[0]), (gint)i);
    EXPECT_EQ(std::get<1>(c.labels[0]), "class " + std::to_string(i));
    EXPECT_FLOAT_EQ(std::get<2>(c.labels[0]), 1.0f / (i + 1));
  }
  // get returns one of them, the first that iterate returns.
  gpointer state = nullptr;
  EXPECT_EQ(gst_buffer_get_torch_classification_meta(buf),
            gst_buffer_iterate_torch_classification_meta(buf, &state));
  gst_buffer_unref(buf);
}

TEST(Meta, RemovedMetaFreesAndCounts) {
  GstBuffer* buf = new_buffer();
  GstTorchClassificationMeta* a = gst_buffer_add_torch_classification_meta(buf, "a", 0, 0, 1, 1);
  GstTorchClassificationMeta* b = gst_buffer_add_torch_classification_meta(buf, "b", 0, 0, 1, 1);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  gst_torch_classification_meta_add_label(a, 1, "one", 1.0f);
  EXPECT_TRUE(gst_buffer_remove_meta(buf, (GstMeta*)a));
  EXPECT_EQ(gst_buffer_get_n_torch_classification_metas(buf), 1u);
  GstTorchClassificationMeta* left = gst_buffer_get_torch_classification_meta(buf);
  ASSERT_NE(left, nullptr);
  EXPECT_STREQ(left->model, "b");
  gst_buffer_unref(buf);
}

TEST(Meta, BufferCopyIsDeep) {
  GstBuffer* buf = new_buffer();
  GstTorchClassificationMeta* m1 =
      gst_buffer_add_torch_classification_meta(buf, "resnet50", 0, 0, 640, 480);
  ASSERT_NE(m1, nullptr);
  gst_torch_classification_meta_add_label(m1, 281, "tabby", 0.75f);
  gst_torch_classification_meta_add_label(m1, 285, "Egyptian cat", 0.125f);
  gst_torch_classification_meta_add_label(m1, 9, nullptr, 0.0625f);
  m1->source_pts = 123456789;
  GstTorchClassificationMeta* m2 =
      gst_buffer_add_torch_classification_meta(buf, "detector", 16, 32, 64, 128);
  ASSERT_NE(m2, nullptr);
  gst_torch_classification_meta_add_label(m2, 1, "caf\xc3\xa9", 0.5f);

  const std::vector<MetaCopy> before = read_metas(buf);
  std::vector<const void*> old_pointers;
  gpointer state = nullptr;
  GstTorchClassificationMeta* m;
  while ((m = gst_buffer_iterate_torch_classification_meta(buf, &state))) {
    old_pointers.push_back(m->model);
    for (guint i = 0; i < m->n_labels; i++) old_pointers.push_back(m->labels[i].label);
  }

  GstBuffer* copy = gst_buffer_copy(buf);
  ASSERT_NE(copy, nullptr);
  ASSERT_NE(copy, buf);

  // Deep: none of the copy's strings is one of the original's.
  state = nullptr;
  while ((m = gst_buffer_iterate_torch_classification_meta(copy, &state))) {
    EXPECT_EQ(std::find(old_pointers.begin(), old_pointers.end(), (const void*)m->model),
              old_pointers.end());
    for (guint i = 0; i < m->n_labels; i++)
      EXPECT_EQ(std::find(old_pointers.begin(), old_pointers.end(),
                          (const void*)m->labels[i].label),
                old_pointers.end());
  }

  // Freeing the original must leave the copy intact (run under valgrind/ASan to be sure).
  gst_buffer_unref(buf);

  const std::vector<MetaCopy> after = read_metas(copy);
  ASSERT_EQ(after.size(), 2u);
  ASSERT_EQ(before.size(), 2u);
  // The copy may hold them in either order; match them by model.
  for (const MetaCopy& a : after) {
    const MetaCopy* b = nullptr;
    for (const MetaCopy& c : before)
      if (c.model == a.model) b = &c;
    ASSERT_NE(b, nullptr) << a.model;
    EXPECT_EQ(a.x, b->x);
    EXPECT_EQ(a.y, b->y);
    EXPECT_EQ(a.w, b->w);
    EXPECT_EQ(a.h, b->h);
    EXPECT_EQ(a.source_pts, b->source_pts);
    EXPECT_EQ(a.labels, b->labels);
  }
  GstTorchClassificationMeta* r = nullptr;
  state = nullptr;
  while ((m = gst_buffer_iterate_torch_classification_meta(copy, &state)))
    if (std::string(m->model) == "resnet50") r = m;
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->source_pts, 123456789u);
  ASSERT_EQ(r->n_labels, 3u);
  EXPECT_STREQ(r->labels[0].label, "tabby");
  EXPECT_STREQ(r->labels[1].label, "Egyptian cat");
  EXPECT_STREQ(r->labels[2].label, "class 9");
  EXPECT_EQ(r->labels[2].class_id, 9);
  EXPECT_EQ(r->x, 0u);
  EXPECT_EQ(r->width, 640u);
  EXPECT_EQ(r->height, 480u);
  gst_buffer_unref(copy);
}

// The region and provenance fields: defaults, setters, and deep copies.
TEST(Meta, RoiAndProvenanceFieldsAreCopied) {
  GstBuffer* buf = new_buffer();
  GstTorchClassificationMeta* m = gst_buffer_add_torch_classification_meta(buf, "m", 1, 2, 3, 4);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->roi_type, 0u);
  EXPECT_EQ(m->roi_id, -1);
  EXPECT_EQ(m->model_sha256, nullptr);
  EXPECT_EQ(m->latency, GST_CLOCK_TIME_NONE);
  EXPECT_EQ(gst_torch_classification_meta_get_roi_type_name(m), nullptr);

  gst_torch_classification_meta_set_roi(m, g_quark_from_string("car"), 3);
  const std::string sha(64, 'a');
  gst_torch_classification_meta_set_model_sha256(m, sha.c_str());
  gst_torch_classification_meta_set_model_sha256(m, m->model_sha256);  // itself: a no-op
  m->latency = 5 * GST_MSECOND;
  EXPECT_STREQ(gst_torch_classification_meta_get_roi_type_name(m), "car");

  GstBuffer* copy = gst_buffer_copy(buf);
  gst_buffer_unref(buf);
  GstTorchClassificationMeta* c = gst_buffer_get_torch_classification_meta(copy);
  ASSERT_NE(c, nullptr);
  EXPECT_STREQ(gst_torch_classification_meta_get_roi_type_name(c), "car");
  EXPECT_EQ(c->roi_id, 3);
  EXPECT_STREQ(c->model_sha256, sha.c_str());
  EXPECT_EQ(c->latency, 5 * GST_MSECOND);
  gst_torch_classification_meta_set_model_sha256(c, nullptr);
  EXPECT_EQ(c->model_sha256, nullptr);
  gst_buffer_unref(copy);
}

TEST(Meta, PreprocessFieldsAreSetAndCopied) {
  GstBuffer* buf = new_buffer();
  GstTorchClassificationMeta* m = gst_buffer_add_torch_classification_meta(buf, "m", 0, 0, 8, 8);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->crop_size, 0u);
  EXPECT_EQ(gst_torch_classification_meta_get_resize_mode_name(m), nullptr);
  const gfloat mean[3] = {0.5f, 0.25f, 0.125f}, stdv[3] = {1.f, 2.f, 3.f};
  gst_torch_classification_meta_set_preprocess(m, 256, 224, "stretch", mean, stdv);
  GstBuffer* copy = gst_buffer_copy(buf);
  gst_buffer_unref(buf);
  GstTorchClassificationMeta* c = gst_buffer_get_torch_classification_meta(copy);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->resize_size, 256u);
  EXPECT_EQ(c->crop_size, 224u);
  EXPECT_STREQ(gst_torch_classification_meta_get_resize_mode_name(c), "stretch");
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(c->mean[i], mean[i]);
    EXPECT_EQ(c->std[i], stdv[i]);
  }
  gst_buffer_unref(copy);
}

TEST(Meta, MakeWritableKeepsMeta) {
  GstBuffer* buf = new_buffer();
  GstTorchClassificationMeta* m = gst_buffer_add_torch_classification_meta(buf, "m", 1, 2, 3, 4);
  ASSERT_NE(m, nullptr);
  gst_torch_classification_meta_add_label(m, 5, "five", 0.5f);
  GstBuffer* ref = gst_buffer_ref(buf);
  GstBuffer* w = gst_buffer_make_writable(ref);  // shared: this copies
  ASSERT_NE(w, buf);
  GstTorchClassificationMeta* wm = gst_buffer_get_torch_classification_meta(w);
  ASSERT_NE(wm, nullptr);
  EXPECT_NE(wm, m);
  EXPECT_EQ(wm->x, 1u);
  EXPECT_EQ(wm->height, 4u);
  ASSERT_EQ(wm->n_labels, 1u);
  EXPECT_STREQ(wm->labels[0].label, "five");
  gst_buffer_unref(w);
  gst_buffer_unref(buf);
}

TEST(Meta, RegionCopyDropsMeta) {
  GstBuffer* buf = new_buffer(100);
  GstTorchClassificationMeta* m = gst_buffer_add_torch_classification_meta(buf, "m", 0, 0, 10, 10);
  ASSERT_NE(m, nullptr);
  gst_torch_classification_meta_add_label(m, 1, "one", 1.0f);
  // Other metas still travel: only ours is dropped.
  gst_buffer_add_video_meta(buf, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_FORMAT_GRAY8, 10, 10);

  GstBuffer* part = gst_buffer_copy_region(buf, GST_BUFFER_COPY_ALL, 10, 50);
  ASSERT_NE(part, nullptr);
  EXPECT_EQ(gst_buffer_get_size(part), 50u);
  EXPECT_EQ(gst_buffer_get_n_torch_classification_metas(part), 0u);
  EXPECT_EQ(gst_buffer_get_torch_classification_meta(part), nullptr);
  gst_buffer_unref(part);

  // The whole buffer through copy_region is a plain copy (region = FALSE): kept.
  GstBuffer* whole = gst_buffer_copy_region(buf, GST_BUFFER_COPY_ALL, 0, 100);
  ASSERT_NE(whole, nullptr);
  EXPECT_EQ(gst_buffer_get_n_torch_classification_metas(whole), 1u);
  gst_buffer_unref(whole);
  gst_buffer_unref(buf);
}

// videoscale calls the meta's scale transform: regions follow the picture.
TEST(Meta, VideoscaleRescalesRegion) {
  GError* err = nullptr;
  GstElement* pipe = gst_parse_launch(
      "appsrc name=src format=time caps=video/x-raw,format=RGB,width=640,height=480,framerate=30/1 "
      "! videoscale ! video/x-raw,width=320,height=240 ! appsink name=sink sync=false",
      &err);
  ASSERT_NE(pipe, nullptr) << (err ? err->message : "");
  ASSERT_EQ(err, nullptr) << err->message;
  GstElement* src = gst_bin_get_by_name(GST_BIN(pipe), "src");
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipe), "sink");
  ASSERT_NE(src, nullptr);
  ASSERT_NE(sink, nullptr);
  ASSERT_NE(gst_element_set_state(pipe, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);

  const gsize size = 640 * 480 * 3;
  for (int i = 0; i < 2; i++) {
    GstBuffer* buf = gst_buffer_new_allocate(nullptr, size, nullptr);
    gst_buffer_memset(buf, 0, 0x80, size);
    GST_BUFFER_PTS(buf) = i * GST_SECOND / 30;
    GST_BUFFER_DURATION(buf) = GST_SECOND / 30;
    GstTorchClassificationMeta* m =
        i == 0 ? gst_buffer_add_torch_classification_meta(buf, "resnet50", 64, 48, 320, 240)
               : gst_buffer_add_torch_classification_meta(buf, "resnet18", 0, 0, 640, 480);
    ASSERT_NE(m, nullptr);
    gst_torch_classification_meta_add_label(m, 281, "tabby", 0.75f);
    gst_torch_classification_meta_add_label(m, 7, nullptr, 0.25f);
    if (i == 1) m->source_pts = 42;
    if (i == 0) gst_torch_classification_meta_set_roi(m, g_quark_from_string("face"), 17);
    GstFlowReturn ret = GST_FLOW_ERROR;
    g_signal_emit_by_name(src, "push-buffer", buf, &ret);
    gst_buffer_unref(buf);
    ASSERT_EQ(ret, GST_FLOW_OK);
  }

  struct Want {
    guint x, y, w, h;
    const char* model;
    GstClockTime source_pts;
  };
  const Want want[2] = {{32, 24, 160, 120, "resnet50", GST_CLOCK_TIME_NONE},
                        {0, 0, 320, 240, "resnet18", 42}};
  for (int i = 0; i < 2; i++) {
    GstSample* sample = nullptr;
    g_signal_emit_by_name(sink, "try-pull-sample", (GstClockTime)(10 * GST_SECOND), &sample);
    ASSERT_NE(sample, nullptr) << "no frame " << i << " from videoscale within 10 s";
    GstBuffer* out = gst_sample_get_buffer(sample);
    ASSERT_NE(out, nullptr);
    EXPECT_EQ(gst_buffer_get_size(out), 320u * 240u * 3u);
    // Exactly one: scaled, not scaled plus a copy of the original.
    EXPECT_EQ(gst_buffer_get_n_torch_classification_metas(out), 1u);
    GstTorchClassificationMeta* m = gst_buffer_get_torch_classification_meta(out);
    ASSERT_NE(m, nullptr) << "meta lost in videoscale on frame " << i;
    EXPECT_EQ(m->x, want[i].x);
    EXPECT_EQ(m->y, want[i].y);
    EXPECT_EQ(m->width, want[i].w);
    EXPECT_EQ(m->height, want[i].h);
    EXPECT_STREQ(m->model, want[i].model);
    EXPECT_EQ(m->source_pts, want[i].source_pts);
    EXPECT_STREQ(gst_torch_classification_meta_get_roi_type_name(m), i == 0 ? "face" : nullptr);
    EXPECT_EQ(m->roi_id, i == 0 ? 17 : -1);
    ASSERT_EQ(m->n_labels, 2u);
    EXPECT_EQ(m->labels[0].class_id, 281);
    EXPECT_STREQ(m->labels[0].label, "tabby");
    EXPECT_FLOAT_EQ(m->labels[0].score, 0.75f);
    EXPECT_EQ(m->labels[1].class_id, 7);
    EXPECT_STREQ(m->labels[1].label, "class 7");
    EXPECT_FLOAT_EQ(m->labels[1].score, 0.25f);
    gst_sample_unref(sample);
  }

  GstFlowReturn ret;
  g_signal_emit_by_name(src, "end-of-stream", &ret);
  GstBus* bus = gst_element_get_bus(pipe);
  GstMessage* msg = gst_bus_timed_pop_filtered(bus, 10 * GST_SECOND,
                                               (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  ASSERT_NE(msg, nullptr) << "no EOS within 10 s";
  EXPECT_EQ(GST_MESSAGE_TYPE(msg), GST_MESSAGE_EOS);
  gst_message_unref(msg);
  gst_object_unref(bus);

  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(sink);
  gst_object_unref(pipe);
}
