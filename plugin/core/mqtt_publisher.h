// Publishing messages to an MQTT broker through libmosquitto, without ever blocking the
// caller on the network. No GStreamer types: torchmetasink wraps it.
//
// The publisher owns a bounded queue. publish() appends to it and returns at once; the
// messages go to libmosquitto only while the connection is up, at most kWindow at a
// time, and each stays counted, with a copy, until libmosquitto reports it done
// (on_publish: PUBACK for QoS 1, written to the socket for QoS 0).
//
// libmosquitto's own thread (mosquitto_loop_start) does the network I/O and reconnects
// with backoff. A supervisor thread of ours covers what it does not: when the very first
// attempt fails at once (libmosquitto 2.0's thread would never retry that one) it retries
// with the same backoff until one gets going, and when libmosquitto's thread gives up for
// good (a TLS or protocol error, sometimes without any callback) it restarts the client.
//
// When the queue is full, the oldest message not yet handed to libmosquitto is dropped
// (the new one when all are in flight) and counted in dropped().
//
// Across a lost connection: QoS 1 messages in flight stay with libmosquitto, which
// sends them again after it reconnects, and when the client is restarted our copies go
// back to the front of the queue (duplicates are possible, losses are not while the queue
// has room); QoS 0 messages in flight are forgotten (at most once). Messages not yet
// handed over wait in the queue for the next connection, whatever the QoS.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace ta {

struct MqttOptions {
  std::string host;
  int port = 1883;
  std::string client_id;   // empty: a unique one is made (see make_client_id)
  std::string username;    // empty: no authentication
  std::string password;    // used only with a username
  std::string ca_file;     // non-empty: TLS, the broker's certificate checked against it
  int keepalive_s = 30;
  int qos = 0;             // 0 or 1
  size_t max_queued = 1000;
  unsigned reconnect_delay_s = 1;       // first retry; then 4, 9, 16... s
  unsigned reconnect_delay_max_s = 30;  // (libmosquitto's "exponential" backoff)
};

// What the connection did. The publisher reports each outage once: the first failure
// after a connection (or after start), not every retry of the backoff.
enum class MqttEvent {
  kConnected,       // connected at the first attempt after start()
  kReconnected,     // connected after a reported outage (at start or later)
  kConnectFailed,   // could not reach the broker, or TLS failed (detail: the reason); retrying
  kRefused,         // the broker refused the connection (detail: its reason); retrying
  kNotAuthorized,   // refused for bad username/password or not authorised; retrying
  kConnectionLost,  // an established connection went away; retrying
};

enum class MqttLogLevel { kError, kWarning, kInfo, kDebug, kLog };

struct MqttCallbacks {
  // Called from libmosquitto's thread, the connector thread or start(); never after
  // stop() returned. Each runs under the lock that stop() takes to disable them, and
  // on_log also under libmosquitto's and the publisher's own locks: they may call
  // dropped() (lock-free) but no other method, or they deadlock. Neither sees the
  // password.
  std::function<void(MqttEvent, const std::string& detail)> on_event;
  std::function<void(MqttLogLevel, const std::string& message)> on_log;
};

struct MqttStats {
  uint64_t published = 0;  // handed over and reported done by libmosquitto
  uint64_t dropped = 0;    // dropped because the queue was full
  uint64_t lost = 0;       // QoS 0 messages in flight when a connection went away
  uint64_t failed = 0;     // refused by libmosquitto itself (e.g. payload too large)
  uint64_t restarts = 0;   // clients restarted after libmosquitto's thread gave up
  size_t queued = 0;       // waiting or in flight now
  bool connected = false;
};

class MqttPublisher {
 public:
  // Messages handed to libmosquitto at once (its default in-flight maximum).
  static constexpr size_t kWindow = 20;

  // Checks the options and sets the client up; throws ta::Error (Settings for a bad
  // value, NotFound/OpenRead for the CA file, Init when libmosquitto fails). Nothing
  // touches the network yet.
  MqttPublisher(MqttOptions options, MqttCallbacks callbacks);
  // stop() with the default drain time, when not already stopped.
  ~MqttPublisher();

  MqttPublisher(const MqttPublisher&) = delete;
  MqttPublisher& operator=(const MqttPublisher&) = delete;

  // Makes the first connection attempt and starts the threads. Does not wait for the
  // broker (a host name is resolved here, though); a broker that cannot be reached is
  // reported through on_event (kConnectFailed, before start() returns when the attempt
  // failed at once) and retried with backoff. Throws ta::Error when the address is not
  // valid or a thread cannot start. Call once.
  void start();

  // Queues one message. Never blocks on the network. The topic must be valid for
  // publishing (see valid_topic).
  void publish(const std::string& topic, std::string payload);

  // Waits up to `drain` for queued and in-flight messages to be done (only while the
  // broker is connected, or while the first connection attempt is still pending), then
  // has the supervisor disconnect, stop the network thread and destroy the client,
  // waiting for that at most 2 s more (a thread stuck in a blocking connect or name
  // lookup is left to finish on its own and then frees everything).
  // Returns the number of messages that were still queued and are discarded. No
  // callback runs once it returned.
  size_t stop(std::chrono::milliseconds drain = std::chrono::milliseconds(2000));

  uint64_t dropped() const;
  MqttStats stats() const;
  const MqttOptions& options() const;

  // A valid topic to publish on: not empty, no '+' or '#', valid UTF-8, at most 65535 bytes.
  static bool valid_topic(const std::string& topic);
  // `s` as one topic level: '+', '#' and '/' become '_' (and an empty string "_").
  static std::string topic_level(const std::string& s);
  // A client id unique to this process and call, at most 23 characters as MQTT 3.1.1
  // asks: "torchmetasink-" and 8 hex digits.
  static std::string make_client_id();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace ta
