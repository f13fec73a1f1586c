// The Kafka transport: messages to a Kafka topic through librdkafka, without ever
// blocking the caller on the network. No GStreamer types: torchmetasink wraps it
// (transport.h).
//
// Each message is keyed by its stream name, so that librdkafka's partitioner puts every
// message of one camera in the same partition, where Kafka keeps them in order.
//
// The transport owns a bounded queue of `max_queued` messages: those waiting in it plus
// those handed to librdkafka and not yet acknowledged. publish() appends and returns at
// once; at most window() messages are inside librdkafka at a time, and each stays counted
// until its delivery report. When the queue is full, the oldest message not yet handed
// to librdkafka is dropped (the new one when none waits) and counted in dropped().
// Messages inside librdkafka are never dropped by us: librdkafka retries them until a
// broker takes them (message.timeout.ms is 0, "forever", unless kafka-config says
// otherwise), so an outage costs the oldest waiting messages, never the ones in flight.
//
// With acks "all" the producer is idempotent (enable.idempotence): retries after a lost
// connection neither duplicate nor reorder messages within a partition. With acks "0" or
// "1" idempotence is not possible; the transport then keeps one request in flight per
// broker (max.in.flight=1) so that a retry cannot overtake a later batch, and a message
// can still be lost (acks 0: never confirmed; 1: the leader failing before a follower
// copied it) or duplicated (a retry of a batch that was written).
//
// A thread of ours serves librdkafka's delivery reports and errors (rd_kafka_poll every
// 50 ms); librdkafka's own threads do the network I/O and reconnect with backoff.
#pragma once

#include "transport.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ta {

struct KafkaOptions {
  std::string brokers;             // "host:port,host:port" (port default 9092)
  std::string topic;
  std::string acks = "all";        // "0", "1" or "all" ("-1" is "all")
  std::string security_protocol;   // empty: librdkafka's default (plaintext)
  std::string sasl_mechanism;      // empty: librdkafka's default (GSSAPI)
  std::string sasl_username;
  std::string sasl_password;       // never logged
  std::string ssl_ca_location;     // PEM file (or directory) of CAs for TLS
  std::string config;              // "key=value,key=value": more librdkafka settings, applied last
  size_t max_queued = 1000;
};

// Events (TransportEvent): kConnected (the first delivery confirmed), kReconnected (the
// first confirmed after a reported outage), kConnectFailed (no broker reachable, a name
// that does not resolve, TLS failed), kConnectionLost (every broker went away after a
// delivery), kNotAuthorized (SASL failed), kDeliveryFailed (a message refused for good,
// once per error until a delivery succeeds again). The callbacks run from the poll thread
// or from librdkafka's threads (on_log), under a lock that stop() takes to disable them.
class KafkaTransport final : public Transport {
 public:
  // Messages inside librdkafka at once, at most (and at most half the queue).
  static constexpr size_t kWindow = 100;

  // Checks the options and builds librdkafka's configuration; throws ta::Error
  // (Settings, naming the property and the fix) for a bad value: no brokers, a broker
  // that is not host[:port], a topic Kafka would refuse, acks not 0/1/all, an option or
  // value librdkafka does not know (kafka-config, kafka-security-protocol, ...).
  // Nothing touches the network yet.
  KafkaTransport(KafkaOptions options, TransportCallbacks callbacks);
  // stop() with a short drain, when not already stopped.
  ~KafkaTransport() override;

  KafkaTransport(const KafkaTransport&) = delete;
  KafkaTransport& operator=(const KafkaTransport&) = delete;

  // Creates the producer (librdkafka then connects in the background) and the poll
  // thread. Does not wait for a broker. Throws ta::Error (Settings) when librdkafka
  // refuses the combination of settings (e.g. enable.idempotence with acks=1).
  void start() override;

  // Queues one message with `key` as its Kafka key. Never blocks on the network.
  void publish(const std::string& key, const std::string& payload) override;

  // Waits up to `bound` for every queued message to be acknowledged (or refused);
  // returns the number still queued.
  size_t flush(std::chrono::milliseconds bound) override;

  // flush(drain), then purges what is left and destroys the producer. Returns the number
  // of messages that were still queued and are discarded. No callback runs once it
  // returned.
  size_t stop(std::chrono::milliseconds drain) override;

  TransportStats stats() const override;
  uint64_t dropped() const override;
  // the broker list, then "/" and the topic
  std::string where() const override;
  const KafkaOptions& options() const;
  size_t window() const;

  // A topic name Kafka accepts: 1 to 249 of [a-zA-Z0-9._-], not "." or "..".
  static bool valid_topic(const std::string& topic);
  // The "key=value,key=value" list of kafka-config; a backslash escapes a comma (or a
  // backslash). Throws ta::Error (Settings) for an entry without '=' or an empty key.
  static std::vector<std::pair<std::string, std::string>> parse_config(const std::string& config);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace ta
