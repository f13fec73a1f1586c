// torchmetaconvert: one application/x-ndjson buffer (one JSON line) per video buffer,
// through real sinks: appsink, filesink (byte for byte what torchmetasink writes),
// tcpserversink read by a socket client, multifilesink rotating. The metas come from
// torchclassify running the tiny.ts fixture.
#include <arpa/inet.h>
#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gsttorchclassificationmeta.h"
#include "net_helpers.h"
#include "sha256.h"
#include "test_env.h"
#include "text_files.h"

using ojson = nlohmann::ordered_json;

namespace {

const int kFrames = 12;
const char* kVideoCaps = "video/x-raw,format=RGB,width=64,height=48,framerate=30/1";

// A fresh folder under the temp dir, removed with its files when the test ends.
class TempDir {
 public:
  TempDir() {
    GError* err = nullptr;
    gchar* d = g_dir_make_tmp("torchmetaconvert-XXXXXX", &err);
    EXPECT_NE(d, nullptr) << (err ? err->message : "");
    g_clear_error(&err);
    path_ = d ? d : "";
    g_free(d);
  }
  ~TempDir() {
    if (path_.empty()) return;
    GDir* dir = g_dir_open(path_.c_str(), 0, nullptr);
    if (dir) {
      while (const gchar* name = g_dir_read_name(dir)) g_unlink((path_ + "/" + name).c_str());
      g_dir_close(dir);
    }
    g_rmdir(path_.c_str());
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // The names in the folder, sorted.
  std::vector<std::string> names() const {
    std::vector<std::string> v;
    GDir* dir = g_dir_open(path_.c_str(), 0, nullptr);
    if (!dir) return v;
    while (const gchar* name = g_dir_read_name(dir)) v.push_back(name);
    g_dir_close(dir);
    std::sort(v.begin(), v.end());
    return v;
  }

 private:
  std::string path_;
};

using ta_test::read_file;
using ta_test::split_lines;

ojson parse_line(const std::string& line) {
  try {
    ojson j = ojson::parse(line);
    EXPECT_TRUE(j.is_object()) << line;
    return j;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON: " << e.what() << "\n" << line;
    return ojson::object();
  }
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

GstElement* launch(const std::string& line) {
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(line.c_str(), &err);
  EXPECT_NE(p, nullptr) << line << ": " << (err ? err->message : "");
  g_clear_error(&err);
  return p;
}

// Waits for EOS (true) or an error (fails the test) on a pipeline already started.
bool wait_eos(GstElement* p, int timeout_s = 120) {
  GstBus* bus = gst_element_get_bus(p);
  GstMessage* m = gst_bus_timed_pop_filtered(bus, timeout_s * GST_SECOND,
                                             (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  gst_object_unref(bus);
  const bool eos = m && GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS;
  EXPECT_TRUE(eos) << (m ? error_text(m) : "no EOS within " + std::to_string(timeout_s) + " s");
  if (m) gst_message_unref(m);
  return eos;
}

// Runs a launch line to EOS.
void run_to_eos(const std::string& line) {
  GstElement* p = launch(line);
  if (!p) return;
  gst_element_set_state(p, GST_STATE_PLAYING);
  wait_eos(p);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
}

std::string classify(const std::string& model) {
  return "torchclassify device=cpu mode=sync top-k=3 model-location=\"" + model + "\"";
}

std::string video_source(int frames = kFrames) {
  return "videotestsrc num-buffers=" + std::to_string(frames) + " pattern=ball ! " + kVideoCaps;
}

// The line of every sample of `sink` until EOS; the samples' buffers in `buffers`.
std::vector<GstSample*> pull_all(GstElement* sink) {
  std::vector<GstSample*> samples;
  while (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 60 * GST_SECOND))
    samples.push_back(s);
  EXPECT_TRUE(gst_app_sink_is_eos(GST_APP_SINK(sink))) << "no EOS within 60 s";
  return samples;
}

std::string buffer_text(GstBuffer* b) {
  GstMapInfo map;
  if (!gst_buffer_map(b, &map, GST_MAP_READ)) return "";
  std::string s(reinterpret_cast<const char*>(map.data), map.size);
  gst_buffer_unmap(b, &map);
  return s;
}

// The labels of `m`, highest score first, as the line must have them.
void expect_entry_is_meta(const ojson& c, const GstTorchClassificationMeta* m) {
  EXPECT_EQ(c["model"].get<std::string>(), m->model);
  EXPECT_EQ(c["roi"]["x"].get<guint>(), m->x);
  EXPECT_EQ(c["roi"]["y"].get<guint>(), m->y);
  EXPECT_EQ(c["roi"]["w"].get<guint>(), m->width);
  EXPECT_EQ(c["roi"]["h"].get<guint>(), m->height);
  std::vector<GstTorchClassLabel> want(m->labels, m->labels + m->n_labels);
  std::stable_sort(want.begin(), want.end(), [](const GstTorchClassLabel& a,
                                                const GstTorchClassLabel& b) {
    return a.score > b.score;
  });
  ASSERT_EQ(c["labels"].size(), want.size()) << c.dump();
  for (size_t i = 0; i < want.size(); i++) {
    EXPECT_EQ(c["labels"][i]["id"].get<gint>(), want[i].class_id);
    EXPECT_EQ(c["labels"][i]["label"].get<std::string>(), want[i].label);
    EXPECT_NEAR(c["labels"][i]["score"].get<double>(), (double)want[i].score, 1e-6);
  }
}

// Reads from a connected socket until `want` newlines came, EOF, or the deadline.
std::string read_lines_from(int fd, int want, int timeout_s) {
  std::string got;
  const gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
  while (std::count(got.begin(), got.end(), '\n') < want) {
    const gint64 left_ms = (deadline - g_get_monotonic_time()) / 1000;
    if (left_ms <= 0) break;
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, (int)left_ms) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, (size_t)n);
  }
  return got;
}

// A TCP client on 127.0.0.1:port, retried until the server listens (-1: never did).
int connect_loopback(int port, int timeout_s) {
  const gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
  while (g_get_monotonic_time() < deadline) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
    close(fd);
    g_usleep(20 * 1000);
  }
  return -1;
}

}  // namespace

