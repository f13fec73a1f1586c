// Kafka publishing through librdkafka: see kafka_transport.h for the contract.
//
// Threads:
// - the caller's (the sink's streaming thread): publish() queues and hands messages to
//   librdkafka while fewer than window() are inside it (rd_kafka_producev only queues);
// - the poll thread, ours, from start() to stop(): rd_kafka_poll, which runs the delivery
//   reports (each frees a place in the window and hands the next waiting message over)
//   and the error callback (outages, reported once each);
// - librdkafka's own threads: the network, reconnections with backoff, its log callback.
#include "kafka_transport.h"

#include "error.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>

namespace ta {

namespace {

Error settings_error(const std::string& message, const std::string& detail = {}) {
  return Error(ErrorKind::Settings, message, detail);
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) b++;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) e--;
  return s.substr(b, e - b);
}

// "host", "host:port", "[v6]:port", with an optional "proto://" prefix. Empty when fine,
// else what is wrong.
std::string check_broker(const std::string& b) {
  std::string s = b;
  const size_t scheme = s.find("://");
  if (scheme != std::string::npos) s = s.substr(scheme + 3);
  if (s.empty()) return "an empty host";
  std::string host, port;
  if (s[0] == '[') {
    const size_t close = s.find(']');
    if (close == std::string::npos) return "an IPv6 address without its ']'";
    host = s.substr(1, close - 1);
    if (close + 1 < s.size()) {
      if (s[close + 1] != ':') return "something after the IPv6 address that is not :port";
      port = s.substr(close + 2);
      if (port.empty()) return "an empty port";
    }
  } else {
    const size_t colon = s.rfind(':');
    host = s.substr(0, colon);
    if (colon != std::string::npos) {
      if (s.find(':') != colon) return "more than one ':' (write an IPv6 address as [addr]:port)";
      port = s.substr(colon + 1);
      if (port.empty()) return "an empty port";
    }
  }
  if (host.empty()) return "an empty host";
  for (char c : host)
    if (std::isspace(static_cast<unsigned char>(c)) || c == '/' || c == ',') return "a host name with '" + std::string(1, c) + "'";
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return "a port that is not a number";
    const int p = std::stoi(port);
    if (p < 1 || p > 65535) return "a port outside 1-65535";
  }
  return {};
}

// The brokers, trimmed, joined again with ','; throws for a bad entry.
std::string check_brokers(const std::string& list) {
  std::string out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    const std::string b = trim(list.substr(start, comma - start));
    if (!b.empty()) {
      const std::string bad = check_broker(b);
      if (!bad.empty())
        throw settings_error("kafka-brokers has a broker \"" + b + "\" with " + bad +
                                 ": write it as host:port, several separated by commas (e.g. kafka1:9092,kafka2:9092).",
                             "kafka-brokers=" + list);
      if (!out.empty()) out += ',';
      out += b;
    }
    start = comma + 1;
  }
  if (out.empty())
    throw settings_error("kafka-brokers is empty: set it to the bootstrap brokers of the cluster, host:port separated by commas.");
  return out;
}

}  // namespace

struct KafkaTransport::Impl {
  KafkaOptions opt;
  std::string brokers;  // checked, normalized
  TransportCallbacks cb;
  size_t window = 1;
  rd_kafka_conf_t* conf = nullptr;  // until start() gives it to rd_kafka_new
  ~Impl() {
    if (conf) rd_kafka_conf_destroy(conf);
  }
  rd_kafka_t* rk = nullptr;
  bool started = false;  // owner's thread only
  bool stopped = false;  // owner's thread only

  struct Message {
    std::string key;
    std::string payload;
  };

  // The queue and the counters; taken by publish(), flush(), stats() and the delivery
  // reports. Never held while calling the user's callbacks.
  mutable std::mutex mu;
  std::condition_variable drained;  // a delivery report came
  std::deque<Message> unsent;       // not yet handed to librdkafka, oldest first
  size_t inflight = 0;              // handed to librdkafka, no delivery report yet
  std::atomic<uint64_t> dropped{0};
  uint64_t published = 0;
  uint64_t failed = 0;
  uint64_t reconnects = 0;
  bool delivered_any = false;       // a delivery was confirmed since start
  bool up = false;                  // a delivery was confirmed since the last outage
  bool outage_reported = false;     // this outage was reported (one warning per outage)
  int failure_reported = 0;         // the error last reported as kDeliveryFailed (0: none)
  bool purging = false;             // stop(): delivery reports now are the purge's

