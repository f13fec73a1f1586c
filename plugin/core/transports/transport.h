// Where torchmetasink's JSON Lines go: one interface for every transport (a file or
// stdout, an MQTT broker, a Kafka cluster). No GStreamer types: the element picks the
// transports from its properties, hands each the line the serializer (json_lines.h) made,
// and turns what comes back (ta::Error, TransportEvent) into GStreamer messages.
//
// The life of a transport: constructed with its options (checked there: ta::Error),
// start() once, publish() per frame from one thread, flush() at EOS, stop() once.
// stats() and dropped() may be called from any thread meanwhile.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace ta {

// What a connection did. A transport reports each outage once: the first failure after
// a connection (or after start), not every retry of its backoff.
enum class TransportEvent {
  kConnected,       // connected at the first attempt after start()
  kReconnected,     // connected after a reported outage (at start or later)
  kConnectFailed,   // could not reach the peer, or TLS failed (detail: the reason); retrying
  kRefused,         // the peer refused the connection (detail: its reason); retrying
  kNotAuthorized,   // refused for bad credentials or not authorised; retrying
  kConnectionLost,  // an established connection went away; retrying
  kDeliveryFailed,  // the peer or the client refused messages for good (detail: the reason)
};

enum class TransportLogLevel { kError, kWarning, kInfo, kDebug, kLog };

struct TransportCallbacks {
  // Called from the transport's own threads or from start(); never after stop()
  // returned. They may call dropped() but no other method of the transport (its locks
  // can be held). Neither ever sees a password.
  // `message`: one sentence for the user (what happened, what is done about it);
  // `detail`: the technical reason.
  std::function<void(TransportEvent, const std::string& message, const std::string& detail)> on_event;
  std::function<void(TransportLogLevel, const std::string& message)> on_log;
};

struct TransportStats {
  uint64_t published = 0;  // messages (lines) done: written, or acknowledged by the peer
  uint64_t dropped = 0;    // dropped because the queue was full
  uint64_t lost = 0;       // in flight when a connection went away, not sent again (QoS 0)
  uint64_t failed = 0;     // refused by the client library (e.g. payload too large)
  uint64_t restarts = 0;   // clients restarted after a fatal error
  uint64_t reconnects = 0; // connections made again after a reported outage
  size_t queued = 0;       // waiting or in flight now
  bool connected = false;  // a file: open
};

class Transport {
 public:
  virtual ~Transport() = default;

  // Opens the output or starts connecting; never waits for a network peer. Throws
  // ta::Error (a file that cannot be created: ErrorKind::OpenWrite).
  virtual void start() = 0;

  // One message: `payload` is one JSON object without a newline; `key` is the stream
  // name (the MQTT topic is made of it, Kafka's message key). A file writes it whole
  // before it returns; a network transport only queues it, and never blocks on the
  // network. Throws ta::Error when the output failed for good (Write, NoSpaceLeft).
  virtual void publish(const std::string& key, const std::string& payload) = 0;

  // Waits up to `bound` for what was published to be done; returns how many messages
  // are still pending. Throws ta::Error when the output failed.
  virtual size_t flush(std::chrono::milliseconds bound) = 0;

  // flush(drain), then closes or disconnects. Returns the number of messages that were
  // still pending and are discarded. No callback runs once it returned. Throws ta::Error
  // (ErrorKind::Close) when closing failed; the transport is stopped all the same.
  virtual size_t stop(std::chrono::milliseconds drain) = 0;

  virtual TransportStats stats() const = 0;
  // stats().dropped without locks: callable from the callbacks too.
  virtual uint64_t dropped() const = 0;
  // Where the messages go, for messages: a path, "stdout", "host:port".
  virtual std::string where() const = 0;
};

}  // namespace ta