TEST(TorchMetaConvert, PadsAndProperties) {
  GstElement* e = gst_element_factory_make("torchmetaconvert", nullptr);
  ASSERT_NE(e, nullptr) << "torchmetaconvert not found: is GST_PLUGIN_PATH the build's plugin dir?";
  gchar* stream = (gchar*)0x1;
  g_object_get(e, "stream-name", &stream, nullptr);
  EXPECT_EQ(stream, nullptr);
  g_object_set(e, "stream-name", "cam0", nullptr);
  g_object_get(e, "stream-name", &stream, nullptr);
  EXPECT_STREQ(stream, "cam0");
  g_free(stream);

  GstPad* src = gst_element_get_static_pad(e, "src");
  GstCaps* caps = gst_pad_query_caps(src, nullptr);
  GstCaps* want = gst_caps_from_string("application/x-ndjson");
  EXPECT_TRUE(gst_caps_is_equal(caps, want)) << gst_caps_to_string(caps);
  gst_caps_unref(want);
  gst_caps_unref(caps);
  gst_object_unref(src);
  GstPad* sink = gst_element_get_static_pad(e, "sink");
  GstCaps* cuda = gst_caps_from_string("video/x-raw(memory:CUDAMemory),format=NV12,width=64,height=48");
  EXPECT_TRUE(gst_pad_query_accept_caps(sink, cuda));
  gst_caps_unref(cuda);
  GstCaps* audio = gst_caps_from_string("audio/x-raw");
  EXPECT_FALSE(gst_pad_query_accept_caps(sink, audio));
  gst_caps_unref(audio);
  gst_object_unref(sink);
  gst_object_unref(e);
}

