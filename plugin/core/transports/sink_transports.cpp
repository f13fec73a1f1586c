// torchmetasink's output rule: see sink_transports.h.
#include "sink_transports.h"

#include "error.h"
#include "file_transport.h"
#ifdef TA_MQTT_PAHO
#include "mqtt_paho_transport.h"
#endif

namespace ta {

bool have_mqtt() {
#ifdef TA_HAVE_MQTT
  return true;
#else
  return false;
#endif
}

bool have_kafka() {
#ifdef TA_HAVE_KAFKA
  return true;
#else
  return false;
#endif
}

SinkTransports make_sink_transports(const std::string& location, MqttOptions& mqtt,
                                    const TransportCallbacks& callbacks) {
  return make_sink_transports(location, mqtt, KafkaOptions(), callbacks, callbacks);
}

SinkTransports make_sink_transports(const std::string& location, MqttOptions& mqtt, const KafkaOptions& kafka,
                                    const TransportCallbacks& callbacks, const TransportCallbacks& kafka_callbacks) {
  SinkTransports out;
  const bool mqtt_on = !mqtt.host.empty();
  const bool kafka_on = !kafka.brokers.empty();
  if (mqtt_on) {
#ifdef TA_HAVE_MQTT
#ifdef TA_MQTT_PAHO  // meson -Dmqtt_client=paho
    if (mqtt.client_id.empty()) mqtt.client_id = PahoMqttTransport::make_client_id();
    out.all.push_back(std::make_unique<PahoMqttTransport>(mqtt, callbacks));
#else
    if (mqtt.client_id.empty()) mqtt.client_id = MqttTransport::make_client_id();
    out.all.push_back(std::make_unique<MqttTransport>(mqtt, callbacks));
#endif
    out.mqtt = out.all.back().get();
#else
    (void)callbacks;
    throw Error(ErrorKind::NotImplemented,
                "This torchmetasink was built without MQTT support: unset mqtt-host, or rebuild the plugin with "
                "libmosquitto (install libmosquitto-dev, meson setup -Dmqtt=enabled).",
                "mqtt-host is set, but the plugin was built without libmosquitto (meson option mqtt disabled, or "
                "libmosquitto not found)");
#endif
  }
  if (kafka_on) {
#ifdef TA_HAVE_KAFKA
    out.all.push_back(std::make_unique<KafkaTransport>(kafka, kafka_callbacks));
    out.kafka = out.all.back().get();
#else
    (void)kafka_callbacks;
    throw Error(ErrorKind::NotImplemented,
                "This torchmetasink was built without Kafka support: unset kafka-brokers, or rebuild the plugin with "
                "librdkafka (install librdkafka-dev, meson setup -Dkafka=enabled).",
                "kafka-brokers is set, but the plugin was built without librdkafka (meson option kafka disabled, or "
                "librdkafka not found)");
#endif
  }
  if ((!mqtt_on && !kafka_on) || !location.empty()) {
    out.all.push_back(std::make_unique<FileTransport>(location));
    out.file = out.all.back().get();
  }
  return out;
}

}  // namespace ta
