// The MQTT transport: messages to a broker through libmosquitto, without ever blocking
// the caller on the network. No GStreamer types: torchmetasink wraps it (transport.h).
//
// The transport owns a bounded queue. publish() appends to it and returns at once; the
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

#include "transport.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ta {

struct MqttOptions {
  std::string host;
  int port = 1883;
  std::string topic;       // empty: "torchanalytics/" + topic_level(key) of each message
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

// Events (TransportEvent): kConnected, kReconnected; kConnectFailed (the broker cannot be
// reached, TLS failed, or libmosquitto's thread gave up), kRefused (a CONNACK refusal),
// kNotAuthorized (CONNACK 4 or 5: bad user name or password, not authorised),
// kConnectionLost. The callbacks run from libmosquitto's thread, the supervisor or
// start(), each under the lock that stop() takes to disable them; on_log also under
// libmosquitto's and the transport's own locks.
class MqttTransport final : public Transport {
 public:
  // Messages handed to libmosquitto at once (its default in-flight maximum).
  static constexpr size_t kWindow = 20;

  // Checks the options and sets the client up; throws ta::Error (Settings for a bad
  // value, NotFound/OpenRead for the CA file, Init when libmosquitto fails). Nothing
  // touches the network yet.
  MqttTransport(MqttOptions options, TransportCallbacks callbacks);
  // stop() with the default drain time, when not already stopped.
  ~MqttTransport() override;

  MqttTransport(const MqttTransport&) = delete;
  MqttTransport& operator=(const MqttTransport&) = delete;

  // Makes the first connection attempt and starts the threads. Does not wait for the
  // broker (a host name is resolved here, though); a broker that cannot be reached is
  // reported through on_event (kConnectFailed, before start() returns when the attempt
  // failed at once) and retried with backoff. Throws ta::Error when the address is not
  // valid or a thread cannot start. Call once.
  void start() override;

  // Queues one message on options().topic, or on "torchanalytics/<key>" (the key made a
  // topic level) when that is empty. Never blocks on the network.
  void publish(const std::string& key, const std::string& payload) override;

  // Waits up to `bound` for queued and in-flight messages to be done, only while the
  // broker is connected or the first connection attempt is still pending (a broker that
  // is away is not waited for). Returns the number still queued.
  size_t flush(std::chrono::milliseconds bound) override;

  // flush(drain), then has the supervisor disconnect, stop the network thread and
  // destroy the client, waiting for that at most 2 s more (a thread stuck in a blocking
  // connect or name lookup is left to finish on its own and then frees everything).
  // Returns the number of messages that were still queued and are discarded. No
  // callback runs once it returned.
  size_t stop(std::chrono::milliseconds drain = std::chrono::milliseconds(2000)) override;

  TransportStats stats() const override;
  uint64_t dropped() const override;
  // host:port
  std::string where() const override;
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
  // The topic of the last key (publish() runs on one thread).
  std::string topic_;
  std::string topic_key_;
  bool topic_made_ = false;
};

}  // namespace ta