// The harness pushes frames with hand-made metas: one line each, the frame's timestamps
// and flags, fixed caps whatever the video caps do, and a frame without a meta.
TEST(TorchMetaConvert, OneLinePerBufferWithTheFramesTimestamps) {
  GstHarness* h = gst_harness_new("torchmetaconvert");
  g_object_set(h->element, "stream-name", "cam0", nullptr);
  gst_harness_set_src_caps_str(h, kVideoCaps);

  GstBuffer* in = gst_buffer_new_allocate(nullptr, 64 * 48 * 3, nullptr);
  GST_BUFFER_PTS(in) = 2 * GST_SECOND;
  GST_BUFFER_DTS(in) = 2 * GST_SECOND - 5;
  GST_BUFFER_DURATION(in) = GST_SECOND / 30;
  GST_BUFFER_FLAG_SET(in, GST_BUFFER_FLAG_DISCONT);
  GstTorchClassificationMeta* m = gst_buffer_add_torch_classification_meta(in, "tiny", 1, 2, 30, 20);
  gst_torch_classification_meta_add_label(m, 3, "cat", 0.25f);
  gst_torch_classification_meta_add_label(m, 7, "dog", 0.5f);
  ASSERT_EQ(gst_harness_push(h, in), GST_FLOW_OK);
  GstBuffer* out = gst_harness_pull(h);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(GST_BUFFER_PTS(out), 2 * GST_SECOND);
  EXPECT_EQ(GST_BUFFER_DTS(out), 2 * GST_SECOND - 5);
  EXPECT_EQ(GST_BUFFER_DURATION(out), GST_SECOND / 30);
  EXPECT_TRUE(GST_BUFFER_FLAG_IS_SET(out, GST_BUFFER_FLAG_DISCONT));
  const std::string text = buffer_text(out);
  gst_buffer_unref(out);
  EXPECT_EQ(text,
            "{\"stream\":\"cam0\",\"frame\":0,\"pts\":2000000000,\"width\":64,\"height\":48,"
            "\"classifications\":[{\"model\":\"tiny\",\"roi\":{\"x\":1,\"y\":2,\"w\":30,\"h\":20},"
            "\"labels\":[{\"id\":7,\"label\":\"dog\",\"score\":0.5},"
            "{\"id\":3,\"label\":\"cat\",\"score\":0.25}]}]}\n");

  GstCaps* caps = gst_pad_get_current_caps(h->sinkpad);
  ASSERT_NE(caps, nullptr);
  EXPECT_TRUE(gst_caps_is_fixed(caps));
  EXPECT_STREQ(gst_structure_get_name(gst_caps_get_structure(caps, 0)), "application/x-ndjson");
  gst_caps_unref(caps);

  // New video caps: a new size in the lines, the same caps downstream. No meta, no PTS:
  // a line with no classifications and a null pts (what torchmetasink writes too).
  gst_harness_set_src_caps_str(h, "video/x-raw,format=RGB,width=32,height=24,framerate=30/1");
  GstBuffer* bare = gst_buffer_new_allocate(nullptr, 32 * 24 * 3, nullptr);
  ASSERT_EQ(gst_harness_push(h, bare), GST_FLOW_OK);
  out = gst_harness_pull(h);
  ASSERT_NE(out, nullptr);
  EXPECT_FALSE(GST_BUFFER_PTS_IS_VALID(out));
  EXPECT_FALSE(GST_BUFFER_FLAG_IS_SET(out, GST_BUFFER_FLAG_DISCONT));
  EXPECT_EQ(buffer_text(out),
            "{\"stream\":\"cam0\",\"frame\":1,\"pts\":null,\"width\":32,\"height\":24,"
            "\"classifications\":[]}\n");
  gst_buffer_unref(out);
  caps = gst_pad_get_current_caps(h->sinkpad);
  EXPECT_STREQ(gst_structure_get_name(gst_caps_get_structure(caps, 0)), "application/x-ndjson");
  gst_caps_unref(caps);

  // Serialized events pass through in order; EOS last.
  ASSERT_TRUE(gst_harness_push_event(h, gst_event_new_eos()));
  GstEvent* ev;
  bool saw_eos = false;
  while ((ev = gst_harness_try_pull_event(h))) {
    if (GST_EVENT_TYPE(ev) == GST_EVENT_EOS) saw_eos = true;
    gst_event_unref(ev);
  }
  EXPECT_TRUE(saw_eos);
  gst_harness_teardown(h);
}

