// What a model update costs a running torchclassify (issue 14): appsrc (as fast as the
// element takes frames, sync mode) -> torchclassify -> appsink. Measures the steady frame
// rate, then sets weights-location to another file and reports
//   - the time from the property set to the first frame carrying the new model's SHA-256,
//   - the frames the swap cost: what the steady rate would have delivered in that time,
//     minus what did leave (with the old model) meanwhile,
//   - the longest gap between two output frames around the swap, against the steady one.
// Usage: bench_swap MODEL_A.pth MODEL_B.pth [crop-size] [architecture] [classes-of-B]
// (two state dicts of `architecture`, default resnet18; crop-size default 112; B's class
// count default 1000). E.g. with the test fixtures:
//   bench_swap build/tests/fixtures/resnet18_seeded.pth build/tests/fixtures/resnet18_10class.pth 112 resnet18 10
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include "gsttorchclassificationmeta.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Out {
  gint64 t_us;
  std::string sha;
};

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL_A.pth MODEL_B.pth [crop-size] [architecture] [classes-of-B]\n", argv[0]);
    return 2;
  }
  const std::string a = argv[1], b = argv[2];
  const int crop = argc > 3 ? std::atoi(argv[3]) : 112;
  const std::string arch = argc > 4 ? argv[4] : "resnet18";
  const int classes_b = argc > 5 ? std::atoi(argv[5]) : 1000;
  const std::string desc =
      "appsrc name=src format=time block=true max-buffers=2 caps=video/x-raw,format=RGB,width=320,height=240,"
      "framerate=30/1 ! torchclassify name=tc device=cpu mode=sync batch-size=1 architecture=" + arch +
      " crop-size=" + std::to_string(crop) + " resize-size=" + std::to_string(crop * 8 / 7) +
      " weights-location=" + a + " ! appsink name=sink sync=false max-buffers=0";
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &err);
  if (!p) {
    std::fprintf(stderr, "%s\n", err->message);
    return 1;
  }
  GstElement* src = gst_bin_get_by_name(GST_BIN(p), "src");
  GstElement* tc = gst_bin_get_by_name(GST_BIN(p), "tc");
  GstElement* sink = gst_bin_get_by_name(GST_BIN(p), "sink");
  if (gst_element_set_state(p, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) return 1;

  std::atomic<bool> stop{false};
  std::thread pusher([&] {
    for (guint64 i = 0; !stop; i++) {
      GstBuffer* buf = gst_buffer_new_allocate(nullptr, 320 * 240 * 3, nullptr);
      gst_buffer_memset(buf, 0, (guint8)(i * 13), 320 * 240 * 3);
      GST_BUFFER_PTS(buf) = i * GST_SECOND / 30;
      if (gst_app_src_push_buffer(GST_APP_SRC(src), buf) != GST_FLOW_OK) break;
    }
  });
  std::mutex mu;
  std::vector<Out> outs;
  std::thread puller([&] {
    while (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 30 * GST_SECOND)) {
      GstTorchClassificationMeta* m = gst_buffer_get_torch_classification_meta(gst_sample_get_buffer(s));
      std::lock_guard<std::mutex> l(mu);
      outs.push_back({g_get_monotonic_time(), m && m->model_sha256 ? m->model_sha256 : ""});
      gst_sample_unref(s);
    }
  });
  auto count = [&] {
    std::lock_guard<std::mutex> l(mu);
    return outs.size();
  };
  // Warm-up, then the steady rate over 3 s.
  g_usleep(2 * G_USEC_PER_SEC);
  const size_t n0 = count();
  const gint64 t0 = g_get_monotonic_time();
  g_usleep(3 * G_USEC_PER_SEC);
  const size_t n1 = count();
  const gint64 t_set = g_get_monotonic_time();
  const double fps = (double)(n1 - n0) / ((double)(t_set - t0) / 1e6);
  std::string old_sha;
  {
    std::lock_guard<std::mutex> l(mu);
    old_sha = outs.back().sha;
  }
  g_object_set(tc, "num-classes", classes_b, "weights-location", b.c_str(), NULL);
  // Until the new model's first result, then 2 s more.
  gint64 t_first = 0;
  size_t i_first = 0;
  while (!t_first && g_get_monotonic_time() - t_set < 120 * G_USEC_PER_SEC) {
    g_usleep(10000);
    std::lock_guard<std::mutex> l(mu);
    for (size_t i = n1; i < outs.size(); i++)
      if (!outs[i].sha.empty() && outs[i].sha != old_sha) {
        t_first = outs[i].t_us;
        i_first = i;
        break;
      }
  }
  g_usleep(2 * G_USEC_PER_SEC);
  stop = true;
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  pusher.join();
  puller.join();
  gst_element_set_state(p, GST_STATE_NULL);
  if (!t_first) {
    std::fprintf(stderr, "no result of the new model within 120 s\n");
    return 1;
  }
  // Frames out between the set and the first new result (all on the old model).
  size_t during = 0;
  gint64 steady_gap = 0, swap_gap = 0;
  for (size_t i = n0 + 1; i < n1; i++) steady_gap = std::max(steady_gap, outs[i].t_us - outs[i - 1].t_us);
  for (size_t i = n1 + 1; i <= i_first && i < outs.size(); i++) swap_gap = std::max(swap_gap, outs[i].t_us - outs[i - 1].t_us);
  for (size_t i = 0; i < outs.size(); i++)
    if (outs[i].t_us > t_set && i < i_first) during++;
  const double window_s = (double)(t_first - t_set) / 1e6;
  const double cost = fps * window_s - (double)during;
  std::printf("bench_swap: %s crop %d, sync, batch 1: steady %.1f fps\n", arch.c_str(), crop, fps);
  std::printf("  property set -> first result of the new model: %.0f ms (%zu frames left on the old model meanwhile)\n",
              window_s * 1e3, during);
  std::printf("  frames the swap cost (steady rate x that time - frames out): %.1f\n", cost);
  std::printf("  longest gap between two frames: %.0f ms around the swap, %.0f ms steady\n", swap_gap / 1e3,
              steady_gap / 1e3);
  return 0;
}
