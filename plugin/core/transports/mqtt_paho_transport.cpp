// The MQTT transport on Paho's asynchronous client: see mqtt_paho_transport.h.
#include "mqtt_paho_transport.h"

#include "error.h"

#include <MQTTAsync.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

namespace ta {

namespace {

std::string host_port(const MqttOptions& o) { return o.host + ":" + std::to_string(o.port); }

bool valid_topic(const std::string& t) {
  return !t.empty() && t.size() <= 65535 && t.find_first_of("+#") == std::string::npos &&
         t.find('\0') == std::string::npos;
}

std::string topic_level(const std::string& s) {
  std::string out = s.empty() ? std::string("_") : s;
  for (char& c : out) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '+' || c == '#' || c == '/' || u < 0x20 || u == 0x7f || u >= 0x80) c = '_';
  }
  if (out.size() > 60000) out.resize(60000);
  return out;
}

}  // namespace

std::string PahoMqttTransport::make_client_id() {
  static std::atomic<uint32_t> counter{0};
  static const uint32_t seed = std::random_device{}() ^ (static_cast<uint32_t>(getpid()) << 12);
  uint32_t x = seed + counter.fetch_add(1) * 0x9e3779b9u;
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  char buf[32];
  std::snprintf(buf, sizeof buf, "torchmetasink-%08x", x);
  return buf;
}

struct PahoMqttTransport::Impl {
  MqttOptions opt;
  TransportCallbacks cb;
  MQTTAsync client = nullptr;

  std::mutex cb_mu;  // held while a callback of ours runs; stop() clears cb_enabled under it
  bool cb_enabled = true;

  std::mutex mu;
  std::condition_variable cv;
  bool up = false;
  bool ever_up = false;
  bool outage_reported = false;
  bool first_pending = false;  // a first connection attempt is under way
  bool stopping = false;
  std::string ssl_error;       // OpenSSL's last reason, from ssl_error_cb
  std::thread retrier;         // retries a first connection that failed

  std::atomic<uint64_t> accepted{0}, done{0}, failed{0}, dropped{0};

  std::string sentence(TransportEvent ev) const {
    const std::string at = "the MQTT broker at " + host_port(opt);
    const std::string kept = "; up to " + std::to_string(opt.max_queued) + " results are kept meanwhile.";
    switch (ev) {
      case TransportEvent::kConnected: return "Connected to " + at + " as " + opt.client_id + ".";
      case TransportEvent::kReconnected: return "Connected to " + at + "; publishing again.";
      case TransportEvent::kConnectFailed: return "Could not connect to " + at + ". Retrying in the background" + kept;
      case TransportEvent::kRefused:
        return "The MQTT broker at " + host_port(opt) + " refused the connection. Retrying in the background" + kept;
      case TransportEvent::kNotAuthorized:
        return "The MQTT broker at " + host_port(opt) +
               " refused the connection: check mqtt-username and mqtt-password. Retrying in the background.";
      case TransportEvent::kConnectionLost:
        return "Lost the connection to " + at + ". Reconnecting in the background" + kept;
    }
    return {};
  }

  void emit(TransportEvent ev, const std::string& detail) {
    std::lock_guard<std::mutex> lk(cb_mu);
    if (cb_enabled && cb.on_event) cb.on_event(ev, sentence(ev), detail);
  }

  size_t pending() {
    MQTTAsync_token* tokens = nullptr;
    size_t n = 0;
    if (MQTTAsync_getPendingTokens(client, &tokens) == MQTTASYNC_SUCCESS && tokens) {
      while (tokens[n] != -1) n++;
      MQTTAsync_free(tokens);
    }
    return n;
  }

  // Messages Paho deleted from its full buffer: neither done nor failed nor pending.
  void update_dropped() {
    const uint64_t gone = done + failed + pending();
    const uint64_t a = accepted;
    if (a > gone && a - gone > dropped) dropped = a - gone;
  }

  void connect() {
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    co.keepAliveInterval = opt.keepalive_s;
    co.cleansession = opt.qos == 0;  // QoS 1: in-flight messages survive a reconnection
    co.automaticReconnect = 1;
    co.minRetryInterval = static_cast<int>(opt.reconnect_delay_s);
    co.maxRetryInterval = static_cast<int>(opt.reconnect_delay_max_s);
    co.connectTimeout = 10;
    co.context = this;
    co.onSuccess = [](void* c, MQTTAsync_successData*) {
      auto* p = static_cast<Impl*>(c);
      std::lock_guard<std::mutex> lk(p->mu);
      p->first_pending = false;
      p->cv.notify_all();
    };
    co.onFailure = [](void* c, MQTTAsync_failureData* r) { static_cast<Impl*>(c)->on_connect_failed(r); };
    if (!opt.username.empty()) {
      co.username = opt.username.c_str();
      if (!opt.password.empty()) co.password = opt.password.c_str();
    }
    if (!opt.ca_file.empty()) {
      ssl.trustStore = opt.ca_file.c_str();
      ssl.enableServerCertAuth = 1;
      ssl.verify = 1;
      ssl.ssl_error_context = this;
      ssl.ssl_error_cb = [](const char* str, size_t len, void* u) {
        auto* p = static_cast<Impl*>(u);
        std::lock_guard<std::mutex> lk(p->mu);
        p->ssl_error.assign(str, len);
        while (!p->ssl_error.empty() && (p->ssl_error.back() == '\n')) p->ssl_error.pop_back();
        return 0;
      };
      co.ssl = &ssl;
    }
    {
      std::lock_guard<std::mutex> lk(mu);
      first_pending = true;
      ssl_error.clear();
    }
    const int rc = MQTTAsync_connect(client, &co);
    if (rc != MQTTASYNC_SUCCESS) {
      MQTTAsync_failureData f{};
      f.code = rc;
      f.message = MQTTAsync_strerror(rc);
      on_connect_failed(&f);
    }
  }

