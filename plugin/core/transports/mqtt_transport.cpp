// MQTT publishing through libmosquitto: see mqtt_transport.h for the contract.
//
// Threads:
// - the caller's (the sink's streaming thread): publish() queues and, while the link is
//   up, hands messages to libmosquitto (mosquitto_publish only queues them too);
// - libmosquitto's network thread (mosquitto_loop_start): socket I/O, the callbacks, and
//   the ordinary reconnections with backoff (mosquitto_reconnect_delay_set);
// - the supervisor, ours, from start() to the end: the connection attempts until the
//   first one gets going, a restart of the network thread when libmosquitto gave up
//   (see supervise()), and the teardown, so that stop() never waits on the network.
#include "mqtt_transport.h"

#include "error.h"

#include <mosquitto.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ta {

namespace {

void lib_init_once() {
  // mosquitto_lib_init is not thread safe and must run once per process; cleanup is
  // left to process exit (another user of libmosquitto in the process may need it).
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

std::string mosq_error(int rc, int errsv) {
  // MOSQ_ERR_ERRNO leaves the reason in errno.
  if (rc == MOSQ_ERR_ERRNO) return std::strerror(errsv);
  return mosquitto_strerror(rc);
}

std::string mosq_error(int rc) { return mosq_error(rc, errno); }

std::string host_port(const MqttOptions& o) { return o.host + ":" + std::to_string(o.port); }

// The errors after which libmosquitto's network thread returns from
// mosquitto_loop_forever() for good instead of reconnecting (its "fatal errors", and
// EPROTO, which it gets for TLS failures).
bool stops_network_thread(int rc, int errsv) {
  switch (rc) {
    case MOSQ_ERR_NOMEM:
    case MOSQ_ERR_PROTOCOL:
    case MOSQ_ERR_INVAL:
    case MOSQ_ERR_NOT_FOUND:
    case MOSQ_ERR_TLS:
    case MOSQ_ERR_PAYLOAD_SIZE:
    case MOSQ_ERR_NOT_SUPPORTED:
    case MOSQ_ERR_AUTH:
    case MOSQ_ERR_ACL_DENIED:
    case MOSQ_ERR_UNKNOWN:
    case MOSQ_ERR_EAI:
    case MOSQ_ERR_PROXY:
      return true;
    default:
      return rc != MOSQ_ERR_SUCCESS && errsv == EPROTO;
  }
}

}  // namespace

struct MqttTransport::Impl {
  MqttOptions opt;
  TransportCallbacks cb;
  size_t window = kWindow;
  bool started = false;  // start() was called (owner's thread only)
  bool stopped = false;  // stop() was called (owner's thread only)

  enum class Link { kIdle, kConnecting, kUp, kDown };
  struct Message {
    uint64_t seq;  // publish order
    std::string topic;
    std::string payload;
  };

  // The queue, the link and the client pointer; taken by publish(), the callbacks and
  // the supervisor. Never held while calling the user's on_event.
  mutable std::mutex mu;
  std::condition_variable drained;  // queue empty, or the link changed
  std::condition_variable wake;     // for the supervisor: stopping, or a restart asked
  struct mosquitto* mosq = nullptr;
  bool loop_running = false;        // libmosquitto's thread runs for `mosq`
  std::deque<Message> unsent;       // not yet handed to libmosquitto, oldest first
  // Handed to libmosquitto and not yet done (PUBACK for QoS 1, written for QoS 0), by
  // message id. The copy is what a restart of the client sends again.
  std::unordered_map<int, Message> inflight;
  uint64_t next_seq = 0;
  Link link = Link::kIdle;
  bool outage_reported = false;     // this outage was reported (one warning per outage)
  bool restart_asked = false;       // the network thread stopped: restart it
  bool stopping = false;
  std::atomic<uint64_t> dropped{0};
  uint64_t published = 0;
  uint64_t lost = 0;
  uint64_t failed = 0;
  uint64_t restarts = 0;
  uint64_t reconnects = 0;

  // An error libmosquitto logged: its network thread may have given up without a
  // callback (a failed TLS handshake). Set from on_log, which can run with `mu` held by
  // the caller of mosquitto_publish(), hence atomic and a lock of its own.
  std::atomic<bool> error_logged{false};
  std::mutex err_mu;
  std::string last_error;