  // The events found under `mu`, emitted after it is released.
  struct Pending {
    TransportEvent ev;
    std::string detail;
  };

  std::mutex cb_mu;  // serializes the callbacks with stop()
  bool cb_enabled = true;

  std::thread poller;
  std::atomic<bool> stop_polling{false};

  std::string where() const { return brokers + "/" + opt.topic; }

  std::string sentence(TransportEvent ev, const std::string& detail) const {
    const std::string at = "the Kafka brokers " + brokers;
    const std::string kept = "; up to " + std::to_string(opt.max_queued) +
                             " results are kept meanwhile (kafka-queue-size), the oldest dropped beyond that.";
    switch (ev) {
      case TransportEvent::kConnected: return "Publishing to Kafka topic \"" + opt.topic + "\" at " + brokers + ".";
      case TransportEvent::kReconnected: return "Reached " + at + " again; publishing again.";
      case TransportEvent::kConnectFailed:
        if (detail.find("resolve") != std::string::npos || detail.find("Resolve") != std::string::npos)
          return "Could not resolve a broker name of kafka-brokers (" + brokers +
                 "): check the host names. Retrying in the background" + kept;
        if (detail.find("SSL") != std::string::npos || detail.find("ssl") != std::string::npos)
          return "The TLS connection to " + at +
                 " failed: check kafka-security-protocol and kafka-ssl-ca-location. Retrying in the background" + kept;
        return "Could not connect to any of " + at +
               ": check kafka-brokers and that the cluster runs. Retrying in the background" + kept;
      case TransportEvent::kRefused: return "Kafka refused the connection. Retrying in the background" + kept;
      case TransportEvent::kNotAuthorized:
        return "Kafka refused the authentication: check kafka-sasl-mechanism, kafka-sasl-username and "
               "kafka-sasl-password. Retrying in the background" + kept;
      case TransportEvent::kConnectionLost:
        return "Lost the connection to all of " + at + ". Reconnecting in the background" + kept;
      case TransportEvent::kDeliveryFailed:
        return "Kafka refused results for topic \"" + opt.topic +
               "\" and they are not sent again: check kafka-topic (does it exist, may this client write to it?) "
               "and the message size limits.";
    }
    return {};
  }

  void emit(TransportEvent ev, const std::string& detail) {
    const std::string msg = sentence(ev, detail);
    std::lock_guard<std::mutex> lk(cb_mu);
    if (cb_enabled && cb.on_event) cb.on_event(ev, msg, detail);
  }
  void emit(const std::vector<Pending>& events) {
    for (const Pending& e : events) emit(e.ev, e.detail);
  }

  void log(TransportLogLevel level, const std::string& msg) {
    std::lock_guard<std::mutex> lk(cb_mu);
    if (cb_enabled && cb.on_log) cb.on_log(level, msg);
  }

