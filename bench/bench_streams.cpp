// Throughput and live behaviour of torchclassify, measured in one process:
//   bench_streams streams WEIGHTS N SHARED BATCH FRAMES   -> total frames/s and resident memory
//   bench_streams delay WEIGHTS MODE INTERVAL FRAMES      -> p50/p99 delay frame -> attached result
//   bench_streams regions WEIGHTS NREGIONS BATCH FRAMES   -> one stream, NREGIONS ROI metas a frame
//                                                            (inference-region=roi-list): regions/s
// Run through scripts/bench, which prints the tables of docs/PERFORMANCE.md.
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "gsttorchclassificationmeta.h"

namespace {

long rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6) / 1024;
  return -1;
}

bool wait_eos(GstElement* p, int timeout_s) {
  GstBus* bus = gst_element_get_bus(p);
  GstMessage* m = gst_bus_timed_pop_filtered(bus, (GstClockTime)timeout_s * GST_SECOND,
                                             (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  bool ok = m && GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS;
  if (m && !ok) {
    GError* e = nullptr;
    gst_message_parse_error(m, &e, nullptr);
    std::fprintf(stderr, "error: %s\n", e->message);
    g_error_free(e);
  }
  if (m) gst_message_unref(m);
  gst_object_unref(bus);
  return ok;
}

int streams(const char* weights, int n, bool shared, int batch, int frames) {
  std::vector<GstElement*> pipes;
  const long rss0 = rss_mb();
  for (int i = 0; i < n; i++) {
    const std::string id = shared ? "shared" : "own" + std::to_string(i);
    const std::string launch = "videotestsrc num-buffers=" + std::to_string(frames) +
                               " ! video/x-raw,format=I420,width=640,height=480,framerate=30/1 ! torchclassify "
                               "device=cpu mode=sync batch-size=" + std::to_string(batch) +
                               " batch-timeout=10 model-instance-id=" + id + " weights-location=" + weights +
                               " ! fakesink sync=false";
    GstElement* p = gst_parse_launch(launch.c_str(), nullptr);
    gst_element_set_state(p, GST_STATE_PAUSED);
    gst_element_get_state(p, nullptr, nullptr, 60 * GST_SECOND);  // models loaded, first frames queued
    pipes.push_back(p);
  }
  const long rss_loaded = rss_mb();
  const gint64 t0 = g_get_monotonic_time();
  for (auto* p : pipes) gst_element_set_state(p, GST_STATE_PLAYING);
  bool ok = true;
  for (auto* p : pipes) ok &= wait_eos(p, 600);
  const double secs = (g_get_monotonic_time() - t0) / 1e6;
  std::printf("streams=%d shared=%d batch=%d fps=%.2f rss_mb=%ld rss_models_mb=%ld ok=%d\n", n, shared ? 1 : 0, batch,
              n * frames / secs, rss_mb(), rss_loaded - rss0, ok ? 1 : 0);
  for (auto* p : pipes) {
    gst_element_set_state(p, GST_STATE_NULL);
    gst_object_unref(p);
  }
  return ok ? 0 : 1;
}

int delay(const char* weights, const char* mode, int interval, int frames) {
  // A live 30 fps camera and a model slower than a frame interval (ResNet50 at 320x320).
  const std::string launch = "videotestsrc is-live=true num-buffers=" + std::to_string(frames) +
                             " ! video/x-raw,format=I420,width=640,height=480,framerate=30/1 ! torchclassify device=cpu "
                             "resize-size=320 crop-size=320 mode=" + std::string(mode) + " interval=" +
                             std::to_string(interval) + " weights-location=" + weights + " ! appsink name=sink sync=false";
  GstElement* p = gst_parse_launch(launch.c_str(), nullptr);
  GstElement* sink = gst_bin_get_by_name(GST_BIN(p), "sink");
  gst_element_set_state(p, GST_STATE_PLAYING);
  std::vector<double> result_age, lag;  // pts - source pts; arrival - capture
  gint64 first_arrival = 0;
  GstClockTime first_pts = 0;
  int n = 0;
  while (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 60 * GST_SECOND)) {
    GstBuffer* b = gst_sample_get_buffer(s);
    const gint64 now = g_get_monotonic_time();
    if (n++ == 0) {
      first_arrival = now;
      first_pts = GST_BUFFER_PTS(b);
    }
    // How far behind the camera the output is, from the first frame on.
    lag.push_back((now - first_arrival) / 1e6 - (GST_BUFFER_PTS(b) - first_pts) / 1e9);
    if (GstTorchClassificationMeta* m = gst_buffer_get_torch_classification_meta(b)) {
      const GstClockTime src = GST_CLOCK_TIME_IS_VALID(m->source_pts) ? m->source_pts : GST_BUFFER_PTS(b);
      result_age.push_back((GST_BUFFER_PTS(b) - src) / 1e9 + std::max(0.0, lag.back()));
    }
    gst_sample_unref(s);
  }
  const double span = n > 1 ? (g_get_monotonic_time() - first_arrival) / 1e6 : 0;
  auto pct = [](std::vector<double> v, double q) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, (size_t)(q * v.size()))];
  };
  // delay = how old the result attached to a frame is when the frame leaves: the age of
  // the frame it was computed on, plus how late the frame itself is.
  std::printf("mode=%s interval=%d frames=%d out_fps=%.2f delay_p50_ms=%.0f delay_p99_ms=%.0f final_lag_ms=%.0f\n",
              mode, interval, n, n > 1 ? (n - 1) / span : 0.0, pct(result_age, 0.5) * 1e3, pct(result_age, 0.99) * 1e3,
              lag.empty() ? 0.0 : lag.back() * 1e3);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(p);
  return 0;
}

