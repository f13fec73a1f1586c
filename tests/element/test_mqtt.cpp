// torchmetasink over MQTT, against a real broker: a `mosquitto` child process on a free
// loopback port, and a real subscriber (a libmosquitto client in this process).
//
// Every wait is bounded, and the broker is killed when its owner goes away, even when a
// check failed (RAII), and with the test process itself (PR_SET_PDEATHSIG). Without
// /usr/sbin/mosquitto the broker tests skip, saying so.
#include <arpa/inet.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mosquitto_broker.h"
#include "net_helpers.h"
#include "stdout_redirect.h"

using json = nlohmann::json;
using ta_test::accepts_tcp;
using ta_test::find_program;
using ta_test::free_port;
using ta_test::mosquitto_path;
using ta_test::read_text;
using ta_test::TempDir;
using ta_test::write_text;
using Broker = ta_test::MosquittoBroker;
using ta_test::StdoutRedirect;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

const char* kPassword = "Pa55-w0rd-7f3c-never-logged";

#define REQUIRE_MOSQUITTO()                                                                   \
  if (mosquitto_path().empty())                                                               \
  GTEST_SKIP() << "/usr/sbin/mosquitto not found: install the `mosquitto` package to run the " \
                  "MQTT tests against a real broker"

// A real MQTT subscriber: libmosquitto with its own network thread.
class Subscriber {
 public:
  struct Options {
    std::string topic = "torchanalytics/#";
    std::string client_id;  // empty: a random one, clean session
    bool clean_session = true;
    std::string username, password;
    std::string ca_file;  // non-empty: TLS
  };

  Subscriber(int port, Options o) : opt_(std::move(o)) {
    static std::once_flag once;
    std::call_once(once, [] { mosquitto_lib_init(); });
    mosq_ = mosquitto_new(opt_.client_id.empty() ? nullptr : opt_.client_id.c_str(), opt_.clean_session,
                          this);
    if (!mosq_) return;
    mosquitto_connect_callback_set(mosq_, &Subscriber::on_connect);
    mosquitto_subscribe_callback_set(mosq_, &Subscriber::on_subscribe);
    mosquitto_message_callback_set(mosq_, &Subscriber::on_message);
    mosquitto_reconnect_delay_set(mosq_, 1, 1, false);
    if (!opt_.username.empty())
      mosquitto_username_pw_set(mosq_, opt_.username.c_str(), opt_.password.c_str());
    if (!opt_.ca_file.empty()) mosquitto_tls_set(mosq_, opt_.ca_file.c_str(), nullptr, nullptr, nullptr, nullptr);
    connect_rc_ = mosquitto_connect(mosq_, "127.0.0.1", port, 10);
    if (connect_rc_ == MOSQ_ERR_SUCCESS) mosquitto_loop_start(mosq_);
  }
  ~Subscriber() {
    if (!mosq_) return;
    mosquitto_disconnect(mosq_);
    mosquitto_loop_stop(mosq_, false);
    mosquitto_destroy(mosq_);
  }

  // Connected and the subscription acknowledged (again after a reconnection).
  bool wait_subscribed(std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lk(mu_);
    return cv_.wait_for(lk, limit, [this] { return subscribed_; });
  }

  // Waits until pred(messages) holds; false after `limit`.
  bool wait_until(std::chrono::milliseconds limit,
                  const std::function<bool(const std::vector<std::pair<std::string, std::string>>&)>& pred) {
    std::unique_lock<std::mutex> lk(mu_);
    return cv_.wait_for(lk, limit, [&] { return pred(msgs_); });
  }
  bool wait_count(size_t n, std::chrono::milliseconds limit) {
    return wait_until(limit, [n](const auto& m) { return m.size() >= n; });
  }

  std::vector<std::pair<std::string, std::string>> messages() {
    std::lock_guard<std::mutex> lk(mu_);
    return msgs_;
  }
  int connect_rc() const { return connect_rc_; }

 private:
  static void on_connect(struct mosquitto* m, void* ud, int rc) {
    auto* s = static_cast<Subscriber*>(ud);
    if (rc == 0) mosquitto_subscribe(m, nullptr, s->opt_.topic.c_str(), 1);
  }
  static void on_subscribe(struct mosquitto*, void* ud, int, int, const int*) {
    auto* s = static_cast<Subscriber*>(ud);
    std::lock_guard<std::mutex> lk(s->mu_);
    s->subscribed_ = true;
    s->cv_.notify_all();
  }
  static void on_message(struct mosquitto*, void* ud, const struct mosquitto_message* m) {
    auto* s = static_cast<Subscriber*>(ud);
    std::lock_guard<std::mutex> lk(s->mu_);
    s->msgs_.emplace_back(m->topic, std::string(static_cast<const char*>(m->payload), m->payloadlen));
    s->cv_.notify_all();
  }

  Options opt_;
  struct mosquitto* mosq_ = nullptr;
  int connect_rc_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  bool subscribed_ = false;
  std::vector<std::pair<std::string, std::string>> msgs_;
};

struct BusMessage {
  GstMessageType type;
  GQuark domain;
  int code;
  std::string text, debug;
};

std::string describe(const std::vector<BusMessage>& msgs) {
  std::string s;
  for (const auto& m : msgs)
    s += std::string(gst_message_type_get_name(m.type)) + ": " + m.text + " (" + m.debug + ")\n";
  return s;
}