  // Hands waiting messages to librdkafka while the window has room.
  void pump_locked(std::vector<Pending>& events) {
    while (rk && inflight < window && !unsent.empty()) {
      Message& m = unsent.front();
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          rk, RD_KAFKA_V_TOPIC(opt.topic.c_str()),
          RD_KAFKA_V_KEY(const_cast<char*>(m.key.data()), m.key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(m.payload.data()), m.payload.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) break;  // librdkafka's own limit: wait for a report
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        // Refused at once (too large, a fatal producer error): not retried.
        failed++;
        note_failure_locked(err, std::string(rd_kafka_err2name(err)) + ": " + rd_kafka_err2str(err), events);
        unsent.pop_front();
        continue;
      }
      inflight++;
      unsent.pop_front();
    }
  }

  void note_failure_locked(rd_kafka_resp_err_t err, const std::string& detail, std::vector<Pending>& events) {
    if (failure_reported == static_cast<int>(err)) return;
    failure_reported = static_cast<int>(err);
    std::string d = detail;
    if (err == RD_KAFKA_RESP_ERR__FATAL && rk) {
      char buf[512];
      const rd_kafka_resp_err_t fe = rd_kafka_fatal_error(rk, buf, sizeof buf);
      if (fe) d += std::string(" (") + rd_kafka_err2name(fe) + ": " + buf + ")";
    }
    events.push_back({TransportEvent::kDeliveryFailed, d});
  }

  static Impl* self(void* opaque) { return static_cast<Impl*>(opaque); }

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
    Impl* p = self(opaque);
    std::vector<Pending> events;
    {
      std::lock_guard<std::mutex> lk(p->mu);
      if (p->inflight > 0) p->inflight--;
      if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        p->published++;
        p->failure_reported = 0;
        if (!p->up) {
          p->up = true;
          if (p->outage_reported) {
            p->reconnects++;
            events.push_back({TransportEvent::kReconnected, p->where()});
          } else if (!p->delivered_any) {
            events.push_back({TransportEvent::kConnected, p->where()});
          }
          p->outage_reported = false;
        }
        p->delivered_any = true;
      } else if (!p->purging) {
        p->failed++;
        p->note_failure_locked(msg->err, std::string(rd_kafka_err2name(msg->err)) + ": " + rd_kafka_err2str(msg->err),
                               events);
      }
      if (!p->purging) p->pump_locked(events);
    }
    // Reported before a flush() waiting for this message returns.
    p->emit(events);
    p->drained.notify_all();
  }

  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    Impl* p = self(opaque);
    const auto e = static_cast<rd_kafka_resp_err_t>(err);
    const std::string detail = std::string(rd_kafka_err2name(e)) + ": " + (reason ? reason : "");
    TransportEvent ev;
    switch (e) {
      case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
      case RD_KAFKA_RESP_ERR__RESOLVE:
      case RD_KAFKA_RESP_ERR__SSL:
        ev = TransportEvent::kConnectFailed;
        break;
      case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        ev = TransportEvent::kNotAuthorized;
        break;
      case RD_KAFKA_RESP_ERR__FATAL: {
        char buf[512];
        const rd_kafka_resp_err_t fe = rd_kafka_fatal_error(rk, buf, sizeof buf);
        std::vector<Pending> events;
        {
          std::lock_guard<std::mutex> lk(p->mu);
          p->note_failure_locked(fe ? fe : e, detail + (fe ? std::string(" (") + buf + ")" : ""), events);
        }
        p->emit(events);
        return;
      }
      default:
        // One broker of several disconnecting, a request timing out: librdkafka retries,
        // and an outage of them all comes as ALL_BROKERS_DOWN.
        p->log(TransportLogLevel::kInfo, detail);
        return;
    }
    bool report = false;
    {
      std::lock_guard<std::mutex> lk(p->mu);
      // A name that does not resolve, a TLS or SASL failure: about one broker; while
      // another delivers, only a log line.
      if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || !p->up) {
        p->up = false;
        if (!p->outage_reported) {
          p->outage_reported = true;
          report = true;
          if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && p->delivered_any) ev = TransportEvent::kConnectionLost;
        }
      }
    }
    if (report)
      p->emit(ev, detail);
    else
      p->log(TransportLogLevel::kDebug, "still unreachable: " + detail);
  }

  static void on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
    Impl* p = self(rd_kafka_opaque(rk));
    if (!p) return;
    // syslog levels: 0-3 errors, 4 warnings, 5-6 notices and information, 7 debug.
    const TransportLogLevel l = level <= 3   ? TransportLogLevel::kWarning
                                : level == 4 ? TransportLogLevel::kWarning
                                : level <= 6 ? TransportLogLevel::kInfo
                                             : TransportLogLevel::kDebug;
    p->log(l, std::string(fac ? fac : "") + ": " + (buf ? buf : ""));
  }

  void set(const std::string& key, const std::string& value, const std::string& property) {
    char errstr[512];
    const rd_kafka_conf_res_t r = rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr);
    if (r == RD_KAFKA_CONF_OK) return;
    const bool secret = key.find("password") != std::string::npos || key.find("secret") != std::string::npos;
    const std::string shown = secret ? "(hidden)" : "\"" + value + "\"";
    if (r == RD_KAFKA_CONF_UNKNOWN)
      throw settings_error(property + ": librdkafka has no setting \"" + key +
                               "\" (or this build of it lacks the feature): check the name against librdkafka's "
                               "CONFIGURATION.md.",
                           errstr);
    throw settings_error(property + ": librdkafka refused " + shown + " for \"" + key + "\": " + errstr + ".", errstr);
  }

  void poll_loop() {
    while (!stop_polling.load()) rd_kafka_poll(rk, 50);
  }
};