  // Serializes the user's callbacks with stop(): none runs once stop() cleared `enabled`.
  std::mutex cb_mu;
  bool cb_enabled = true;

  // The supervisor (see supervise()); `finished` once it destroyed the client.
  std::thread supervisor;
  bool finished = false;            // with mu
  std::condition_variable finished_cv;

  // The sentence for the user that goes with an event.
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
      case TransportEvent::kDeliveryFailed: return "The MQTT client refused a message.";  // not emitted
    }
    return {};
  }

  void emit(TransportEvent ev, const std::string& detail) {
    const bool connack = ev == TransportEvent::kRefused || ev == TransportEvent::kNotAuthorized;
    const std::string msg = sentence(ev);
    std::lock_guard<std::mutex> lk(cb_mu);
    if (cb_enabled && cb.on_event) cb.on_event(ev, msg, connack ? "CONNACK: " + detail : detail);
  }

  void log(TransportLogLevel level, const std::string& msg) {
    std::lock_guard<std::mutex> lk(cb_mu);
    if (cb_enabled && cb.on_log) cb.on_log(level, msg);
  }

  // Whoever reports the current outage first (a callback, start(), the supervisor).
  bool claim_report_locked() {
    if (outage_reported) return false;
    outage_reported = true;
    return true;
  }
  bool claim_report() {
    std::lock_guard<std::mutex> lk(mu);
    return claim_report_locked();
  }

  // The link goes down after the outage is reported, not before: stop() stops waiting
  // when it sees the link down and then disables the callbacks, which would swallow a
  // report still on its way (a refused CONNACK arriving while the sink stops).
  void link_down() {
    {
      std::lock_guard<std::mutex> lk(mu);
      link = Link::kDown;
    }
    drained.notify_all();
  }

  // The wait before attempt n (0, 1, ...): libmosquitto's "exponential" backoff, which
  // is delay * (n + 1)^2 capped at the maximum (1, 4, 9, 16, 25, 30 s by default).
  std::chrono::seconds backoff(unsigned n) const {
    const uint64_t k = static_cast<uint64_t>(std::min(n, 1000u)) + 1;
    const uint64_t d = static_cast<uint64_t>(opt.reconnect_delay_s) * k * k;
    return std::chrono::seconds(std::min<uint64_t>(d, opt.reconnect_delay_max_s));
  }

  // A new libmosquitto client with the options; throws ta::Error.
  struct mosquitto* make_client() {
    // A clean session: the queue that survives an outage is ours (and libmosquitto's
    // in-flight list), not a session on the broker.
    struct mosquitto* m = mosquitto_new(opt.client_id.c_str(), true, this);
    if (!m)
      throw Error(ErrorKind::Init, "Could not create the MQTT client.",
                  std::string("mosquitto_new: ") + std::strerror(errno));
    mosquitto_connect_callback_set(m, &Impl::on_connect);
    mosquitto_disconnect_callback_set(m, &Impl::on_disconnect);
    mosquitto_publish_callback_set(m, &Impl::on_publish);
    mosquitto_log_callback_set(m, &Impl::on_log);
    mosquitto_reconnect_delay_set(m, opt.reconnect_delay_s, opt.reconnect_delay_max_s, true);
    // Results are small and should leave at once.
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);

    int rc;
    if (!opt.username.empty()) {
      rc = mosquitto_username_pw_set(m, opt.username.c_str(), opt.password.empty() ? nullptr : opt.password.c_str());
      if (rc != MOSQ_ERR_SUCCESS) {
        mosquitto_destroy(m);
        throw Error(ErrorKind::Settings, "The MQTT user name or password is not valid UTF-8.", mosq_error(rc));
      }
    }
    if (!opt.ca_file.empty()) {
      rc = mosquitto_tls_set(m, opt.ca_file.c_str(), nullptr, nullptr, nullptr, nullptr);
      if (rc != MOSQ_ERR_SUCCESS) {
        const std::string detail = "mosquitto_tls_set: " + mosq_error(rc);
        mosquitto_destroy(m);
        if (rc == MOSQ_ERR_NOT_SUPPORTED)
          throw Error(ErrorKind::Init, "This libmosquitto was built without TLS support: unset mqtt-ca-file.", detail);
        throw Error(ErrorKind::OpenRead, "Could not use the MQTT CA file \"" + opt.ca_file + "\".", detail);
      }
    }
    return m;
  }

  // Hands queued messages to libmosquitto while the link is up and the window has room.
  // Called with `mu` held, so that on_publish cannot see a mid before it is recorded.
  void pump_locked() {
    while (link == Link::kUp && !stopping && mosq && !unsent.empty() && inflight.size() < window) {
      Message& m = unsent.front();
      int mid = 0;
      const int rc = mosquitto_publish(mosq, &mid, m.topic.c_str(), static_cast<int>(m.payload.size()),
                                       m.payload.data(), opt.qos, false);
      if (rc == MOSQ_ERR_SUCCESS || (rc == MOSQ_ERR_NO_CONN && opt.qos > 0)) {
        // With QoS 1 libmosquitto keeps the message even when the connection just went
        // away (NO_CONN): it sends it again once reconnected, and on_publish follows.
        inflight.emplace(mid, std::move(m));
        unsent.pop_front();
      } else if (rc == MOSQ_ERR_NO_CONN) {
        // QoS 0 and the connection is going: keep it for the next one (on_disconnect is
        // on its way and will set the link down).
        break;
      } else {
        failed++;
        log(TransportLogLevel::kWarning, "libmosquitto refused a message (" + std::to_string(m.payload.size()) +
                                        " bytes on '" + m.topic + "'): " + mosq_error(rc));
        unsent.pop_front();
      }
    }
  }

  // Stops libmosquitto's thread for `m` and waits until it ended, however long that
  // takes (a blocking TCP connect of a reconnection). mosquitto_disconnect() tells the
  // thread to end; a reconnection that was already under way undoes it, so it is said
  // again until the thread is gone. Supervisor only.
  static void stop_network_thread(struct mosquitto* m) {
    std::mutex jm;
    std::condition_variable jcv;
    bool joined = false;
    std::thread joiner([&] {
      mosquitto_loop_stop(m, false);
      std::lock_guard<std::mutex> lk(jm);
      joined = true;
      jcv.notify_all();
    });
    std::unique_lock<std::mutex> lk(jm);
    do {
      mosquitto_disconnect(m);
    } while (!jcv.wait_for(lk, std::chrono::milliseconds(250), [&] { return joined; }));
    lk.unlock();
    joiner.join();
  }

  // Ends the network thread and destroys the client; the QoS 1 messages in flight go
  // back to the front of the queue (sent again by the next client: at least once), the
  // QoS 0 ones are lost (at most once). Supervisor only.
  void drop_client() {
    struct mosquitto* m;
    bool running;
    {
      std::lock_guard<std::mutex> lk(mu);
      m = mosq;
      running = loop_running;
      link = Link::kDown;
    }
    drained.notify_all();
    if (!m) return;
    if (running) stop_network_thread(m);
    std::lock_guard<std::mutex> lk(mu);
    if (opt.qos > 0) {
      std::vector<Message> back;
      for (auto& kv : inflight) back.push_back(std::move(kv.second));
      std::sort(back.begin(), back.end(), [](const Message& a, const Message& b) { return a.seq < b.seq; });
      for (auto it = back.rbegin(); it != back.rend(); ++it) unsent.push_front(std::move(*it));
    } else {
      lost += inflight.size();
    }
    inflight.clear();
    mosquitto_destroy(m);
    mosq = nullptr;
    loop_running = false;
  }

  // The supervisor. While libmosquitto's thread is not running: connection attempts
  // with backoff until one gets going (mosquitto_connect_async succeeds), then
  // mosquitto_loop_start. While it runs: it reconnects by itself, except after the
  // errors that end it (TLS, protocol; sometimes without a callback), so the client is
  // restarted when one was seen, or when the link stayed down longer than any of its
  // retries would take. At the end: the teardown.
  void supervise() {
    unsigned n = 0;
    const auto stall_limit =
        std::chrono::seconds(opt.keepalive_s) + std::chrono::seconds(opt.reconnect_delay_max_s) + std::chrono::seconds(5);
    auto progress = std::chrono::steady_clock::now();
    for (;;) {
      bool running;
      {
        std::lock_guard<std::mutex> lk(mu);
        if (stopping) break;
        running = loop_running;
      }
      if (!running) {
        {
          std::unique_lock<std::mutex> lk(mu);
          if (wake.wait_for(lk, backoff(n), [this] { return stopping; })) break;
        }
        n++;
        if (!attempt()) continue;
        progress = std::chrono::steady_clock::now();
        continue;
      }

      bool restart = false, report = false;
      std::string detail;
      {
        std::unique_lock<std::mutex> lk(mu);
        wake.wait_for(lk, std::chrono::seconds(1), [this] { return stopping || restart_asked; });
        if (stopping) break;
        const auto now = std::chrono::steady_clock::now();
        const bool hint = error_logged.exchange(false);
        if (link == Link::kUp) {
          n = 0;
          progress = now;
        } else if (restart_asked || hint || now - progress > stall_limit) {
          restart = true;
          report = claim_report_locked();
          detail = restart_asked || hint ? "the MQTT client stopped after an error" : "no connection";
        }
        restart_asked = false;
      }
      if (!restart) continue;
      {
        std::lock_guard<std::mutex> lk(err_mu);
        if (!last_error.empty()) detail = last_error;
      }
      // Reported before drop_client() sets the link down (see link_down()).
      if (report) emit(TransportEvent::kConnectFailed, detail);
      log(TransportLogLevel::kDebug, "restarting the MQTT client (" + detail + ")");
      drop_client();
      {
        std::lock_guard<std::mutex> lk(mu);
        restarts++;
      }
    }
    drop_client();
    std::lock_guard<std::mutex> lk(mu);
    finished = true;
    finished_cv.notify_all();
  }

  // One connection attempt from the supervisor, with a new client when the last one was
  // dropped. True when it got going and libmosquitto's thread took over.
  bool attempt() {
    struct mosquitto* m;
    {
      std::lock_guard<std::mutex> lk(mu);
      m = mosq;
    }
    if (!m) {
      try {
        m = make_client();
      } catch (const std::exception& e) {
        log(TransportLogLevel::kError, e.what());
        return false;
      }
      std::lock_guard<std::mutex> lk(mu);
      mosq = m;
    }
    {
      std::lock_guard<std::mutex> lk(err_mu);
      last_error.clear();
    }
    error_logged = false;
    const int rc = mosquitto_connect_async(m, opt.host.c_str(), opt.port, opt.keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) {
      const std::string reason = error_detail(rc, errno);
      if (claim_report())
        emit(TransportEvent::kConnectFailed, reason);
      else
        log(TransportLogLevel::kDebug, "connection attempt failed: " + reason);
      return false;
    }
    std::lock_guard<std::mutex> lk(mu);
    if (stopping) return false;  // the teardown destroys the client, which closes the socket
    const int lrc = mosquitto_loop_start(m);
    if (lrc != MOSQ_ERR_SUCCESS) {
      log(TransportLogLevel::kError, "could not start the MQTT network thread: " + mosq_error(lrc));
      return false;
    }
    loop_running = true;
    return true;
  }

  // The text for a failure: for the errors that end libmosquitto's thread (TLS above all)
  // the error it logged just before on the same thread (OpenSSL's "certificate verify
  // failed") says more than its code ("A TLS error occurred.").
  std::string error_detail(int rc, int errsv) {
    if (stops_network_thread(rc, errsv)) {
      std::lock_guard<std::mutex> lk(err_mu);
      if (!last_error.empty()) return last_error;
    }
    return mosq_error(rc, errsv);
  }

  static Impl* self(void* ud) { return static_cast<Impl*>(ud); }

  static void on_connect(struct mosquitto*, void* ud, int rc) {
    Impl* p = self(ud);
    if (rc == 0) {
      bool again;
      size_t queued;
      {
        std::lock_guard<std::mutex> lk(p->mu);
        if (p->stopping) return;
        // Back after an outage that was reported (the first connection is not "again").
        again = p->outage_reported;
        p->outage_reported = false;
        if (again) p->reconnects++;
        p->link = Link::kUp;
        queued = p->unsent.size() + p->inflight.size();
        p->pump_locked();
      }
      p->drained.notify_all();
      p->emit(again ? TransportEvent::kReconnected : TransportEvent::kConnected,
              host_port(p->opt) + ", " + std::to_string(queued) + " messages queued");
      return;
    }
    const std::string reason = mosquitto_connack_string(rc);
    if (p->claim_report())
      // MQTT 3.1.1 CONNACK 4: bad user name or password, 5: not authorised.
      p->emit(rc == 4 || rc == 5 ? TransportEvent::kNotAuthorized : TransportEvent::kRefused, reason);
    else
      p->log(TransportLogLevel::kDebug, "connection refused again: " + reason);
    p->link_down();
  }

  static void on_disconnect(struct mosquitto*, void* ud, int rc) {
    const int errsv = errno;
    Impl* p = self(ud);
    const std::string reason = rc == 0 ? std::string("disconnected") : p->error_detail(rc, errsv);
    Link prev;
    bool report;
    size_t forgotten = 0;
    const bool fatal = stops_network_thread(rc, errsv);
    {
      std::lock_guard<std::mutex> lk(p->mu);
      prev = p->link;
      report = rc != 0 && p->claim_report_locked();
      if (p->opt.qos == 0) {
        // libmosquitto drops QoS 0 packets it had not written yet: they may or may not
        // have reached the broker. At most once: do not send them again.
        forgotten = p->inflight.size();
        p->lost += forgotten;
        p->inflight.clear();
      }
      if (fatal) p->restart_asked = true;
    }
    if (fatal) p->wake.notify_all();
    if (forgotten)
      p->log(TransportLogLevel::kDebug, std::to_string(forgotten) + " QoS 0 messages in flight were lost");
    if (report)
      p->emit(prev == Link::kUp ? TransportEvent::kConnectionLost : TransportEvent::kConnectFailed, reason);
    else
      p->log(TransportLogLevel::kDebug, "disconnected: " + reason);
    p->link_down();
  }

  static void on_publish(struct mosquitto*, void* ud, int mid) {
    Impl* p = self(ud);
    bool empty;
    {
      std::lock_guard<std::mutex> lk(p->mu);
      if (p->inflight.erase(mid) == 0) return;  // a QoS 0 message forgotten at a disconnect
      p->published++;
      p->pump_locked();
      empty = p->unsent.empty() && p->inflight.empty();
    }
    if (empty) p->drained.notify_all();
  }

  // Can run on any thread that calls into libmosquitto, also with `mu` held.
  static void on_log(struct mosquitto*, void* ud, int level, const char* str) {
    Impl* p = self(ud);
    TransportLogLevel l = TransportLogLevel::kLog;
    switch (level) {
      case MOSQ_LOG_ERR:
        l = TransportLogLevel::kError;
        {
          std::lock_guard<std::mutex> lk(p->err_mu);
          p->last_error = str ? str : "";
        }
        p->error_logged = true;
        break;
      case MOSQ_LOG_WARNING: l = TransportLogLevel::kWarning; break;
      case MOSQ_LOG_NOTICE:
      case MOSQ_LOG_INFO: l = TransportLogLevel::kInfo; break;
      default: l = TransportLogLevel::kLog; break;  // DEBUG: one line per packet
    }
    p->log(l, str ? str : "");
  }
};