// A pipeline from a launch line, with its sink named "sink". Bus messages (warnings,
// infos, errors) are collected as they are popped.
class Pipeline {
 public:
  explicit Pipeline(const std::string& desc) {
    GError* err = nullptr;
    pipe_ = gst_parse_launch(desc.c_str(), &err);
    EXPECT_EQ(err, nullptr) << desc << ": " << (err ? err->message : "");
    g_clear_error(&err);
    if (pipe_) {
      // What the sink posts while it stops (READY→NULL) must stay on the bus.
      gst_pipeline_set_auto_flush_bus(GST_PIPELINE(pipe_), FALSE);
      bus_ = gst_element_get_bus(pipe_);
      sink_ = gst_bin_get_by_name(GST_BIN(pipe_), "sink");
    }
  }
  ~Pipeline() {
    if (pipe_) gst_element_set_state(pipe_, GST_STATE_NULL);
    if (sink_) gst_object_unref(sink_);
    if (bus_) gst_object_unref(bus_);
    if (pipe_) gst_object_unref(pipe_);
  }
  bool ok() const { return pipe_ && sink_; }
  GstElement* sink() const { return sink_; }

  bool play() { return gst_element_set_state(pipe_, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE; }

  // Pops messages until EOS or an error, `limit` at most. True on EOS.
  bool wait_eos(std::chrono::milliseconds limit) { return wait_for(GST_MESSAGE_EOS, limit); }

  // Pops messages until one of `type` (EOS, WARNING, ...), EOS or an error, `limit` at
  // most. True when one of `type` came (now or before).
  bool wait_for(GstMessageType type, std::chrono::milliseconds limit) {
    if (!of_type(type).empty()) return true;
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now());
      GstMessage* m = gst_bus_timed_pop_filtered(
          bus_, static_cast<GstClockTime>(left.count()),
          (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING | GST_MESSAGE_INFO));
      if (!m) return false;
      const GstMessageType t = GST_MESSAGE_TYPE(m);
      record(m);
      gst_message_unref(m);
      if (t == type) return true;
      if (t == GST_MESSAGE_EOS || t == GST_MESSAGE_ERROR) return false;
    }
    return false;
  }

  // To NULL (a GstBaseSink stops on READY→NULL: the sink drains and disconnects),
  // collecting what it posted meanwhile (the bus is not flushed: see the constructor).
  // Returns the seconds the state change took.
  double shut_down() {
    const auto t0 = Clock::now();
    gst_element_set_state(pipe_, GST_STATE_NULL);
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    while (GstMessage* m = gst_bus_pop(bus_)) {
      record(m);
      gst_message_unref(m);
    }
    return secs;
  }

  std::vector<BusMessage> of_type(GstMessageType t) const {
    std::vector<BusMessage> out;
    for (const auto& m : msgs_)
      if (m.type == t) out.push_back(m);
    return out;
  }
  const std::vector<BusMessage>& all() const { return msgs_; }
  bool saw_eos() const { return eos_; }

  guint64 dropped() const {
    guint64 d = G_MAXUINT64;
    g_object_get(sink_, "dropped", &d, nullptr);
    return d;
  }

 private:
  void record(GstMessage* m) {
    BusMessage b{GST_MESSAGE_TYPE(m), 0, 0, "", ""};
    GError* err = nullptr;
    gchar* dbg = nullptr;
    switch (GST_MESSAGE_TYPE(m)) {
      case GST_MESSAGE_ERROR: gst_message_parse_error(m, &err, &dbg); break;
      case GST_MESSAGE_WARNING: gst_message_parse_warning(m, &err, &dbg); break;
      case GST_MESSAGE_INFO: gst_message_parse_info(m, &err, &dbg); break;
      case GST_MESSAGE_EOS: eos_ = true; break;
      default: break;
    }
    if (err) {
      b.domain = err->domain;
      b.code = err->code;
      b.text = err->message;
      g_error_free(err);
    }
    b.debug = dbg ? dbg : "";
    g_free(dbg);
    msgs_.push_back(b);
  }

  GstElement* pipe_ = nullptr;
  GstElement* sink_ = nullptr;
  GstBus* bus_ = nullptr;
  std::vector<BusMessage> msgs_;
  bool eos_ = false;
};

std::string sink_desc(int port, const std::string& more) {
  return "torchmetasink name=sink mqtt-host=127.0.0.1 mqtt-port=" + std::to_string(port) + " " + more;
}

// The frame numbers of the messages (each must be one JSON object of the schema, on
// `topic`, for stream `stream`).
std::vector<guint64> frames_of(const std::vector<std::pair<std::string, std::string>>& msgs,
                               const std::string& topic, const std::string& stream) {
  std::vector<guint64> frames;
  for (const auto& m : msgs) {
    EXPECT_EQ(m.first, topic);
    json j;
    try {
      j = json::parse(m.second);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not JSON: " << e.what() << ": " << m.second;
      continue;
    }
    EXPECT_TRUE(j.is_object()) << m.second;
    EXPECT_EQ(m.second.find('\n'), std::string::npos) << "a message is one line without its newline";
    EXPECT_EQ(j.value("stream", ""), stream) << m.second;
    for (const char* k : {"frame", "pts", "width", "height", "classifications"})
      EXPECT_TRUE(j.contains(k)) << k << " missing: " << m.second;
    if (j.contains("frame") && j["frame"].is_number_unsigned()) frames.push_back(j["frame"].get<guint64>());
  }
  return frames;
}

bool has_all_frames(const std::vector<std::pair<std::string, std::string>>& msgs, guint64 n) {
  std::set<guint64> seen;
  for (const auto& m : msgs) {
    const size_t p = m.second.find("\"frame\":");
    if (p != std::string::npos) seen.insert(std::strtoull(m.second.c_str() + p + 8, nullptr, 10));
  }
  for (guint64 i = 0; i < n; i++)
    if (!seen.count(i)) return false;
  return true;
}