// A downstream that takes no application/x-ndjson: not-negotiated, not a crash.
TEST(TorchMetaConvert, DownstreamRefusingNdjsonIsNotNegotiated_n) {
  GstElement* p = launch(video_source(3) + " ! torchmetaconvert ! video/x-raw ! fakesink");
  if (!p) return;
  // The capsfilter's caps cannot link to application/x-ndjson: the launch line fails to
  // link, or the caps event is refused at run time; either way no EOS.
  gst_element_set_state(p, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(p);
  GstMessage* m = gst_bus_timed_pop_filtered(bus, 60 * GST_SECOND,
                                             (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(GST_MESSAGE_TYPE(m), GST_MESSAGE_ERROR);
  gst_message_unref(m);
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
}

// appsink: every buffer one line that parses, its fields those of the frame's metas,
// its timestamps those of the frame (the video branch of a tee next to it).
TEST(TorchMetaConvert, AppsinkEveryLineIsTheFramesMeta) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  GstElement* p = launch(video_source() + " ! " + classify(model) +
                         " ! tee name=t t. ! queue ! appsink name=video sync=false"
                         " t. ! queue ! torchmetaconvert stream-name=cam0 ! appsink name=json sync=false");
  ASSERT_NE(p, nullptr);
  GstElement* video = gst_bin_get_by_name(GST_BIN(p), "video");
  GstElement* json = gst_bin_get_by_name(GST_BIN(p), "json");
  gst_element_set_state(p, GST_STATE_PLAYING);
  std::vector<GstSample*> frames = pull_all(video);
  std::vector<GstSample*> lines = pull_all(json);
  ASSERT_EQ(frames.size(), (size_t)kFrames);
  ASSERT_EQ(lines.size(), frames.size());
  for (size_t i = 0; i < lines.size(); i++) {
    SCOPED_TRACE("frame " + std::to_string(i));
    GstBuffer* vb = gst_sample_get_buffer(frames[i]);
    GstBuffer* jb = gst_sample_get_buffer(lines[i]);
    GstCaps* caps = gst_sample_get_caps(lines[i]);
    ASSERT_NE(caps, nullptr);
    EXPECT_STREQ(gst_structure_get_name(gst_caps_get_structure(caps, 0)), "application/x-ndjson");
    EXPECT_EQ(GST_BUFFER_PTS(jb), GST_BUFFER_PTS(vb));
    EXPECT_EQ(GST_BUFFER_DTS(jb), GST_BUFFER_DTS(vb));
    EXPECT_EQ(GST_BUFFER_DURATION(jb), GST_BUFFER_DURATION(vb));
    const std::string text = buffer_text(jb);
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text.find('\n'), text.size() - 1) << "not one line: " << text;
    const ojson j = parse_line(text.substr(0, text.size() - 1));
    EXPECT_EQ(j["stream"].get<std::string>(), "cam0");
    EXPECT_EQ(j["frame"].get<guint64>(), i);
    EXPECT_EQ(j["pts"].get<guint64>(), GST_BUFFER_PTS(vb));
    EXPECT_EQ(j["width"].get<int>(), 64);
    EXPECT_EQ(j["height"].get<int>(), 48);
    std::vector<const GstTorchClassificationMeta*> metas;
    gpointer state = nullptr;
    while (GstTorchClassificationMeta* m = gst_buffer_iterate_torch_classification_meta(vb, &state))
      metas.push_back(m);
    ASSERT_EQ(metas.size(), 1u) << "torchclassify attaches one meta a frame";
    ASSERT_EQ(j["classifications"].size(), metas.size()) << text;
    expect_entry_is_meta(j["classifications"][0], metas[0]);
    EXPECT_EQ(j["classifications"][0]["labels"].size(), 3u);
  }
  for (GstSample* s : frames) gst_sample_unref(s);
  for (GstSample* s : lines) gst_sample_unref(s);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(video);
  gst_object_unref(json);
  gst_object_unref(p);
}

// The same buffers through a tee into torchmetasink and torchmetaconvert ! filesink give
// the same bytes: with metas and without, with stream-name set and from the stream-id.
TEST(TorchMetaConvert, SameBytesAsTorchmetasink) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  struct Case {
    const char* what;
    std::string upstream;
    std::string props;
  } cases[] = {
      {"classified, stream-name", video_source() + " ! " + classify(model), "stream-name=cam0"},
      {"classified, stream-id", video_source() + " ! " + classify(model), ""},
      {"no metas", video_source(), ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    TempDir dir;
    const std::string a = dir.file("sink.jsonl"), b = dir.file("convert.jsonl");
    run_to_eos(c.upstream + " ! tee name=t t. ! queue ! torchmetasink " + c.props + " location=\"" + a +
               "\" t. ! queue ! torchmetaconvert " + c.props + " ! filesink location=\"" + b + "\"");
    const std::string sink_text = read_file(a), convert_text = read_file(b);
    const std::vector<std::string> lines = split_lines(convert_text);
    ASSERT_EQ(lines.size(), (size_t)kFrames);
    EXPECT_EQ(convert_text, sink_text);
    const ojson first = parse_line(lines[0]);
    EXPECT_EQ(first["classifications"].size(), c.upstream.find("torchclassify") != std::string::npos ? 1u : 0u);
    if (c.props.empty()) {
      EXPECT_NE(first["stream"].get<std::string>(), "") << "the upstream stream-id";
    }
  }
}

// include-model-info=true on both elements: every entry also carries the model file's
// SHA-256, the preprocessing torchclassify was set to, and the latency (borrowed results
// keep their source frame's); both write the same bytes. Without it, none of these.
TEST(TorchMetaConvert, IncludeModelInfoAddsProvenanceOnBothElements) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  const std::string sha = ta::sha256_file(model);
  TempDir dir;
  const std::string a = dir.file("sink.jsonl"), b = dir.file("convert.jsonl"), plain = dir.file("plain.jsonl");
  run_to_eos(video_source() + " ! " + classify(model) +
             " interval=2 resize-mode=letterbox crop-size=40 resize-size=50 mean=\"<0.5,0.25,0.125>\" ! tee name=t"
             " t. ! queue ! torchmetasink include-model-info=true location=\"" + a + "\""
             " t. ! queue ! torchmetaconvert include-model-info=true ! filesink location=\"" + b + "\""
             " t. ! queue ! torchmetaconvert ! filesink location=\"" + plain + "\"");
  const std::string sink_text = read_file(a);
  EXPECT_EQ(read_file(b), sink_text);
  const std::vector<std::string> lines = split_lines(sink_text);
  ASSERT_EQ(lines.size(), (size_t)kFrames);
  guint64 own_latency = 0;
  for (size_t i = 0; i < lines.size(); i++) {
    SCOPED_TRACE("frame " + std::to_string(i));
    const ojson j = parse_line(lines[i]);
    ASSERT_EQ(j["classifications"].size(), 1u);
    const ojson& c = j["classifications"][0];
    EXPECT_EQ(c["model-sha256"].get<std::string>(), sha);
    const ojson& pre = c["preprocess"];
    EXPECT_EQ(pre["resize-size"].get<int>(), 50);
    EXPECT_EQ(pre["crop-size"].get<int>(), 40);
    EXPECT_EQ(pre["resize-mode"].get<std::string>(), "letterbox");
    EXPECT_EQ(pre["mean"], ojson::parse("[0.5,0.25,0.125]"));
    EXPECT_EQ(pre["std"], ojson::parse("[0.229,0.224,0.225]"));
    const guint64 lat = c["latency"].get<guint64>();
    EXPECT_GT(lat, 0u);
    if (i % 2 == 0) {
      own_latency = lat;
      EXPECT_FALSE(c.contains("source-pts"));
    } else {
      EXPECT_EQ(lat, own_latency) << "a borrowed result keeps its frame's latency";
    }
  }
  for (const std::string& l : split_lines(read_file(plain))) {
    const ojson c = parse_line(l)["classifications"][0];
    EXPECT_FALSE(c.contains("model-sha256") || c.contains("preprocess") || c.contains("latency")) << l;
  }
}