MqttTransport::MqttTransport(MqttOptions options, TransportCallbacks callbacks) : impl_(std::make_shared<Impl>()) {
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
  if (o.qos < 0 || o.qos > 1)
    throw Error(ErrorKind::Settings, "The MQTT QoS must be 0 or 1.", std::to_string(o.qos));
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
      throw Error(ErrorKind::NotFound, "The MQTT CA file \"" + o.ca_file + "\" does not exist.",
                  std::strerror(errno));
    if (access(o.ca_file.c_str(), R_OK) != 0)
      throw Error(ErrorKind::OpenRead, "The MQTT CA file \"" + o.ca_file + "\" cannot be read.",
                  std::strerror(errno));
  }
  if (o.client_id.empty()) o.client_id = make_client_id();
  if (o.client_id.size() > 65535 ||
      mosquitto_validate_utf8(o.client_id.c_str(), static_cast<int>(o.client_id.size())) != MOSQ_ERR_SUCCESS)
    throw Error(ErrorKind::Settings, "The MQTT client id must be valid UTF-8 of at most 65535 bytes.");
  p.window = std::min(kWindow, o.max_queued);

  lib_init_once();
  p.mosq = p.make_client();
}

MqttTransport::~MqttTransport() {
  try {
    stop();
  } catch (...) {
  }
}