std::vector<guint64> missing(const std::vector<guint64>& frames, guint64 n) {
  std::set<guint64> seen(frames.begin(), frames.end());
  std::vector<guint64> out;
  for (guint64 i = 0; i < n; i++)
    if (!seen.count(i)) out.push_back(i);
  return out;
}

std::string join(const std::vector<guint64>& v) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < 40; i++) s += (i ? "," : "") + std::to_string(v[i]);
  if (v.size() > 40) s += ",...";
  return s;
}

// Runs a program (argv[0] looked up in PATH) in `dir`; true when it exited with 0.
bool run_program(const std::vector<std::string>& args, const std::string& dir, std::string* why) {
  std::vector<gchar*> argv;
  for (const auto& a : args) argv.push_back(const_cast<gchar*>(a.c_str()));
  argv.push_back(nullptr);
  gchar* err_out = nullptr;
  gint status = -1;
  GError* err = nullptr;
  const gboolean ok = g_spawn_sync(dir.empty() ? nullptr : dir.c_str(), argv.data(), nullptr,
                                   (GSpawnFlags)(G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL), nullptr,
                                   nullptr, nullptr, &err_out, &status, &err);
  if (!ok) {
    *why = args[0] + ": " + (err ? err->message : "cannot run");
    g_clear_error(&err);
    return false;
  }
  const bool exited0 = g_spawn_check_wait_status(status, nullptr);
  if (!exited0) *why = args[0] + " failed: " + (err_out ? err_out : "");
  g_free(err_out);
  return exited0;
}

// Starts `broker`, or fails the test with its log.
#define START_BROKER(broker)                         \
  do {                                               \
    std::string why_;                                \
    ASSERT_TRUE((broker).start(&why_)) << why_;      \
  } while (0)

const char* kLiveSrc = "videotestsrc is-live=true num-buffers=%d ! video/x-raw,width=64,height=48,framerate=50/1 ! ";

std::string live_src(int n) {
  char buf[256];
  std::snprintf(buf, sizeof buf, kLiveSrc, n);
  return buf;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Properties (no broker needed)

TEST(Mqtt, PropertiesAndDefaults) {
  GstElement* e = gst_element_factory_make("torchmetasink", nullptr);
  ASSERT_NE(e, nullptr);
  gchar *host = nullptr, *topic = nullptr, *id = nullptr, *user = nullptr, *ca = nullptr;
  gint port = 0, qos = -1;
  guint keepalive = 0, max_queued = 0;
  guint64 dropped = 1;
  g_object_get(e, "mqtt-host", &host, "mqtt-port", &port, "mqtt-topic", &topic, "mqtt-client-id", &id,
               "mqtt-qos", &qos, "mqtt-username", &user, "mqtt-ca-file", &ca, "mqtt-keepalive", &keepalive,
               "mqtt-max-queued", &max_queued, "dropped", &dropped, nullptr);
  EXPECT_EQ(host, nullptr);
  EXPECT_EQ(port, 1883);
  EXPECT_EQ(topic, nullptr);
  EXPECT_EQ(id, nullptr);
  EXPECT_EQ(qos, 0);
  EXPECT_EQ(user, nullptr);
  EXPECT_EQ(ca, nullptr);
  EXPECT_EQ(keepalive, 30u);
  EXPECT_EQ(max_queued, 1000u);
  EXPECT_EQ(dropped, 0u);
  g_free(host);
  g_free(topic);
  g_free(id);
  g_free(user);
  g_free(ca);

  GObjectClass* klass = G_OBJECT_GET_CLASS(e);
  GParamSpec* qspec = g_object_class_find_property(klass, "mqtt-qos");
  ASSERT_NE(qspec, nullptr);
  EXPECT_EQ(G_PARAM_SPEC_INT(qspec)->minimum, 0);
  EXPECT_EQ(G_PARAM_SPEC_INT(qspec)->maximum, 1);

  GParamSpec* dspec = g_object_class_find_property(klass, "dropped");
  ASSERT_NE(dspec, nullptr);
  EXPECT_EQ(G_PARAM_SPEC_VALUE_TYPE(dspec), G_TYPE_UINT64);
  EXPECT_TRUE(dspec->flags & G_PARAM_READABLE);
  EXPECT_FALSE(dspec->flags & G_PARAM_WRITABLE);
  gst_object_unref(e);
}

// The password can be written, never read: a gst-inspect-style listing of every readable
// property's value does not show it.
TEST(Mqtt, PasswordIsWriteOnly) {
  GstElement* e = gst_element_factory_make("torchmetasink", nullptr);
  ASSERT_NE(e, nullptr);
  g_object_set(e, "mqtt-username", "user", "mqtt-password", kPassword, nullptr);

  GObjectClass* klass = G_OBJECT_GET_CLASS(e);
  GParamSpec* pspec = g_object_class_find_property(klass, "mqtt-password");
  ASSERT_NE(pspec, nullptr);
  EXPECT_TRUE(pspec->flags & G_PARAM_WRITABLE);
  EXPECT_FALSE(pspec->flags & G_PARAM_READABLE);

  // g_strdup_value_contents() of a NULL boxed value (basesink's "stats") is a critical.
  auto contents = [](const GValue* v) -> std::string {
    if (G_TYPE_IS_BOXED(G_VALUE_TYPE(v)) && !g_value_peek_pointer(v)) return "NULL";
    gchar* s = g_strdup_value_contents(v);
    std::string out = s ? s : "";
    g_free(s);
    return out;
  };
  guint n = 0;
  GParamSpec** specs = g_object_class_list_properties(klass, &n);
  std::string listing;
  for (guint i = 0; i < n; i++) {
    listing += std::string(g_param_spec_get_name(specs[i])) + " " + (g_param_spec_get_blurb(specs[i]) ?: "");
    GValue dv = G_VALUE_INIT;
    g_value_init(&dv, G_PARAM_SPEC_VALUE_TYPE(specs[i]));
    g_param_value_set_default(specs[i], &dv);
    listing += " default " + contents(&dv) + "\n";
    g_value_unset(&dv);
    if (!(specs[i]->flags & G_PARAM_READABLE)) continue;
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_PARAM_SPEC_VALUE_TYPE(specs[i]));
    g_object_get_property(G_OBJECT(e), g_param_spec_get_name(specs[i]), &v);
    listing += " = " + contents(&v) + "\n";
    g_value_unset(&v);
  }
  g_free(specs);
  EXPECT_NE(listing.find("mqtt-password"), std::string::npos);
  EXPECT_EQ(listing.find(kPassword), std::string::npos) << listing;
  gst_object_unref(e);
}

