// torchmetasink's output rule: see sink_transports.h.
#include "sink_transports.h"

#include "error.h"
#include "file_transport.h"

namespace ta {

bool have_mqtt() {
#ifdef TA_HAVE_MQTT
  return true;
#else
  return false;
#endif
}

SinkTransports make_sink_transports(const std::string& location, MqttOptions& mqtt,
                                    const TransportCallbacks& callbacks) {
  SinkTransports out;
  const bool mqtt_on = !mqtt.host.empty();
  if (mqtt_on) {
#ifdef TA_HAVE_MQTT
    if (mqtt.client_id.empty()) mqtt.client_id = MqttTransport::make_client_id();
    out.all.push_back(std::make_unique<MqttTransport>(mqtt, callbacks));
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
  if (!mqtt_on || !location.empty()) out.all.push_back(std::make_unique<FileTransport>(location));
  return out;
}

}  // namespace ta