  void on_connect_failed(MQTTAsync_failureData* r) {
    std::string detail = r && r->message ? r->message : "connection failed";
    if (r) detail += " (code " + std::to_string(r->code) + ")";
    bool report;
    {
      std::lock_guard<std::mutex> lk(mu);
      if (!ssl_error.empty()) detail += ": " + ssl_error;
      first_pending = false;
      report = !outage_reported;
      outage_reported = true;
      cv.notify_all();
    }
    const int code = r ? r->code : -1;
    if (report)
      emit(code == 4 || code == 5   ? TransportEvent::kNotAuthorized
           : code >= 1 && code <= 3 ? TransportEvent::kRefused
                                    : TransportEvent::kConnectFailed,
           detail);
  }

  // The first connection never came up: try again with backoff until it does or stop().
  void retry_loop() {
    unsigned delay = opt.reconnect_delay_s;
    std::unique_lock<std::mutex> lk(mu);
    while (!stopping) {
      cv.wait(lk, [&] { return stopping || ever_up || !first_pending; });
      if (stopping || ever_up) return;
      if (cv.wait_for(lk, std::chrono::seconds(delay), [&] { return stopping || ever_up; })) return;
      delay = std::min(delay * 2, opt.reconnect_delay_max_s);
      lk.unlock();
      connect();
      lk.lock();
    }
  }
};

PahoMqttTransport::PahoMqttTransport(MqttOptions options, TransportCallbacks callbacks)
    : impl_(std::make_shared<Impl>()) {
  Impl& p = *impl_;
  p.opt = std::move(options);
  p.cb = std::move(callbacks);
  MqttOptions& o = p.opt;
  if (!o.topic.empty() && !valid_topic(o.topic))
    throw Error(ErrorKind::Settings, "The MQTT topic \"" + o.topic +
                                         "\" is not valid for publishing: it must not be empty or contain the "
                                         "wildcards '+' or '#'.");
  if (o.host.empty()) throw Error(ErrorKind::Settings, "No MQTT broker host given.");
  if (o.port < 1 || o.port > 65535)
    throw Error(ErrorKind::Settings, "The MQTT port must be between 1 and 65535.", std::to_string(o.port));
  if (o.qos < 0 || o.qos > 1) throw Error(ErrorKind::Settings, "The MQTT QoS must be 0 or 1.", std::to_string(o.qos));
  if (o.keepalive_s < 5 || o.keepalive_s > 65535)
    throw Error(ErrorKind::Settings, "The MQTT keepalive must be between 5 and 65535 seconds.",
                std::to_string(o.keepalive_s));
  if (o.max_queued < 1) throw Error(ErrorKind::Settings, "The MQTT queue must hold at least one message.");
  if (o.reconnect_delay_s < 1 || o.reconnect_delay_max_s < o.reconnect_delay_s)
    throw Error(ErrorKind::Settings,
                "The MQTT reconnection delays must be at least 1 s, the maximum not below the first.");
  if (!o.password.empty() && o.username.empty())
    throw Error(ErrorKind::Settings, "An MQTT password needs a user name: set mqtt-username too.");
  if (!o.ca_file.empty()) {
    if (access(o.ca_file.c_str(), F_OK) != 0)
      throw Error(ErrorKind::NotFound, "The MQTT CA file \"" + o.ca_file + "\" does not exist.", std::strerror(errno));
    if (access(o.ca_file.c_str(), R_OK) != 0)
      throw Error(ErrorKind::OpenRead, "The MQTT CA file \"" + o.ca_file + "\" cannot be read.",
                  std::strerror(errno));
  }
  if (o.client_id.empty()) o.client_id = make_client_id();

  const std::string uri = (o.ca_file.empty() ? "tcp://" : "ssl://") + host_port(o);
  MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
  co.sendWhileDisconnected = 1;
  co.allowDisconnectedSendAtAnyTime = 1;  // before the first connection, too
  co.maxBufferedMessages = static_cast<int>(std::min<size_t>(o.max_queued, 1 << 30));
  co.deleteOldestMessages = 1;
  const int rc = MQTTAsync_createWithOptions(&p.client, uri.c_str(), o.client_id.c_str(),
                                             MQTTCLIENT_PERSISTENCE_NONE, nullptr, &co);
  if (rc != MQTTASYNC_SUCCESS)
    throw Error(ErrorKind::Settings, "The MQTT broker address " + host_port(o) + " is not valid.",
                MQTTAsync_strerror(rc));
  MQTTAsync_setCallbacks(
      p.client, &p,
      [](void* c, char* cause) {
        auto* q = static_cast<Impl*>(c);
        bool report;
        {
          std::lock_guard<std::mutex> lk(q->mu);
          report = q->up && !q->outage_reported;
          q->up = false;
          q->outage_reported = true;
        }
        if (report) q->emit(TransportEvent::kConnectionLost, cause ? cause : "connection lost");
      },
      [](void*, char* topic, int, MQTTAsync_message* m) {
        MQTTAsync_freeMessage(&m);
        MQTTAsync_free(topic);
        return 1;
      },
      nullptr);
  MQTTAsync_setConnected(p.client, &p, [](void* c, char*) {
    auto* q = static_cast<Impl*>(c);
    bool again, first;
    {
      std::lock_guard<std::mutex> lk(q->mu);
      again = q->outage_reported;
      first = !q->ever_up;
      q->up = q->ever_up = true;
      q->outage_reported = false;
      q->first_pending = false;
      q->cv.notify_all();
    }
    (void)first;
    q->emit(again ? TransportEvent::kReconnected : TransportEvent::kConnected, "");
  });
}