TEST(Mqtt, WildcardTopicFailsToStart_n) {
  Pipeline p("videotestsrc num-buffers=1 ! " + sink_desc(1, "mqtt-topic=a/#"));
  ASSERT_TRUE(p.ok());
  p.play();  // fails at once, or on the way to PLAYING
  EXPECT_FALSE(p.wait_eos(5s));
  auto errors = p.of_type(GST_MESSAGE_ERROR);
  ASSERT_EQ(errors.size(), 1u) << describe(p.all());
  EXPECT_EQ(errors[0].domain, GST_RESOURCE_ERROR);
  EXPECT_EQ(errors[0].code, GST_RESOURCE_ERROR_SETTINGS);
  EXPECT_NE(errors[0].text.find("a/#"), std::string::npos) << errors[0].text;
}

TEST(Mqtt, MissingCaFileFailsToStart_n) {
  Pipeline p("videotestsrc num-buffers=1 ! " + sink_desc(1, "mqtt-ca-file=/nonexistent/ca.pem"));
  ASSERT_TRUE(p.ok());
  p.play();  // fails at once, or on the way to PLAYING
  EXPECT_FALSE(p.wait_eos(5s));
  auto errors = p.of_type(GST_MESSAGE_ERROR);
  ASSERT_EQ(errors.size(), 1u) << describe(p.all());
  EXPECT_EQ(errors[0].domain, GST_RESOURCE_ERROR);
  EXPECT_EQ(errors[0].code, GST_RESOURCE_ERROR_NOT_FOUND);
  EXPECT_NE(errors[0].text.find("/nonexistent/ca.pem"), std::string::npos) << errors[0].text;
}

// ---------------------------------------------------------------------------------------
// Against a real broker

// (a) One message per buffer, each the JSON object of the file line, on
// torchanalytics/<stream>; and nothing on stdout when location is unset.
TEST(Mqtt, PublishesEveryBufferQos1) {
  REQUIRE_MOSQUITTO();
  Broker broker("allow_anonymous true\n");
  START_BROKER(broker);
  Subscriber sub(broker.port(), {});
  ASSERT_EQ(sub.connect_rc(), MOSQ_ERR_SUCCESS);
  ASSERT_TRUE(sub.wait_subscribed(5s));

  gchar* out_path = nullptr;
  const int fd = g_file_open_tmp("ta-mqtt-stdout-XXXXXX", &out_path, nullptr);
  ASSERT_GE(fd, 0);
  close(fd);
  const std::string out = out_path;
  g_free(out_path);

  Pipeline p("videotestsrc num-buffers=50 ! video/x-raw,width=64,height=48,framerate=100/1 ! " +
             sink_desc(broker.port(), "mqtt-qos=1 stream-name=cam0"));
  ASSERT_TRUE(p.ok());
  double stop_s;
  {
    StdoutRedirect cap(out);
    ASSERT_TRUE(p.play());
    EXPECT_TRUE(p.wait_eos(20s)) << describe(p.all());
    stop_s = p.shut_down();
  }
  EXPECT_EQ(read_text(out), "") << "mqtt-host set and location unset: nothing on stdout";
  g_unlink(out.c_str());
  EXPECT_LT(stop_s, 3.0);

  ASSERT_TRUE(sub.wait_count(50, 10s)) << sub.messages().size() << " messages";
  std::this_thread::sleep_for(200ms);  // nothing more comes
  const auto msgs = sub.messages();
  EXPECT_EQ(msgs.size(), 50u);
  std::vector<guint64> frames = frames_of(msgs, "torchanalytics/cam0", "cam0");
  std::sort(frames.begin(), frames.end());
  std::vector<guint64> want(50);
  for (guint64 i = 0; i < 50; i++) want[i] = i;
  EXPECT_EQ(frames, want);
  // The same object as the file line: the schema's members, in its order.
  const json first = json::parse(msgs[0].second);
  EXPECT_EQ(msgs[0].second.rfind("{\"stream\":\"cam0\",\"frame\":0,\"pts\":0,\"width\":64,\"height\":48,", 0),
            0u)
      << msgs[0].second;
  EXPECT_TRUE(first["classifications"].is_array());
  for (const auto& m : msgs) {
    const json j = json::parse(m.second);
    EXPECT_EQ(j["pts"].get<guint64>(), j["frame"].get<guint64>() * 10 * GST_MSECOND);
  }
  EXPECT_TRUE(p.of_type(GST_MESSAGE_WARNING).empty()) << describe(p.all());
  EXPECT_EQ(p.dropped(), 0u);
}

