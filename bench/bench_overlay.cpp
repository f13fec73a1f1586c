// Per-frame cost of torchoverlay, the element's chain function only (GstHarness pushes in
// the calling thread, so the time around gst_harness_push is the element's work):
//   bench_overlay FORMAT WIDTH HEIGHT FRAMES SCENE
// SCENE: none    (no results attached: the floor),
//        static  (the same three labels and scores on every frame, as on a still camera),
//        varying (the same labels, scores that change every frame, as on a live camera).
// Prints one line: format, size, scene, mean and p50/p99 microseconds per frame.
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "gsttorchclassificationmeta.h"

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s FORMAT WIDTH HEIGHT FRAMES none|static|varying\n", argv[0]);
    return 2;
  }
  const std::string fmt = argv[1], scene = argv[5];
  const int w = std::atoi(argv[2]), h = std::atoi(argv[3]), frames = std::atoi(argv[4]);
  if (scene != "none" && scene != "static" && scene != "varying") {
    std::fprintf(stderr, "SCENE must be none, static or varying, not %s\n", scene.c_str());
    return 2;
  }
  GstVideoInfo info;
  if (!gst_video_info_set_format(&info, gst_video_format_from_string(fmt.c_str()), w, h)) {
    std::fprintf(stderr, "unknown format or size: %s %dx%d\n", fmt.c_str(), w, h);
    return 2;
  }
  GstHarness* hn = gst_harness_new("torchoverlay");
  const std::string caps = "video/x-raw,format=" + fmt + ",width=" + std::to_string(w) + ",height=" +
                           std::to_string(h) + ",framerate=30/1";
  gst_harness_set_src_caps_str(hn, caps.c_str());

  std::vector<double> us;
  us.reserve(frames);
  for (int i = 0; i < frames + 10; i++) {  // the first 10 warm up (fonts, caches) and are not counted
    GstBuffer* b = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
    gst_buffer_memset(b, 0, (guint8)(90 + i % 64), GST_VIDEO_INFO_SIZE(&info));
    if (scene != "none") {
      GstTorchClassificationMeta* m = gst_buffer_add_torch_classification_meta(b, "resnet50", 0, 0, w, h);
      const float d = scene == "varying" ? (float)(i % 97) / 1000.f : 0.f;
      gst_torch_classification_meta_add_label(m, 281, "tabby", 0.71f + d);
      gst_torch_classification_meta_add_label(m, 285, "Egyptian cat", 0.15f - d / 2);
      gst_torch_classification_meta_add_label(m, 282, "tiger cat", 0.05f - d / 4);
    }
    const gint64 t0 = g_get_monotonic_time();
    if (gst_harness_push(hn, b) != GST_FLOW_OK) {
      std::fprintf(stderr, "push failed\n");
      return 1;
    }
    const gint64 t1 = g_get_monotonic_time();
    gst_buffer_unref(gst_harness_pull(hn));
    if (i >= 10) us.push_back((double)(t1 - t0));
  }
  gst_harness_teardown(hn);
  double sum = 0;
  for (double v : us) sum += v;
  std::sort(us.begin(), us.end());
  std::printf("format=%s size=%dx%d scene=%s frames=%d mean_us=%.1f p50_us=%.1f p99_us=%.1f\n", fmt.c_str(), w, h,
              scene.c_str(), frames, sum / us.size(), us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)]);
  return 0;
}
