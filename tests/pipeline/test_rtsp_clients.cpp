// Real RTSP clients read what the project serves: ffmpeg (libavformat's RTSP, libavcodec's
// H.264 decoder) and GStreamer (rtspsrc ! decodebin), over TCP and over UDP, from
// pipelines/rtsp-restream.sh (tiny.ts on the SMPTE bars of rtsp-test-server) and from
// rtsp-test-server's own stream. Each reads 60 frames with no decode error, and on the
// re-stream the frames carry the overlay: the label box's pixels differ from the camera's
// picture, the rest of the frame is the camera's picture (what a frame decoded from the
// wrong slices, or concealed, is not).
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "pipeline_helpers.h"
#include "test_env.h"

using namespace ta_test;

namespace {

constexpr int kW = 320, kH = 240, kFrames = 60;
constexpr size_t kFrameBytes = static_cast<size_t>(kW) * kH * 3;  // RGB
using Frame = std::vector<unsigned char>;

// Mean absolute difference of two RGB frames over the rectangle [x0, x1) x [y0, y1).
double mean_diff(const Frame& a, const Frame& b, int x0, int y0, int x1, int y1) {
  double sum = 0;
  size_t n = 0;
  for (int y = y0; y < y1; y++)
    for (size_t i = (static_cast<size_t>(y) * kW + x0) * 3; i < (static_cast<size_t>(y) * kW + x1) * 3; i++) {
      sum += std::abs(static_cast<int>(a[i]) - static_cast<int>(b[i]));
      n++;
    }
  return sum / static_cast<double>(n);
}

// torchoverlay's box for tiny.ts's 3 labels on a 320x240 frame: the top-left ~120x40 px
// (a line is 1/22 of the height). Inside it, the dark box, text and bars; below it, the
// camera's picture again, up to the error of one more H.264 encoding.
constexpr int kLabelX1 = 110, kLabelY1 = 36, kRestY0 = 48;
constexpr double kOverlaid = 40;  // mean |difference| in the box with the overlay drawn
constexpr double kSame = 20;      // at most this below it (the re-encoding's error is ~7)

// Checks `frames` against `source` (the camera's picture, decoded by the same client):
// every frame outside the box is the source; the overlay shows from an early frame on,
// and stays (torchclassify's live mode: every frame after the first result has one).
void check_overlay(const std::vector<Frame>& frames, const Frame& source) {
  ASSERT_EQ(frames.size(), static_cast<size_t>(kFrames));
  int first = -1;
  for (size_t i = 0; i < frames.size(); i++) {
    SCOPED_TRACE("frame " + std::to_string(i));
    const double rest = mean_diff(frames[i], source, 0, kRestY0, kW, kH);
    EXPECT_LT(rest, kSame) << "below the label box the frame is not the camera's picture";
    const double label = mean_diff(frames[i], source, 4, 4, kLabelX1, kLabelY1);
    if (label > kOverlaid && first < 0) first = static_cast<int>(i);
    if (first >= 0) {
      EXPECT_GT(label, kOverlaid) << "the overlay is gone again (first seen on frame " << first << ")";
    }
  }
  ASSERT_GE(first, 0) << "no frame shows the overlay's labels and bars";
  EXPECT_LT(first, kFrames / 2) << "the overlay came late";
}

std::string program(const char* name) {
  gchar* p = g_find_program_in_path(name);
  std::string s = p ? p : "";
  g_free(p);
  return s;
}

// The lines of ffmpeg's stderr (at -loglevel warning) that report a decoding problem: any
// line of the H.264 decoder, a corrupt or concealed frame, a missing parameter set.
std::vector<std::string> decode_errors(const std::string& err) {
  std::vector<std::string> bad;
  std::istringstream in(err);
  std::string line;
  while (std::getline(in, line)) {
    std::string l = line;
    std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
    for (const char* w : {"[h264 @", "corrupt", "conceal", "error", "non-existing", "missing", "invalid"})
      if (l.find(w) != std::string::npos) {
        bad.push_back(line);
        break;
      }
  }
  return bad;
}

// ffmpeg reads `n` frames of `url` over `transport` as RGB; "" or what went wrong. The
// frames go to *frames, every line of its stderr that reports a decode problem to *errors.
std::string ffmpeg_frames(const std::string& url, const std::string& transport, int n,
                          std::vector<Frame>* frames, std::vector<std::string>* errors) {
  TempPath out(".rgb");
  Child ff;
  if (!ff.start({program("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "warning",
                 "-rtsp_transport", transport, "-i", url, "-frames:v", std::to_string(n),
                 "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", std::to_string(kW) + "x" + std::to_string(kH),
                 "-y", out.path()}))
    return "ffmpeg did not start";
  const int st = ff.wait_exit(Seconds(60));
  *errors = decode_errors(ff.stderr_text());
  if (!exited_with(st, 0)) return "ffmpeg: " + Child::describe(st) + "\n" + ff.stderr_text();
  std::ifstream f(out.path(), std::ios::binary);
  const std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  for (size_t at = 0; at + kFrameBytes <= data.size(); at += kFrameBytes)
    frames->emplace_back(data.begin() + static_cast<long>(at), data.begin() + static_cast<long>(at + kFrameBytes));
  if (frames->size() != static_cast<size_t>(n))
    return "ffmpeg wrote " + std::to_string(data.size()) + " bytes, not " + std::to_string(n) + " frames";
  return "";
}

// rtspsrc ! decodebin reads `n` frames of `url` as RGB; "" or what went wrong. Every
// warning or error on the bus (a decoder that could not decode a frame says so there)
// goes to *errors.
std::string gst_frames(const std::string& url, const std::string& protocols, int n,
                       std::vector<Frame>* frames, std::vector<std::string>* errors) {
  const std::string desc = "rtspsrc location=" + url + " latency=100 protocols=" + protocols +
                           " ! decodebin ! videoconvert ! video/x-raw,format=RGB,width=" + std::to_string(kW) +
                           ",height=" + std::to_string(kH) + " ! fakesink name=sink";
  GstElement* p = nullptr;
  const std::string perr = parse_pipeline(desc, &p);
  if (!perr.empty()) return perr;
  struct Sink {
    std::mutex mu;
    std::vector<Frame> frames;
    size_t want;
    bool bad_size = false;
  } sink;
  sink.want = static_cast<size_t>(n);
  GstElement* fs = gst_bin_get_by_name(GST_BIN(p), "sink");
  GstPad* pad = gst_element_get_static_pad(fs, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad*, GstPadProbeInfo* info, gpointer data) {
        auto* s = static_cast<Sink*>(data);
        GstMapInfo m;
        GstBuffer* b = GST_PAD_PROBE_INFO_BUFFER(info);
        std::lock_guard<std::mutex> lock(s->mu);
        if (s->frames.size() < s->want && gst_buffer_map(b, &m, GST_MAP_READ)) {
          // RGB at 320 px a row: 960 bytes, already 4-aligned, so no row padding.
          if (m.size == kFrameBytes)
            s->frames.emplace_back(m.data, m.data + m.size);
          else
            s->bad_size = true;
          gst_buffer_unmap(b, &m);
        }
        return GST_PAD_PROBE_OK;
      }, &sink, nullptr);
  gst_object_unref(pad);
  gst_object_unref(fs);

  std::string result;
  GstBus* bus = gst_element_get_bus(p);
  if (gst_element_set_state(p, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) result = "the pipeline did not start";
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (result.empty()) {
    {
      std::lock_guard<std::mutex> lock(sink.mu);
      if (sink.frames.size() >= sink.want) break;
    }
    if (Clock::now() > deadline) {
      result = "fewer than " + std::to_string(n) + " frames in 60 s";
      break;
    }
    GstMessage* m = gst_bus_timed_pop_filtered(bus, 50 * GST_MSECOND,
        static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_WARNING | GST_MESSAGE_EOS));
    if (!m) continue;
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS) {
      result = "EOS before " + std::to_string(n) + " frames";
    } else {
      GError* e = nullptr;
      gchar* dbg = nullptr;
      if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR)
        gst_message_parse_error(m, &e, &dbg);
      else
        gst_message_parse_warning(m, &e, &dbg);
      const std::string text = std::string(GST_MESSAGE_TYPE_NAME(m)) + " from " + GST_OBJECT_NAME(m->src) +
                               ": " + e->message + " (" + (dbg ? dbg : "") + ")";
      errors->push_back(text);
      if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) result = text;
      g_clear_error(&e);
      g_free(dbg);
    }
    gst_message_unref(m);
  }
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(p);
  std::lock_guard<std::mutex> lock(sink.mu);
  if (sink.bad_size && result.empty()) result = "a frame of another size than 320x240 RGB";
  *frames = std::move(sink.frames);
  return result;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& l : v) s += "\n  " + l;
  return s;
}