// QoS 0, an explicit topic, and location=- still writing to stdout.
TEST(Mqtt, Qos0ExplicitTopicAndStdout) {
  REQUIRE_MOSQUITTO();
  Broker broker("allow_anonymous true\n");
  START_BROKER(broker);
  Subscriber::Options so;
  so.topic = "site/#";
  Subscriber sub(broker.port(), so);
  ASSERT_TRUE(sub.wait_subscribed(5s));

  gchar* out_path = nullptr;
  const int fd = g_file_open_tmp("ta-mqtt-stdout-XXXXXX", &out_path, nullptr);
  ASSERT_GE(fd, 0);
  close(fd);
  const std::string out = out_path;
  g_free(out_path);

  Pipeline p("videotestsrc num-buffers=20 ! video/x-raw,width=64,height=48,framerate=100/1 ! " +
             sink_desc(broker.port(), "location=- mqtt-topic=site/cam7/results stream-name=cam7"));
  ASSERT_TRUE(p.ok());
  {
    StdoutRedirect cap(out);
    ASSERT_TRUE(p.play());
    EXPECT_TRUE(p.wait_eos(20s)) << describe(p.all());
    p.shut_down();
  }
  const std::string text = read_text(out);
  g_unlink(out.c_str());
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 20) << text;

  // QoS 0 on loopback to a live broker: nothing is lost in practice.
  ASSERT_TRUE(sub.wait_count(20, 10s)) << sub.messages().size() << " messages";
  const auto msgs = sub.messages();
  std::vector<guint64> frames = frames_of(msgs, "site/cam7/results", "cam7");
  EXPECT_TRUE(missing(frames, 20).empty()) << join(missing(frames, 20));
  // The message is the stdout line without its newline.
  EXPECT_EQ(text.substr(0, text.find('\n')), msgs[0].second);
}

// The default topic from the upstream stream-id: one topic level, no wildcards.
TEST(Mqtt, DefaultTopicFromStreamId) {
  REQUIRE_MOSQUITTO();
  Broker broker("allow_anonymous true\n");
  START_BROKER(broker);
  Subscriber sub(broker.port(), {});
  ASSERT_TRUE(sub.wait_subscribed(5s));

  Pipeline p("videotestsrc num-buffers=3 ! video/x-raw,width=64,height=48 ! " + sink_desc(broker.port(), ""));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.play());
  EXPECT_TRUE(p.wait_eos(20s)) << describe(p.all());
  p.shut_down();
  ASSERT_TRUE(sub.wait_count(3, 10s));
  for (const auto& m : sub.messages()) {
    const json j = json::parse(m.second);
    const std::string stream = j["stream"].get<std::string>();
    EXPECT_FALSE(stream.empty());
    std::string level = stream;
    std::replace(level.begin(), level.end(), '/', '_');
    EXPECT_EQ(m.first, "torchanalytics/" + level);
  }
}