std::vector<std::pair<std::string, std::string>> KafkaTransport::parse_config(const std::string& config) {
  std::vector<std::pair<std::string, std::string>> out;
  std::vector<std::string> entries(1);
  for (size_t i = 0; i < config.size(); i++) {
    const char c = config[i];
    if (c == '\\' && i + 1 < config.size() && (config[i + 1] == ',' || config[i + 1] == '\\')) {
      entries.back() += config[++i];
    } else if (c == ',') {
      entries.emplace_back();
    } else {
      entries.back() += c;
    }
  }
  for (const std::string& e : entries) {
    if (trim(e).empty()) continue;
    const size_t eq = e.find('=');
    if (eq == std::string::npos)
      throw settings_error("kafka-config has an entry \"" + trim(e) +
                           "\" without '=': write librdkafka settings as key=value,key=value.");
    const std::string key = trim(e.substr(0, eq));
    if (key.empty())
      throw settings_error("kafka-config has an entry without a key before '=': write key=value,key=value.");
    out.emplace_back(key, trim(e.substr(eq + 1)));
  }
  return out;
}

bool KafkaTransport::valid_topic(const std::string& topic) {
  if (topic.empty() || topic.size() > 249 || topic == "." || topic == "..") return false;
  for (char c : topic)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

KafkaTransport::KafkaTransport(KafkaOptions options, TransportCallbacks callbacks)
    : impl_(std::make_shared<Impl>()) {
  Impl& p = *impl_;
  p.opt = std::move(options);
  p.cb = std::move(callbacks);
  p.brokers = check_brokers(p.opt.brokers);
  if (p.opt.topic.empty())
    throw settings_error("kafka-topic is not set: name the Kafka topic the results go to (kafka-brokers is set).");
  if (!valid_topic(p.opt.topic))
    throw settings_error("kafka-topic \"" + p.opt.topic +
                         "\" is not a valid Kafka topic name: use 1 to 249 letters, digits, '.', '_' or '-' "
                         "(and not \".\" or \"..\").");
  std::string acks = trim(p.opt.acks);
  if (acks == "-1") acks = "all";
  if (acks != "0" && acks != "1" && acks != "all")
    throw settings_error("kafka-acks \"" + p.opt.acks +
                         "\" is not one of 0, 1 or all: all (the default) waits for every in-sync replica, 1 for the "
                         "leader, 0 for nothing.");
  p.opt.acks = acks;
  if (p.opt.max_queued == 0) throw settings_error("kafka-queue-size must be at least 1.");
  p.window = std::max<size_t>(1, std::min(kWindow, p.opt.max_queued / 2));
  const auto config = parse_config(p.opt.config);

  p.conf = rd_kafka_conf_new();
  p.set("bootstrap.servers", p.brokers, "kafka-brokers");
  p.set("client.id", "torchmetasink", "kafka-config");
  p.set("acks", acks, "kafka-acks");
  if (acks == "all") {
    p.set("enable.idempotence", "true", "kafka-acks");
  } else {
    // No idempotence without acks=all: one request at a time keeps a retry from
    // overtaking a later batch (order per partition).
    p.set("max.in.flight.requests.per.connection", "1", "kafka-acks");
  }
  // Our queue bounds the memory; inside librdkafka a message waits for a broker for as
  // long as it takes (at most window() of them).
  p.set("message.timeout.ms", "0", "kafka-config");
  // The errors we report (outages, refusals) come through the error callback.
  p.set("log.connection.close", "false", "kafka-config");
  if (!p.opt.security_protocol.empty())
    p.set("security.protocol", p.opt.security_protocol, "kafka-security-protocol");
  if (!p.opt.sasl_mechanism.empty()) p.set("sasl.mechanisms", p.opt.sasl_mechanism, "kafka-sasl-mechanism");
  if (!p.opt.sasl_username.empty()) p.set("sasl.username", p.opt.sasl_username, "kafka-sasl-username");
  if (!p.opt.sasl_password.empty()) p.set("sasl.password", p.opt.sasl_password, "kafka-sasl-password");
  if (!p.opt.ssl_ca_location.empty()) p.set("ssl.ca.location", p.opt.ssl_ca_location, "kafka-ssl-ca-location");
  for (const auto& kv : config) p.set(kv.first, kv.second, "kafka-config");

  rd_kafka_conf_set_opaque(p.conf, impl_.get());
  rd_kafka_conf_set_dr_msg_cb(p.conf, &Impl::on_delivery);
  rd_kafka_conf_set_error_cb(p.conf, &Impl::on_error);
  rd_kafka_conf_set_log_cb(p.conf, &Impl::on_log);
}

KafkaTransport::~KafkaTransport() {
  try {
    stop(std::chrono::milliseconds(500));
  } catch (...) {
  }
}

void KafkaTransport::start() {
  Impl& p = *impl_;
  if (p.started) throw Error(ErrorKind::Init, "The Kafka transport was started twice.");
  p.started = true;
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, p.conf, errstr, sizeof errstr);
  if (!rk) {
    const std::string why = errstr;
    const bool sasl = why.find("SASL") != std::string::npos || why.find("sasl") != std::string::npos;
    throw settings_error("librdkafka refused the Kafka settings: " + why +
                             (sasl ? ". Check kafka-sasl-mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI, "
                                     "OAUTHBEARER) and kafka-security-protocol."
                                   : ". Check kafka-acks, kafka-security-protocol, kafka-sasl-mechanism and "
                                     "kafka-config."),
                         why);
  }
  p.conf = nullptr;  // the producer owns it now
  {
    std::lock_guard<std::mutex> lk(p.mu);
    p.rk = rk;
  }
  try {
    p.poller = std::thread([&p] { p.poll_loop(); });
  } catch (const std::system_error& e) {
    rd_kafka_destroy(rk);
    p.rk = nullptr;
    throw Error(ErrorKind::Init, "Could not start the Kafka poll thread.", e.what());
  }
  p.log(TransportLogLevel::kInfo, "producer for " + p.where() + " (acks=" + p.opt.acks + ", window " +
                                      std::to_string(p.window) + ", queue " + std::to_string(p.opt.max_queued) + ")");
}

