// Which transports torchmetasink's properties ask for: its output rule, in one place.
//   no MQTT host and no Kafka brokers:  a file, or stdout when `location` is "" or "-";
//   an MQTT host and/or Kafka brokers:  MQTT and/or Kafka, plus a file when `location`
//                  names one, or stdout for "-" ("" is no file and no stdout).
#pragma once

#include "kafka_transport.h"
#include "mqtt_transport.h"
#include "transport.h"

#include <memory>
#include <string>
#include <vector>

namespace ta {

struct SinkTransports {
  // In publishing order, MQTT, then Kafka, then the file (a file that fails then still
  // leaves the line published); start() them last to first (a file that cannot be
  // created then fails the start before any connection is made).
  std::vector<std::unique_ptr<Transport>> all;
  Transport* mqtt = nullptr;   // in `all`, or null
  Transport* kafka = nullptr;  // in `all`, or null
  Transport* file = nullptr;   // in `all` (a file or stdout), or null
};

// Constructs (does not start) the transports. `mqtt.client_id`, when empty, is set to
// the one made for this run. Throws ta::Error: NotImplemented for an MQTT host in a build
// without libmosquitto, and the errors of the transports' constructors.
SinkTransports make_sink_transports(const std::string& location, MqttOptions& mqtt,
                                    const TransportCallbacks& callbacks);
// The same with Kafka: brokers "" is no Kafka. NotImplemented for Kafka brokers in a
// build without librdkafka. `kafka_callbacks` go to the Kafka transport.
SinkTransports make_sink_transports(const std::string& location, MqttOptions& mqtt, const KafkaOptions& kafka,
                                    const TransportCallbacks& callbacks, const TransportCallbacks& kafka_callbacks);

// This build has MQTT (libmosquitto).
bool have_mqtt();
// This build has Kafka (librdkafka).
bool have_kafka();

}  // namespace ta