// (b) No broker at start: the pipeline is not held up, one warning says so, the queue
// keeps the newest mqtt-max-queued and `dropped` counts the rest (warned about at EOS).
TEST(Mqtt, BrokerDownAtStart) {
  const int port = free_port();  // nobody listens there
  ASSERT_GT(port, 0);
  Pipeline p("videotestsrc num-buffers=30 ! video/x-raw,width=64,height=48,framerate=100/1 ! " +
             sink_desc(port, "mqtt-qos=1 mqtt-max-queued=10 stream-name=cam0"));
  ASSERT_TRUE(p.ok());
  const auto t0 = Clock::now();
  ASSERT_TRUE(p.play());
  EXPECT_TRUE(p.wait_eos(10s)) << describe(p.all());
  const double eos_s = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_LT(eos_s, 5.0) << "the sink waited for the broker";
  EXPECT_EQ(p.dropped(), 20u);

  const auto before_stop = p.of_type(GST_MESSAGE_WARNING);
  const double stop_s = p.shut_down();
  EXPECT_LT(stop_s, 3.0) << "stop() waited for a broker that is down";
  EXPECT_EQ(p.dropped(), 20u) << "the count of the last run, after it stopped";

  // One warning for the outage (however often the sink retried), one for the drops at EOS.
  std::vector<BusMessage> conn, drops;
  for (const auto& w : before_stop) {
    if (w.text.find("dropped") != std::string::npos)
      drops.push_back(w);
    else
      conn.push_back(w);
  }
  ASSERT_EQ(conn.size(), 1u) << describe(p.all());
  EXPECT_EQ(conn[0].domain, GST_RESOURCE_ERROR);
  EXPECT_NE(conn[0].text.find("MQTT broker at 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << conn[0].text;
  ASSERT_EQ(drops.size(), 1u) << describe(p.all());
  EXPECT_NE(drops[0].text.find("20 results were not published"), std::string::npos) << drops[0].text;
  // Stopping: the 10 kept are discarded, and said so; no other warning.
  const auto all = p.of_type(GST_MESSAGE_WARNING);
  ASSERT_EQ(all.size(), before_stop.size() + 1) << describe(p.all());
  EXPECT_NE(all.back().text.find("10 results could not be delivered"), std::string::npos) << all.back().text;
  EXPECT_TRUE(p.of_type(GST_MESSAGE_ERROR).empty()) << describe(p.all());
}

namespace {
// A broker whose sessions survive a restart (stopped with SIGTERM, it writes them out),
// and a subscriber with a persistent session and a QoS 1 subscription: what is published
// while the subscriber is away is kept for it, whoever reconnects first.
const char* kPersistentBroker = "allow_anonymous true\npersistence true\n";

Subscriber::Options persistent_subscriber() {
  Subscriber::Options o;
  o.topic = "torchanalytics/cam0";
  o.client_id = "ta-test-sub-" + std::to_string(getpid());
  o.clean_session = false;
  return o;
}
}  // namespace

// The broker comes up after the sink started: the sink connects on its own (backoff)
// and delivers what it kept.
TEST(Mqtt, BrokerUpAfterStart) {
  REQUIRE_MOSQUITTO();
  Broker broker(kPersistentBroker);
  START_BROKER(broker);
  {
    Subscriber sub(broker.port(), persistent_subscriber());
    ASSERT_TRUE(sub.wait_subscribed(5s));
  }
  broker.stop(SIGTERM);

  Pipeline p(live_src(150) + sink_desc(broker.port(), "mqtt-qos=1 stream-name=cam0"));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.play());
  std::this_thread::sleep_for(300ms);
  START_BROKER(broker);
  auto sub = std::make_unique<Subscriber>(broker.port(), persistent_subscriber());
  EXPECT_TRUE(p.wait_eos(20s)) << describe(p.all());
  const bool all = sub->wait_until(20s, [](const auto& m) { return has_all_frames(m, 150); });
  p.shut_down();
  std::vector<guint64> frames = frames_of(sub->messages(), "torchanalytics/cam0", "cam0");
  EXPECT_TRUE(all) << "missing frames: " << join(missing(frames, 150));
  EXPECT_EQ(p.dropped(), 0u);
  const auto warnings = p.of_type(GST_MESSAGE_WARNING);
  ASSERT_EQ(warnings.size(), 1u) << describe(p.all());
  EXPECT_NE(warnings[0].text.find("Could not connect"), std::string::npos) << warnings[0].text;
  EXPECT_EQ(p.of_type(GST_MESSAGE_INFO).size(), 1u) << describe(p.all());  // "publishing again"
}

// (c) The broker stops and starts again on the same port mid-stream: with QoS 1 every
// frame reaches the subscriber (at least once), nothing is dropped, and the outage is
// one warning.
TEST(Mqtt, BrokerRestartMidStreamLosesNothingQos1) {
  REQUIRE_MOSQUITTO();
  Broker broker(kPersistentBroker);
  START_BROKER(broker);
  Subscriber sub(broker.port(), persistent_subscriber());
  ASSERT_TRUE(sub.wait_subscribed(5s));

  const int n = 200;  // 4 s at 50 fps
  Pipeline p(live_src(n) + sink_desc(broker.port(), "mqtt-qos=1 stream-name=cam0"));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.play());
  ASSERT_TRUE(sub.wait_count(40, 10s)) << "nothing arrived before the restart: " << describe(p.all())
                                       << broker.log();
  broker.stop(SIGTERM);
  std::this_thread::sleep_for(200ms);  // frames published meanwhile wait in the sink
  START_BROKER(broker);

  EXPECT_TRUE(p.wait_eos(20s)) << describe(p.all());
  const bool all = sub.wait_until(20s, [n](const auto& m) { return has_all_frames(m, n); });
  p.shut_down();

  const auto msgs = sub.messages();
  std::vector<guint64> frames = frames_of(msgs, "torchanalytics/cam0", "cam0");
  EXPECT_TRUE(all) << "missing frames: " << join(missing(frames, n)) << "\n" << describe(p.all());
  EXPECT_EQ(p.dropped(), 0u);
  const auto warnings = p.of_type(GST_MESSAGE_WARNING);
  ASSERT_EQ(warnings.size(), 1u) << describe(p.all());
  EXPECT_EQ(warnings[0].domain, GST_RESOURCE_ERROR);
  EXPECT_NE(warnings[0].text.find("Lost the connection"), std::string::npos) << warnings[0].text;
  EXPECT_TRUE(p.of_type(GST_MESSAGE_ERROR).empty()) << describe(p.all());
}

namespace {
// Every debug message GStreamer would print, while it lives (torch* at level 9).
class DebugLogCapture {
 public:
  DebugLogCapture() {
    gst_debug_remove_log_function(gst_debug_log_default);
    gst_debug_add_log_function(&DebugLogCapture::log, this, nullptr);
    gst_debug_set_active(TRUE);
    gst_debug_set_threshold_from_string("torch*:9", FALSE);
  }
  ~DebugLogCapture() {
    gst_debug_remove_log_function(&DebugLogCapture::log);
    gst_debug_add_log_function(gst_debug_log_default, nullptr, nullptr);
    // Back to what the environment asked for (tests/meson.build: torch*:3).
    const gchar* env = g_getenv("GST_DEBUG");
    gst_debug_set_threshold_from_string(env ? env : "", TRUE);
  }
  std::string text() {
    std::lock_guard<std::mutex> lk(mu_);
    return text_;
  }

 private:
  static void log(GstDebugCategory* cat, GstDebugLevel, const gchar*, const gchar*, gint, GObject*,
                  GstDebugMessage* message, gpointer ud) {
    auto* self = static_cast<DebugLogCapture*>(ud);
    const gchar* s = gst_debug_message_get(message);
    std::lock_guard<std::mutex> lk(self->mu_);
    self->text_ += std::string(gst_debug_category_get_name(cat)) + ": " + (s ? s : "") + "\n";
  }
  std::mutex mu_;
  std::string text_;
};
}  // namespace