// tcpserversink on a loopback port, read by a plain socket client connected before the
// first frame: every line arrives whole, in order.
TEST(TorchMetaConvert, TcpserversinkToASocketClient) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  const int port = ta_test::free_port();
  ASSERT_GT(port, 0);
  GstElement* p = launch(std::string("appsrc name=src format=time caps=\"") + kVideoCaps + "\" ! " +
                         classify(model) + " ! torchmetaconvert stream-name=tcp ! "
                         "tcpserversink name=tcp sync=false host=127.0.0.1 port=" +
                         std::to_string(port));
  ASSERT_NE(p, nullptr);
  GstElement* src = gst_bin_get_by_name(GST_BIN(p), "src");
  GstElement* tcp = gst_bin_get_by_name(GST_BIN(p), "tcp");
  std::atomic<int> clients{0};
  g_signal_connect(tcp, "client-added",
                   G_CALLBACK(+[](GstElement*, GObject*, gpointer n) { ++*static_cast<std::atomic<int>*>(n); }),
                   &clients);
  gst_element_set_state(p, GST_STATE_PLAYING);

  const int fd = connect_loopback(port, 30);
  ASSERT_GE(fd, 0) << "tcpserversink never listened on port " << port;
  // Frames only once the sink took the client: earlier lines would go to nobody.
  const gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
  while (clients.load() == 0 && g_get_monotonic_time() < deadline) g_usleep(10 * 1000);
  ASSERT_EQ(clients.load(), 1) << "tcpserversink did not add the client";

  const gsize size = 64 * 48 * 3;
  for (int i = 0; i < kFrames; i++) {
    GstBuffer* b = gst_buffer_new_allocate(nullptr, size, nullptr);
    gst_buffer_memset(b, 0, (guint8)(i * 20), size);
    GST_BUFFER_PTS(b) = i * GST_SECOND / 30;
    GST_BUFFER_DURATION(b) = GST_SECOND / 30;
    ASSERT_EQ(gst_app_src_push_buffer(GST_APP_SRC(src), b), GST_FLOW_OK);
  }
  gst_app_src_end_of_stream(GST_APP_SRC(src));

  const std::string got = read_lines_from(fd, kFrames, 60);
  close(fd);
  wait_eos(p);
  const std::vector<std::string> lines = split_lines(got);
  ASSERT_EQ(lines.size(), (size_t)kFrames) << got;
  for (size_t i = 0; i < lines.size(); i++) {
    const ojson j = parse_line(lines[i]);
    EXPECT_EQ(j["stream"].get<std::string>(), "tcp");
    EXPECT_EQ(j["frame"].get<guint64>(), i);
    EXPECT_EQ(j["pts"].get<guint64>(), i * GST_SECOND / 30);
    EXPECT_EQ(j["classifications"].size(), 1u);
  }
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(tcp);
  gst_object_unref(p);
}