void MqttTransport::start() {
  Impl& p = *impl_;
  if (p.started) return;
  p.log(TransportLogLevel::kInfo, "publishing to MQTT broker " + host_port(p.opt) + " as " + p.opt.client_id +
                                      ", QoS " + std::to_string(p.opt.qos) + (p.opt.ca_file.empty() ? "" : ", TLS") +
                                      (p.opt.username.empty() ? "" : ", with a user name"));
  {
    std::lock_guard<std::mutex> lk(p.mu);
    p.link = Impl::Link::kConnecting;
  }
  // The first attempt here, so that a broker that is down is reported before start()
  // returns. With an address it does not block (a non-blocking TCP connect); a host
  // name is resolved here. Connect first, then start the thread: the other order lets
  // the thread start a reconnection of its own at the same time.
  const int rc = mosquitto_connect_async(p.mosq, p.opt.host.c_str(), p.opt.port, p.opt.keepalive_s);
  if (rc == MOSQ_ERR_INVAL)
    throw Error(ErrorKind::Settings, "The MQTT broker address " + host_port(p.opt) + " is not valid.", mosq_error(rc));
  const std::string reason = rc == MOSQ_ERR_SUCCESS ? std::string() : p.error_detail(rc, errno);

  if (rc == MOSQ_ERR_SUCCESS) {
    // Under way: libmosquitto's thread finishes it, and reconnects with backoff from now on.
    const int lrc = mosquitto_loop_start(p.mosq);
    if (lrc != MOSQ_ERR_SUCCESS)
      throw Error(ErrorKind::Init, "Could not start the MQTT network thread.", mosq_error(lrc));
    std::lock_guard<std::mutex> lk(p.mu);
    p.loop_running = true;
  } else {
    // Failed at once (connection refused, name not resolved). libmosquitto 2.0's thread
    // would never retry this one (it waits for a state that does not come): the
    // supervisor does, and starts the thread once an attempt gets going.
    const bool report = p.claim_report();
    p.link_down();
    if (report) p.emit(TransportEvent::kConnectFailed, reason);
  }
  std::shared_ptr<Impl> keep = impl_;
  try {
    p.supervisor = std::thread([keep] { keep->supervise(); });
  } catch (const std::system_error& e) {
    bool running;
    {
      std::lock_guard<std::mutex> lk(p.mu);
      running = p.loop_running;
      p.loop_running = false;
    }
    if (running) Impl::stop_network_thread(p.mosq);
    throw Error(ErrorKind::Init, "Could not start the MQTT supervisor thread.", e.what());
  }
  p.started = true;
}