PahoMqttTransport::~PahoMqttTransport() {
  if (impl_->client) {
    try {
      stop();
    } catch (...) {
    }
  }
}

void PahoMqttTransport::start() {
  Impl& p = *impl_;
  p.connect();
  try {
    p.retrier = std::thread([&p] { p.retry_loop(); });
  } catch (const std::exception& e) {
    throw Error(ErrorKind::Init, "Could not start the MQTT retry thread.", e.what());
  }
}

void PahoMqttTransport::publish(const std::string& key, const std::string& payload) {
  Impl& p = *impl_;
  if (!topic_made_ || key != topic_key_) {
    topic_ = p.opt.topic.empty() ? "torchanalytics/" + topic_level(key) : p.opt.topic;
    topic_key_ = key;
    topic_made_ = true;
  }
  MQTTAsync_message m = MQTTAsync_message_initializer;
  m.payload = const_cast<char*>(payload.data());
  m.payloadlen = static_cast<int>(payload.size());
  m.qos = p.opt.qos;
  MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
  ro.context = &p;
  ro.onSuccess = [](void* c, MQTTAsync_successData*) { static_cast<Impl*>(c)->done++; };
  ro.onFailure = [](void* c, MQTTAsync_failureData*) { static_cast<Impl*>(c)->failed++; };
  p.accepted++;
  if (MQTTAsync_sendMessage(p.client, topic_.c_str(), &m, &ro) != MQTTASYNC_SUCCESS) p.failed++;
  p.update_dropped();
}

size_t PahoMqttTransport::flush(std::chrono::milliseconds bound) {
  Impl& p = *impl_;
  const auto end = std::chrono::steady_clock::now() + bound;
  for (;;) {
    const size_t n = p.pending();
    if (n == 0 || std::chrono::steady_clock::now() >= end) return n;
    {
      std::lock_guard<std::mutex> lk(p.mu);
      if (!p.up && !p.first_pending) return n;  // a broker that is away is not waited for
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

size_t PahoMqttTransport::stop(std::chrono::milliseconds drain) {
  Impl& p = *impl_;
  if (!p.client) return 0;
  flush(drain);
  p.update_dropped();
  {
    std::lock_guard<std::mutex> lk(p.mu);
    p.stopping = true;
    p.cv.notify_all();
  }
  if (p.retrier.joinable()) p.retrier.join();
  {
    std::lock_guard<std::mutex> lk(p.cb_mu);
    p.cb_enabled = false;
  }
  const size_t left = p.pending();
  MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
  d.timeout = 0;
  MQTTAsync_disconnect(p.client, &d);
  MQTTAsync_destroy(&p.client);
  p.client = nullptr;
  return left;
}

TransportStats PahoMqttTransport::stats() const {
  Impl& p = *impl_;
  TransportStats s;
  s.published = p.done;
  s.dropped = p.dropped;
  s.failed = p.failed;
  s.queued = p.client ? p.pending() : 0;
  std::lock_guard<std::mutex> lk(p.mu);
  s.connected = p.up;
  return s;
}

uint64_t PahoMqttTransport::dropped() const { return impl_->dropped; }

std::string PahoMqttTransport::where() const { return host_port(impl_->opt); }

}  // namespace ta