// One camera (rtsp-test-server, SMPTE bars: a still picture, so any frame is the source
// frame) and one rtsp-restream.sh on it, for every test of the file; the re-stream's media
// is shared and starts again with each client.
class Restream : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string model = fixture("tiny.ts");
    if (model.empty()) {
      skip_ = "fixture tiny.ts missing in '" + fixtures_dir() + "' (scripts/test makes the fixtures)";
      return;
    }
    const std::string py = env_or("TA_SYSTEM_PYTHON", "/usr/bin/python3");
    {
      Child probe;
      if (!probe.start({py, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
                                  "from gi.repository import GstRtspServer"}) ||
          !exited_with(probe.wait_exit(Seconds(30)), 0)) {
        skip_ = py + " lacks GstRtspServer (Debian: gir1.2-gst-rtsp-server-1.0)";
        return;
      }
    }
    camera_ = new Child();
    if (!camera_->start({env_or("TA_RTSP_SERVER"), "--pattern", "smpte", "0"}) ) {
      failure_ = "rtsp-test-server did not start (TA_RTSP_SERVER='" + env_or("TA_RTSP_SERVER") + "')";
      return;
    }
    const auto ready = [](const std::string& l) { return l.rfind("READY ", 0) == 0; };
    long i = camera_->wait_line(ready, Seconds(15));
    if (i < 0) {
      failure_ = "the camera did not come up\n" + camera_->report();
      return;
    }
    camera_url_ = camera_->lines()[static_cast<size_t>(i)].substr(6);
    restream_ = new Child();
    restream_->start({env_or("TA_PIPELINES_DIR") + "/rtsp-restream.sh"},
                     {"URL=" + camera_url_, "PORT=0", "ADDRESS=127.0.0.1", "LATENCY=100", "MODEL=" + model,
                      "TORCH_DEVICE=cpu", "PYTHON=" + py});
    i = restream_->wait_line(ready, Seconds(30));
    if (i < 0) {
      failure_ = "rtsp-restream.sh did not come up\n" + restream_->report();
      return;
    }
    url_ = restream_->lines()[static_cast<size_t>(i)].substr(6);
  }
  static void TearDownTestSuite() {
    delete restream_;  // kills its process group
    delete camera_;
    restream_ = camera_ = nullptr;
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_EQ(failure_, "");
  }

  static std::string skip_, failure_, camera_url_, url_;
  static Child *camera_, *restream_;
};
std::string Restream::skip_, Restream::failure_, Restream::camera_url_, Restream::url_;
Child *Restream::camera_ = nullptr, *Restream::restream_ = nullptr;