void MqttTransport::publish(const std::string& key, const std::string& payload) {
  Impl& p = *impl_;
  if (!topic_made_ || (p.opt.topic.empty() && key != topic_key_)) {
    topic_ = p.opt.topic.empty() ? "torchanalytics/" + topic_level(key) : p.opt.topic;
    topic_key_ = key;
    topic_made_ = true;
    p.log(TransportLogLevel::kInfo, "publishing on MQTT topic " + topic_);
  }
  std::lock_guard<std::mutex> lk(p.mu);
  if (p.stopping) return;
  if (p.unsent.size() + p.inflight.size() >= p.opt.max_queued) {
    p.dropped++;
    if (p.unsent.empty()) return;  // all in flight: drop the new one
    p.unsent.pop_front();          // oldest first
  }
  p.unsent.push_back({p.next_seq++, topic_, payload});
  p.pump_locked();
}

size_t MqttTransport::flush(std::chrono::milliseconds bound) {
  Impl& p = *impl_;
  std::unique_lock<std::mutex> lk(p.mu);
  if (p.started && !p.stopping && bound.count() > 0) {
    // Waiting makes sense only while something can still be delivered: the link is up,
    // or the first connection attempt has not answered yet (a short pipeline can reach
    // EOS before the CONNACK). A broker that is away is not waited for.
    p.drained.wait_for(lk, bound, [&p] {
      return (p.unsent.empty() && p.inflight.empty()) || p.link == Impl::Link::kDown;
    });
  }
  return p.unsent.size() + p.inflight.size();
}

