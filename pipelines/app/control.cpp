/* See control.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "control.h"

#include <nlohmann/json.hpp>

namespace ta_app {

namespace {

using nlohmann::json;

const char *kPaths[] = {"/control/cameras", "/control/cameras/add", "/control/cameras/remove",
                        "/control/model"};

bool is_post(SoupServerMessage *msg, const char *what) {
  if (soup_server_message_get_method(msg) == SOUP_METHOD_POST)
    return true;
  HttpServer::respond_error(msg, 405, std::string("use POST ") + what);
  return false;
}

// The request's JSON object; false (and a 400 sent) when it is not one.
bool body_object(SoupServerMessage *msg, json *out) {
  try {
    *out = json::parse(HttpServer::request_body(msg));
  } catch (const std::exception &e) {
    HttpServer::respond_error(msg, 400, std::string("the body is not JSON: ") + e.what());
    return false;
  }
  if (!out->is_object()) {
    HttpServer::respond_error(msg, 400, "the body is not a JSON object");
    return false;
  }
  return true;
}

// `key` of `j` as a string into *out; false (400 sent) when present but not a string, or
// absent and `required`.
bool get_string(SoupServerMessage *msg, const json &j, const char *key, bool required,
    std::string *out) {
  if (!j.contains(key)) {
    if (required)
      HttpServer::respond_error(msg, 400, std::string("no \"") + key + "\" in the body");
    return !required;
  }
  if (!j[key].is_string()) {
    HttpServer::respond_error(msg, 400, std::string("\"") + key + "\" is not a string");
    return false;
  }
  *out = j[key].get<std::string>();
  return true;
}

bool get_int(SoupServerMessage *msg, const json &j, const char *key, int min, int *out) {
  if (!j.contains(key))
    return true;
  if (!j[key].is_number_integer() || j[key].get<long long>() < min ||
      j[key].get<long long>() > 1000000) {
    HttpServer::respond_error(msg, 400, std::string("\"") + key + "\" is not an integer >= " +
        std::to_string(min));
    return false;
  }
  *out = j[key].get<int>();
  return true;
}

json describe(const Camera &cam) {
  return {{"name", cam.name()}, {"uri", cam.uri()}, {"state", camera_state_name(cam.state())}};
}

void reply(SoupServerMessage *msg, int status, const json &j) {
  HttpServer::respond(msg, status, "application/json", j.dump() + "\n");
}

}  // namespace

Control::Control(HttpServer *http, CameraRegistry *registry, CameraConfig defaults)
    : http_(http) {
  http_->add_handler("/control/cameras", "control", [registry](SoupServerMessage *msg,
                                                        const char *path) {
    if (std::string(path) != "/control/cameras") {
      HttpServer::respond_error(msg, 404, std::string("no ") + path + " (see control.h)");
      return;
    }
    if (soup_server_message_get_method(msg) != SOUP_METHOD_GET) {
      HttpServer::respond_error(msg, 405, "GET /control/cameras");
      return;
    }
    json list = json::array();
    for (const auto &c : registry->cameras())
      list.push_back(describe(*c));
    reply(msg, 200, list);
  });

  http_->add_handler("/control/cameras/add", "control", [registry, defaults](
                                                            SoupServerMessage *msg, const char *) {
    json j;
    if (!is_post(msg, "/control/cameras/add") || !body_object(msg, &j))
      return;
    CameraConfig cfg = defaults;
    if (!get_string(msg, j, "name", true, &cfg.name) || !get_string(msg, j, "uri", true, &cfg.uri) ||
        !get_int(msg, j, "latency-ms", 0, &cfg.latency_ms) ||
        !get_int(msg, j, "max-backoff-s", 1, &cfg.max_backoff_s) ||
        !get_int(msg, j, "stall-timeout-s", 1, &cfg.stall_timeout_s) ||
        !get_int(msg, j, "connect-timeout-s", 1, &cfg.connect_timeout_s))
      return;
    if (j.contains("tcp")) {
      if (!j["tcp"].is_boolean()) {
        HttpServer::respond_error(msg, 400, "\"tcp\" is not true or false");
        return;
      }
      cfg.tcp = j["tcp"].get<bool>();
    }
    cfg.max_frames = 0;  // a camera added at run time runs until removed
    if (registry->find(cfg.name)) {
      HttpServer::respond_error(msg, 409, "there is already a camera named '" + cfg.name + "'");
      return;
    }
    std::string error;
    auto cam = registry->add(cfg, &error);
    if (!cam) {
      HttpServer::respond_error(msg, 400, error);
      return;
    }
    g_printerr("control: added camera %s (%s)\n", cfg.name.c_str(), cfg.uri.c_str());
    reply(msg, 201, describe(*cam));
  });

  http_->add_handler("/control/cameras/remove", "control", [registry](SoupServerMessage *msg,
                                                               const char *) {
    json j;
    std::string name;
    if (!is_post(msg, "/control/cameras/remove") || !body_object(msg, &j) ||
        !get_string(msg, j, "name", true, &name))
      return;
    if (!registry->remove(name)) {
      HttpServer::respond_error(msg, 404, "there is no camera named '" + name + "'");
      return;
    }
    g_printerr("control: removed camera %s\n", name.c_str());
    reply(msg, 200, {{"name", name}, {"removed", true}});
  });

  http_->add_handler("/control/model", "control", [registry](SoupServerMessage *msg,
                                                      const char *) {
    json j;
    std::string model, weights, labels;
    if (!is_post(msg, "/control/model") || !body_object(msg, &j) ||
        !get_string(msg, j, "model-location", false, &model) ||
        !get_string(msg, j, "weights-location", false, &weights) ||
        !get_string(msg, j, "labels-location", false, &labels))
      return;
    if (!model.empty() && !weights.empty()) {
      HttpServer::respond_error(msg, 400, "give model-location or weights-location, not both");
      return;
    }
    for (const std::string *f : {&model, &weights, &labels}) {
      if (!f->empty() && !g_file_test(f->c_str(), G_FILE_TEST_IS_REGULAR)) {
        HttpServer::respond_error(msg, 400, "'" + *f + "' is not a file (paths are the app's)");
        return;
      }
    }
    std::string error;
    if (!registry->set_model(model, weights, labels, &error)) {
      HttpServer::respond_error(msg, 400, error);
      return;
    }
    g_printerr("control: model set to %s%s\n", model.empty() ? weights.c_str() : model.c_str(),
        labels.empty() ? "" : (" labels " + labels).c_str());
    json r = json::object();
    if (!model.empty())
      r["model-location"] = model;
    if (!weights.empty())
      r["weights-location"] = weights;
    if (!labels.empty())
      r["labels-location"] = labels;
    r["cameras"] = registry->cameras().size();
    reply(msg, 202, r);
  });
}

Control::~Control() {
  for (const char *p : kPaths)
    http_->remove_handler(p, "control");
}

}  // namespace ta_app
