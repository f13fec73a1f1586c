// Which transports torchmetasink's properties ask for: its output rule, in one place.
//   no MQTT host:  a file, or stdout when `location` is "" or "-";
//   an MQTT host:  MQTT, plus a file when `location` names one, or stdout for "-"
//                  ("" is no file and no stdout).
#pragma once

#include "mqtt_transport.h"
#include "transport.h"

#include <memory>
#include <string>
#include <vector>

namespace ta {

struct SinkTransports {
  // In publishing order, MQTT first (a file that fails then still leaves the line
  // published); start() them last to first (a file that cannot be created then fails
  // the start before any connection is made).
  std::vector<std::unique_ptr<Transport>> all;
  Transport* mqtt = nullptr;  // in `all`, or null
};

// Constructs (does not start) the transports. `mqtt.client_id`, when empty, is set to
// the one made for this run. Throws ta::Error: NotImplemented for an MQTT host in a build
// without libmosquitto, and the errors of the transports' constructors.
SinkTransports make_sink_transports(const std::string& location, MqttOptions& mqtt,
                                    const TransportCallbacks& callbacks);

// This build has MQTT (libmosquitto).
bool have_mqtt();

}  // namespace ta