size_t MqttTransport::stop(std::chrono::milliseconds drain) {
  Impl& p = *impl_;
  if (p.stopped) return 0;
  p.stopped = true;

  flush(drain);
  size_t remaining;
  {
    std::lock_guard<std::mutex> lk(p.mu);
    remaining = p.unsent.size() + p.inflight.size();
    p.stopping = true;
    p.unsent.clear();
  }
  p.wake.notify_all();
  {
    std::lock_guard<std::mutex> lk(p.cb_mu);
    p.cb_enabled = false;
  }
  if (!p.started) {
    // No thread ever ran: the client is ours alone.
    mosquitto_destroy(p.mosq);
    p.mosq = nullptr;
    return remaining;
  }

  // The supervisor disconnects, stops libmosquitto's thread and destroys the client.
  // That can wait on the network (a blocking TCP connect or name lookup of a
  // reconnection): wait a bounded time, and leave a supervisor that does not finish to
  // free the client (and Impl, through its shared_ptr) when libmosquitto lets go. No
  // callback reaches the user meanwhile: they are disabled above.
  bool done;
  {
    std::unique_lock<std::mutex> lk(p.mu);
    done = p.finished_cv.wait_for(lk, std::chrono::milliseconds(2000), [&p] { return p.finished; });
  }
  if (done)
    p.supervisor.join();
  else
    p.supervisor.detach();
  return remaining;
}