void KafkaTransport::publish(const std::string& key, const std::string& payload) {
  Impl& p = *impl_;
  std::vector<Impl::Pending> events;
  {
    std::lock_guard<std::mutex> lk(p.mu);
    if (!p.rk) throw Error(ErrorKind::Write, "The Kafka producer is not running.", "publish outside start/stop");
    if (p.unsent.size() + p.inflight >= p.opt.max_queued) {
      p.dropped++;
      if (p.unsent.empty()) return;  // all in flight: the new one goes
      p.unsent.pop_front();
    }
    p.unsent.push_back({key, payload});
    p.pump_locked(events);
  }
  p.emit(events);
}

size_t KafkaTransport::flush(std::chrono::milliseconds bound) {
  Impl& p = *impl_;
  std::unique_lock<std::mutex> lk(p.mu);
  if (!p.rk) return p.unsent.size();
  p.drained.wait_for(lk, bound, [&p] { return p.unsent.empty() && p.inflight == 0; });
  return p.unsent.size() + p.inflight;
}

size_t KafkaTransport::stop(std::chrono::milliseconds drain) {
  Impl& p = *impl_;
  if (p.stopped) return 0;
  p.stopped = true;
  if (!p.rk) {
    std::lock_guard<std::mutex> lk(p.cb_mu);
    p.cb_enabled = false;
    return 0;
  }
  size_t left = flush(drain);
  p.stop_polling = true;
  if (p.poller.joinable()) p.poller.join();
  {
    std::lock_guard<std::mutex> lk(p.cb_mu);
    p.cb_enabled = false;
  }
  {
    std::lock_guard<std::mutex> lk(p.mu);
    p.purging = true;
    left = p.unsent.size() + p.inflight;
    p.unsent.clear();
  }
  // What librdkafka still holds gets a delivery report with a purge error, served here.
  rd_kafka_purge(p.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT | RD_KAFKA_PURGE_F_NON_BLOCKING);
  rd_kafka_poll(p.rk, 0);
  rd_kafka_t* rk;
  {
    std::lock_guard<std::mutex> lk(p.mu);
    rk = p.rk;
    p.rk = nullptr;
    p.inflight = 0;
  }
  rd_kafka_destroy(rk);
  return left;
}

uint64_t KafkaTransport::dropped() const { return impl_->dropped.load(); }

TransportStats KafkaTransport::stats() const {
  const Impl& p = *impl_;
  std::lock_guard<std::mutex> lk(p.mu);
  TransportStats s;
  s.published = p.published;
  s.dropped = p.dropped.load();
  s.failed = p.failed;
  s.reconnects = p.reconnects;
  s.queued = p.unsent.size() + p.inflight;
  s.connected = p.up;
  return s;
}

std::string KafkaTransport::where() const { return impl_->where(); }

const KafkaOptions& KafkaTransport::options() const { return impl_->opt; }

size_t KafkaTransport::window() const { return impl_->window; }

}  // namespace ta