class RestreamTransport : public Restream, public ::testing::WithParamInterface<const char*> {};

// ffmpeg 5.1 reads the annotated re-stream: 60 frames, no decode error, the overlay drawn.
TEST_P(RestreamTransport, FfmpegDecodesSixtyFramesWithTheOverlay) {
  if (program("ffmpeg").empty()) GTEST_SKIP() << "ffmpeg is not installed (Debian: apt install ffmpeg)";
  std::vector<Frame> src, frames;
  std::vector<std::string> errors;
  // The camera's picture as ffmpeg decodes it: the reference for the re-stream's frames.
  ASSERT_EQ(ffmpeg_frames(camera_url_, GetParam(), 10, &src, &errors), "");
  EXPECT_TRUE(errors.empty()) << "ffmpeg on the camera:" << join(errors);
  errors.clear();
  ASSERT_EQ(ffmpeg_frames(url_, GetParam(), kFrames, &frames, &errors), "") << restream_->report();
  EXPECT_TRUE(errors.empty()) << errors.size() << " decode errors from ffmpeg on " << url_ << ":" << join(errors);
  check_overlay(frames, src.back());
}

// The same check with GStreamer as the client (what gst-play-1.0 uses underneath).
TEST_P(RestreamTransport, RtspsrcDecodesSixtyFramesWithTheOverlay) {
  std::vector<Frame> src, frames;
  std::vector<std::string> errors;
  ASSERT_EQ(gst_frames(camera_url_, GetParam(), 10, &src, &errors), "");
  EXPECT_TRUE(errors.empty()) << "rtspsrc on the camera:" << join(errors);
  errors.clear();
  ASSERT_EQ(gst_frames(url_, GetParam(), kFrames, &frames, &errors), "") << restream_->report();
  EXPECT_TRUE(errors.empty()) << "warnings or errors on the bus:" << join(errors);
  check_overlay(frames, src.back());
}

INSTANTIATE_TEST_SUITE_P(Transport, RestreamTransport, ::testing::Values("tcp", "udp"),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

// rtsp-test-server's own stream (the ball, moving: every frame is a new picture) decodes
// in ffmpeg without an error, over both transports.
class TestServerTransport : public ::testing::TestWithParam<const char*> {};

TEST_P(TestServerTransport, FfmpegDecodesSixtyFrames) {
  if (program("ffmpeg").empty()) GTEST_SKIP() << "ffmpeg is not installed (Debian: apt install ffmpeg)";
  RtspServer server;
  ASSERT_TRUE(server.start());
  std::vector<Frame> frames;
  std::vector<std::string> errors;
  ASSERT_EQ(ffmpeg_frames(server.url(), GetParam(), kFrames, &frames, &errors), "");
  EXPECT_TRUE(errors.empty()) << errors.size() << " decode errors from ffmpeg:" << join(errors);
}

INSTANTIATE_TEST_SUITE_P(Transport, TestServerTransport, ::testing::Values("tcp", "udp"),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

}  // namespace