// multifilesink rotating, by buffer and by size: several files, each of whole lines, whose
// concatenation is the full set of lines (the filesink beside it, through a tee).
TEST(TorchMetaConvert, MultifilesinkRotates) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  struct Case {
    const char* what;
    std::string props;
    size_t min_files, max_files;
  } cases[] = {
      {"next-file=buffer", "next-file=buffer", (size_t)kFrames, (size_t)kFrames},
      {"next-file=max-size", "next-file=max-size max-file-size=600", 3, (size_t)kFrames},
      {"next-file=max-duration", "next-file=max-duration max-file-duration=100000000", 3, 5},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    TempDir dir, parts;
    const std::string all = dir.file("all.jsonl");
    run_to_eos(video_source() + " ! " + classify(model) +
               " ! torchmetaconvert ! tee name=t t. ! queue ! filesink location=\"" + all +
               "\" t. ! queue ! multifilesink " + c.props + " location=\"" +
               parts.file("part-%05d.jsonl") + "\"");
    const std::string whole = read_file(all);
    ASSERT_EQ(split_lines(whole).size(), (size_t)kFrames);
    const std::vector<std::string> names = parts.names();
    EXPECT_GE(names.size(), c.min_files);
    EXPECT_LE(names.size(), c.max_files);
    std::string joined;
    for (const std::string& n : names) {
      SCOPED_TRACE(n);
      const std::string text = read_file(parts.file(n));
      for (const std::string& line : split_lines(text)) parse_line(line);
      joined += text;
    }
    EXPECT_EQ(joined, whole);
  }
}