uint64_t MqttTransport::dropped() const { return impl_->dropped.load(); }

TransportStats MqttTransport::stats() const {
  const Impl& p = *impl_;
  std::lock_guard<std::mutex> lk(p.mu);
  TransportStats s;
  s.published = p.published;
  s.dropped = p.dropped.load();
  s.lost = p.lost;
  s.failed = p.failed;
  s.restarts = p.restarts;
  s.reconnects = p.reconnects;
  s.queued = p.unsent.size() + p.inflight.size();
  s.connected = p.link == Impl::Link::kUp;
  return s;
}

const MqttOptions& MqttTransport::options() const { return impl_->opt; }

std::string MqttTransport::where() const { return host_port(impl_->opt); }

bool MqttTransport::valid_topic(const std::string& topic) {
  if (topic.empty() || topic.size() > 65535) return false;
  if (mosquitto_validate_utf8(topic.c_str(), static_cast<int>(topic.size())) != MOSQ_ERR_SUCCESS) return false;
  return mosquitto_pub_topic_check(topic.c_str()) == MOSQ_ERR_SUCCESS;
}

std::string MqttTransport::topic_level(const std::string& s) {
  std::string out = s.empty() ? std::string("_") : s;
  for (char& c : out) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '+' || c == '#' || c == '/' || u < 0x20 || u == 0x7f) c = '_';
  }
  if (mosquitto_validate_utf8(out.c_str(), static_cast<int>(out.size())) != MOSQ_ERR_SUCCESS) {
    for (char& c : out)
      if (static_cast<unsigned char>(c) >= 0x80) c = '_';
  }
  if (out.size() > 60000) out.resize(60000);
  return out;
}

std::string MqttTransport::make_client_id() {
  static std::atomic<uint32_t> counter{0};
  static const uint32_t seed = [] {
    std::random_device rd;
    return rd() ^ (static_cast<uint32_t>(getpid()) << 12);
  }();
  // A different id for every call in this process; across processes, the seed.
  const uint32_t n = counter.fetch_add(1);
  uint32_t x = seed + n * 0x9e3779b9u;
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  char buf[32];
  std::snprintf(buf, sizeof buf, "torchmetasink-%08x", x);
  return buf;
}

}  // namespace ta