// (d) User name and password: a wrong password is one warning and no message, the right
// one delivers; the password is in no log line and no bus message.
TEST(Mqtt, UsernamePassword) {
  REQUIRE_MOSQUITTO();
  gchar* passwd = g_find_program_in_path("mosquitto_passwd");
  if (!passwd) GTEST_SKIP() << "mosquitto_passwd not found (package mosquitto)";
  g_free(passwd);
  TempDir pwdir;
  const std::string pwfile = pwdir.path() + "/passwd";
  {
    std::string why;
    ASSERT_TRUE(run_program({"mosquitto_passwd", "-b", "-c", pwfile, "user", kPassword}, "", &why)) << why;
    g_chmod(pwfile.c_str(), 0644);
  }
  Broker auth_broker("allow_anonymous false\npassword_file " + pwfile + "\n");
  START_BROKER(auth_broker);
  Subscriber::Options so;
  so.username = "user";
  so.password = kPassword;
  Subscriber sub(auth_broker.port(), so);
  ASSERT_TRUE(sub.wait_subscribed(5s)) << auth_broker.log();

  DebugLogCapture debug_log;
  {
    // Wrong password: refused, one warning, retried quietly.
    Pipeline p(live_src(50) + sink_desc(auth_broker.port(), "mqtt-qos=1 stream-name=cam0 "
                                                            "mqtt-username=user mqtt-password=wrong-one"));
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(p.play());
    EXPECT_TRUE(p.wait_eos(20s)) << describe(p.all());
    p.shut_down();
    const auto warnings = p.of_type(GST_MESSAGE_WARNING);
    std::vector<BusMessage> auth;
    for (const auto& w : warnings)
      if (w.domain == GST_RESOURCE_ERROR && w.code == GST_RESOURCE_ERROR_NOT_AUTHORIZED) auth.push_back(w);
    EXPECT_EQ(auth.size(), 1u) << describe(p.all());
    EXPECT_NE(describe(p.all()).find("mqtt-password"), std::string::npos) << "says what to check";
    std::this_thread::sleep_for(300ms);
    EXPECT_TRUE(sub.messages().empty()) << sub.messages().size() << " messages with a wrong password";
  }
  {
    // The right one.
    Pipeline p("videotestsrc num-buffers=20 ! video/x-raw,width=64,height=48,framerate=100/1 ! " +
               sink_desc(auth_broker.port(), std::string("mqtt-qos=1 stream-name=cam0 mqtt-username=user "
                                                         "mqtt-password=") +
                                                 kPassword));
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(p.play());
    EXPECT_TRUE(p.wait_eos(20s)) << describe(p.all());
    p.shut_down();
    EXPECT_TRUE(p.of_type(GST_MESSAGE_WARNING).empty()) << describe(p.all());
    ASSERT_TRUE(sub.wait_count(20, 10s)) << sub.messages().size() << " messages";
    std::vector<guint64> frames = frames_of(sub.messages(), "torchanalytics/cam0", "cam0");
    EXPECT_TRUE(missing(frames, 20).empty()) << join(missing(frames, 20));
    EXPECT_EQ(describe(p.all()).find(kPassword), std::string::npos);
  }
  const std::string log = debug_log.text();
  // The log was on (libmosquitto's own lines come through at LOG level)...
  EXPECT_NE(log.find("sending CONNECT"), std::string::npos) << log.substr(0, 2000);
  // ...and the password is in none of it.
  EXPECT_EQ(log.find(kPassword), std::string::npos);
}

namespace {
// Test certificates: ca.crt signed server.crt (for 127.0.0.1); other.crt is another CA
// that signed other-server.crt (for 127.0.0.1 too).
bool make_pki(const std::string& d, std::string* why) {
  write_text(d + "/ext.cnf", "subjectAltName=IP:127.0.0.1\n");
  using Args = std::vector<std::string>;
  const Args ec = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};
  auto req_ca = [&](const std::string& name) {
    Args a = {"openssl", "req", "-x509"};
    a.insert(a.end(), ec.begin(), ec.end());
    const Args rest = {"-keyout", d + "/" + name + ".key", "-out", d + "/" + name + ".crt",
                       "-days", "2", "-subj", "/CN=ta-test-" + name};
    a.insert(a.end(), rest.begin(), rest.end());
    return a;
  };
  auto req_server = [&](const std::string& name) {
    Args a = {"openssl", "req"};
    a.insert(a.end(), ec.begin(), ec.end());
    const Args rest = {"-keyout", d + "/" + name + ".key", "-out", d + "/" + name + ".csr", "-subj", "/CN=127.0.0.1"};
    a.insert(a.end(), rest.begin(), rest.end());
    return a;
  };
  auto sign = [&](const std::string& name, const std::string& ca) {
    return Args{"openssl", "x509", "-req", "-in", d + "/" + name + ".csr", "-CA", d + "/" + ca + ".crt",
                "-CAkey", d + "/" + ca + ".key", "-CAcreateserial", "-out", d + "/" + name + ".crt",
                "-days", "2", "-extfile", d + "/ext.cnf"};
  };
  const std::vector<Args> steps = {req_ca("ca"), req_ca("other"), req_server("server"), sign("server", "ca"),
                                   req_server("other-server"), sign("other-server", "other")};
  for (const auto& step : steps)
    if (!run_program(step, d, why)) return false;
  for (const char* f : {"ca.crt", "other.crt", "server.crt", "server.key", "other-server.crt", "other-server.key"})
    g_chmod((d + "/" + f).c_str(), 0644);
  return true;
}