// Regions: one entry per classified region, with "roi-id" and "roi-type", byte for byte.
TEST(TorchMetaConvert, RegionEntriesCarryRoiIdAndType) {
  GstHarness* h = gst_harness_new("torchmetaconvert");
  g_object_set(h->element, "stream-name", "lot", nullptr);
  gst_harness_set_src_caps_str(h, kVideoCaps);
  GstBuffer* in = gst_buffer_new_allocate(nullptr, 64 * 48 * 3, nullptr);
  GST_BUFFER_PTS(in) = 0;
  GstTorchClassificationMeta* a = gst_buffer_add_torch_classification_meta(in, "tiny", 0, 24, 32, 24);
  gst_torch_classification_meta_add_label(a, 1, "car", 0.875f);
  gst_torch_classification_meta_set_roi(a, g_quark_from_string("bay1"), 0);
  GstTorchClassificationMeta* b = gst_buffer_add_torch_classification_meta(in, "tiny", 32, 24, 32, 24);
  gst_torch_classification_meta_add_label(b, 0, "empty", 0.5f);
  gst_torch_classification_meta_set_roi(b, g_quark_from_string("bay2"), 1);
  ASSERT_EQ(gst_harness_push(h, in), GST_FLOW_OK);
  GstBuffer* out = gst_harness_pull(h);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(buffer_text(out),
            "{\"stream\":\"lot\",\"frame\":0,\"pts\":0,\"width\":64,\"height\":48,\"classifications\":["
            "{\"model\":\"tiny\",\"roi-id\":0,\"roi-type\":\"bay1\",\"roi\":{\"x\":0,\"y\":24,\"w\":32,\"h\":24},"
            "\"labels\":[{\"id\":1,\"label\":\"car\",\"score\":0.875}]},"
            "{\"model\":\"tiny\",\"roi-id\":1,\"roi-type\":\"bay2\",\"roi\":{\"x\":32,\"y\":24,\"w\":32,\"h\":24},"
            "\"labels\":[{\"id\":0,\"label\":\"empty\",\"score\":0.5}]}]}\n");
  gst_buffer_unref(out);
  gst_harness_teardown(h);
}