// A "detector": `n` regions of different sizes at odd offsets on every frame.
GstPadProbeReturn add_regions(GstPad*, GstPadProbeInfo* info, gpointer data) {
  const int n = GPOINTER_TO_INT(data);
  GstBuffer* b = gst_buffer_make_writable(gst_pad_probe_info_get_buffer(info));
  for (int i = 0; i < n; i++) {
    GstVideoRegionOfInterestMeta* m = gst_buffer_add_video_region_of_interest_meta(
        b, "obj", 13 + 71 * (i % 8), 7 + 53 * (i / 8 % 8), 61 + 9 * (i % 5), 83 + 7 * (i % 3));
    m->id = i;
  }
  GST_PAD_PROBE_INFO_DATA(info) = b;
  return GST_PAD_PROBE_OK;
}

int regions(const char* weights, int nreg, int batch, int frames) {
  const std::string launch = "videotestsrc num-buffers=" + std::to_string(frames) +
                             " ! video/x-raw,format=I420,width=640,height=480,framerate=30/1 ! torchclassify name=cls "
                             "device=cpu mode=sync inference-region=roi-list max-rois=" + std::to_string(nreg) +
                             " batch-size=" + std::to_string(batch) + " weights-location=" + weights +
                             " ! appsink name=sink sync=false";
  GstElement* p = gst_parse_launch(launch.c_str(), nullptr);
  GstElement* cls = gst_bin_get_by_name(GST_BIN(p), "cls");
  GstPad* pad = gst_element_get_static_pad(cls, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, add_regions, GINT_TO_POINTER(nreg), nullptr);
  gst_object_unref(pad);
  gst_object_unref(cls);
  GstElement* sink = gst_bin_get_by_name(GST_BIN(p), "sink");
  gst_element_set_state(p, GST_STATE_PAUSED);
  gst_element_get_state(p, nullptr, nullptr, 60 * GST_SECOND);
  const gint64 t0 = g_get_monotonic_time();
  gst_element_set_state(p, GST_STATE_PLAYING);
  long classified = 0;
  int n = 0;
  while (GstSample* smp = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 600 * GST_SECOND)) {
    n++;
    classified += (long)gst_buffer_get_n_torch_classification_metas(gst_sample_get_buffer(smp));
    gst_sample_unref(smp);
  }
  const double secs = (g_get_monotonic_time() - t0) / 1e6;
  std::printf("regions=%d batch=%d frames=%d classified=%ld regions_per_s=%.2f fps=%.2f ok=%d\n", nreg, batch, n,
              classified, classified / secs, n / secs, classified == (long)nreg * frames ? 1 : 0);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(p);
  return classified == (long)nreg * frames ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "streams" && argc == 7)
    return streams(argv[2], std::atoi(argv[3]), std::atoi(argv[4]) != 0, std::atoi(argv[5]), std::atoi(argv[6]));
  if (cmd == "delay" && argc == 6) return delay(argv[2], argv[3], std::atoi(argv[4]), std::atoi(argv[5]));
  if (cmd == "regions" && argc == 6)
    return regions(argv[2], std::atoi(argv[3]), std::atoi(argv[4]), std::atoi(argv[5]));
  std::fprintf(stderr, "usage: %s streams WEIGHTS N SHARED(0|1) BATCH FRAMES | delay WEIGHTS sync|live INTERVAL FRAMES | regions WEIGHTS NREGIONS BATCH FRAMES\n",
               argv[0]);
  return 2;
}