std::string tls_listener(const std::string& d, const std::string& server) {
  return "cafile " + d + "/ca.crt\ncertfile " + d + "/" + server + ".crt\nkeyfile " + d + "/" + server +
         ".key\n";
}

#define REQUIRE_PKI(dir)                                                                     \
  gchar* openssl_ = g_find_program_in_path("openssl");                                       \
  if (!openssl_) GTEST_SKIP() << "openssl not found: it makes the test certificates";         \
  g_free(openssl_);                                                                          \
  TempDir pki_;                                                                              \
  const std::string dir = pki_.path();                                                       \
  {                                                                                          \
    std::string why_;                                                                        \
    ASSERT_TRUE(make_pki(dir, &why_)) << why_;                                               \
  }
}  // namespace

// TLS: with mqtt-ca-file the sink checks the broker's certificate against it. The right
// CA delivers; a broker whose certificate another CA signed is one warning and nothing
// delivered.
TEST(Mqtt, TlsWithCaFile) {
  REQUIRE_MOSQUITTO();
  REQUIRE_PKI(d);
  Broker broker("allow_anonymous true\n" + tls_listener(d, "server"));
  START_BROKER(broker);
  Subscriber::Options so;
  so.ca_file = d + "/ca.crt";
  Subscriber sub(broker.port(), so);
  ASSERT_TRUE(sub.wait_subscribed(5s)) << broker.log();
  {
    // A CA that did not sign the broker's certificate: the handshake fails.
    Pipeline p(live_src(25) + sink_desc(broker.port(), "mqtt-qos=1 stream-name=cam0 mqtt-ca-file=" + d +
                                                           "/other.crt"));
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(p.play());
    EXPECT_TRUE(p.wait_eos(20s)) << describe(p.all());
    p.shut_down();
    size_t conn = 0;
    for (const auto& w : p.of_type(GST_MESSAGE_WARNING))
      if (w.text.find("connect") != std::string::npos) conn++;
    EXPECT_EQ(conn, 1u) << describe(p.all());
    std::this_thread::sleep_for(200ms);
    EXPECT_TRUE(sub.messages().empty()) << sub.messages().size() << " messages through an unverified broker";
  }
  {
    Pipeline p("videotestsrc num-buffers=20 ! video/x-raw,width=64,height=48,framerate=100/1 ! " +
               sink_desc(broker.port(), "mqtt-qos=1 stream-name=cam0 mqtt-ca-file=" + d + "/ca.crt"));
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(p.play());
    EXPECT_TRUE(p.wait_eos(20s)) << describe(p.all());
    p.shut_down();
    EXPECT_TRUE(p.of_type(GST_MESSAGE_WARNING).empty()) << describe(p.all());
    ASSERT_TRUE(sub.wait_count(20, 10s)) << sub.messages().size() << " messages";
    std::vector<guint64> frames = frames_of(sub.messages(), "torchanalytics/cam0", "cam0");
    EXPECT_TRUE(missing(frames, 20).empty()) << join(missing(frames, 20));
  }
}

// A TLS failure ends libmosquitto's network thread for good (sometimes without any
// callback): the sink restarts its client, and once the broker presents a certificate it
// trusts, everything kept is delivered.
TEST(Mqtt, TlsFailureThenRecovers) {
  REQUIRE_MOSQUITTO();
  REQUIRE_PKI(d);
  // The subscriber's persistent session is made on the good broker, which keeps it
  // across its restarts (persistence); the impostor in between has no persistence.
  const std::string good = "allow_anonymous true\npersistence true\n" + tls_listener(d, "server");
  Broker broker(good);
  START_BROKER(broker);
  Subscriber::Options so = persistent_subscriber();
  so.ca_file = d + "/ca.crt";
  {
    Subscriber sub(broker.port(), so);
    ASSERT_TRUE(sub.wait_subscribed(5s)) << broker.log();
  }
  broker.stop(SIGTERM);
  broker.set_extra("allow_anonymous true\n" + tls_listener(d, "other-server"));
  START_BROKER(broker);

  const int n = 100;  // 2 s at 50 fps
  Pipeline p(live_src(n) + sink_desc(broker.port(), "mqtt-qos=1 stream-name=cam0 mqtt-ca-file=" + d + "/ca.crt"));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.play());
  ASSERT_TRUE(p.wait_for(GST_MESSAGE_WARNING, 10s)) << "no warning for the certificate: " << describe(p.all());

  broker.stop(SIGTERM);
  broker.set_extra(good);
  START_BROKER(broker);
  Subscriber sub(broker.port(), so);

  EXPECT_TRUE(p.wait_eos(20s)) << describe(p.all());
  const bool all = sub.wait_until(30s, [n](const auto& m) { return has_all_frames(m, n); });
  p.shut_down();
  std::vector<guint64> frames = frames_of(sub.messages(), "torchanalytics/cam0", "cam0");
  EXPECT_TRUE(all) << "missing frames: " << join(missing(frames, n)) << "\n" << describe(p.all());
  EXPECT_EQ(p.dropped(), 0u);
  const auto warnings = p.of_type(GST_MESSAGE_WARNING);
  ASSERT_EQ(warnings.size(), 1u) << describe(p.all());
  EXPECT_NE(warnings[0].text.find("Could not connect"), std::string::npos) << warnings[0].text;
  EXPECT_NE(warnings[0].debug.find("certificate verify failed"), std::string::npos) << warnings[0].debug;
  EXPECT_EQ(p.of_type(GST_MESSAGE_INFO).size(), 1u) << describe(p.all());
}
