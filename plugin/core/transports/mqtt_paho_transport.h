// The MQTT transport on Eclipse Paho's asynchronous C client (libpaho-mqtt3as), the
// alternative to mqtt_transport.h's libmosquitto one, picked at build time
// (meson -Dmqtt_client=paho). Same options, same events, same contract (transport.h).
//
// What Paho does for us: its own threads do the network I/O and reconnect a lost
// connection (automaticReconnect, 1 s doubling up to reconnect_delay_max_s); messages sent
// while disconnected wait in its buffer (sendWhileDisconnected), at most max_queued of them,
// the oldest deleted beyond that (deleteOldestMessages); QoS 1 messages in flight are kept
// across a reconnection (no clean session) and sent again. What we still do: retry a first
// connection that failed (Paho reconnects only a connection that once was up), report each
// outage once, count dropped messages (Paho deletes them silently: dropped = published -
// done - failed - pending), and carry OpenSSL's reason of a TLS failure (ssl_error_cb).
#pragma once

#include "mqtt_transport.h"  // MqttOptions
#include "transport.h"

#include <chrono>
#include <memory>
#include <string>

namespace ta {

class PahoMqttTransport final : public Transport {
 public:
  // Checks the options (the same rules as MqttTransport) and creates the client; throws
  // ta::Error. Nothing touches the network yet.
  PahoMqttTransport(MqttOptions options, TransportCallbacks callbacks);
  ~PahoMqttTransport() override;

  PahoMqttTransport(const PahoMqttTransport&) = delete;
  PahoMqttTransport& operator=(const PahoMqttTransport&) = delete;

  void start() override;
  void publish(const std::string& key, const std::string& payload) override;
  size_t flush(std::chrono::milliseconds bound) override;
  size_t stop(std::chrono::milliseconds drain = std::chrono::milliseconds(2000)) override;
  TransportStats stats() const override;
  uint64_t dropped() const override;
  std::string where() const override;

  // "torchmetasink-" and 8 hex digits, unique to this process and call (as MqttTransport's).
  static std::string make_client_id();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
  std::string topic_, topic_key_;
  bool topic_made_ = false;
};

}  // namespace ta
