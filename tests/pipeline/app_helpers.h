// Helpers of the application tests: HTTP requests (libsoup 3, synchronous), the app's
// Prometheus metrics parsed, and a real Prometheus server on loopback with its own
// configuration and data directory, started and stopped by the test.
#pragma once

#include <ftw.h>
#include <libsoup/soup.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "net_helpers.h"
#include "pipeline_helpers.h"

namespace ta_test {

// `n` distinct loopback ports nobody listens on now (all bound at once, then let go).
inline std::vector<int> free_ports(size_t n) {
  std::vector<int> fds, ports;
  for (size_t i = 0; i < n; i++) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      ports.push_back(ntohs(a.sin_port));
    if (fd >= 0) fds.push_back(fd);
  }
  for (int fd : fds) close(fd);
  return ports;
}

// Whether torchclassify's `prop` can change while PLAYING (GST_PARAM_MUTABLE_PLAYING).
inline bool torchclassify_mutable_playing(const char* prop) {
  GstElementFactory* f = gst_element_factory_find("torchclassify");
  if (!f) return false;
  GstPluginFeature* loaded = gst_plugin_feature_load(GST_PLUGIN_FEATURE(f));
  gst_object_unref(f);
  if (!loaded) return false;
  const GType t = gst_element_factory_get_element_type(GST_ELEMENT_FACTORY(loaded));
  gst_object_unref(loaded);
  GObjectClass* klass = G_OBJECT_CLASS(g_type_class_ref(t));
  GParamSpec* ps = g_object_class_find_property(klass, prop);
  const bool m = ps && (ps->flags & GST_PARAM_MUTABLE_PLAYING);
  g_type_class_unref(klass);
  return m;
}

struct HttpReply {
  int status = 0;     // 0: no reply (error says why)
  std::string body;
  std::string error;
};

// One request, synchronous, 10 s timeout.
inline HttpReply http_request(const std::string& method, const std::string& url,
                              const std::string& body = "",
                              const char* content_type = "application/json") {
  HttpReply r;
  SoupSession* s = soup_session_new_with_options("timeout", 10, nullptr);
  SoupMessage* m = soup_message_new(method.c_str(), url.c_str());
  if (!m) {
    r.error = "bad URL " + url;
    g_object_unref(s);
    return r;
  }
  if (!body.empty() || method == "POST") {
    GBytes* b = g_bytes_new(body.data(), body.size());
    soup_message_set_request_body_from_bytes(m, content_type, b);
    g_bytes_unref(b);
  }
  GError* err = nullptr;
  GBytes* out = soup_session_send_and_read(s, m, nullptr, &err);
  if (out) {
    gsize n = 0;
    const char* d = static_cast<const char*>(g_bytes_get_data(out, &n));
    r.body.assign(d ? d : "", n);
    r.status = static_cast<int>(soup_message_get_status(m));
    g_bytes_unref(out);
  } else {
    r.error = err ? err->message : "no reply";
    g_clear_error(&err);
  }
  g_object_unref(m);
  g_object_unref(s);
  return r;
}

inline HttpReply http_get(const std::string& url) { return http_request("GET", url); }
inline HttpReply http_post(const std::string& url, const std::string& json_body) {
  return http_request("POST", url, json_body);
}

// One sample of the text exposition: name, labels, value.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = NAN;
};

// Parses the text format (the subset the app writes: no timestamps, no exemplars).
inline std::vector<Sample> parse_exposition(const std::string& text) {
  std::vector<Sample> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    size_t i = line.find_first_of("{ ");
    if (i == std::string::npos) continue;
    s.name = line.substr(0, i);
    if (line[i] == '{') {
      i++;
      while (i < line.size() && line[i] != '}') {
        const size_t eq = line.find('=', i);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') break;
        const std::string key = line.substr(i, eq - i);
        std::string val;
        size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; j++) {
          if (line[j] == '\\' && j + 1 < line.size()) {
            j++;
            val += line[j] == 'n' ? '\n' : line[j];
          } else {
            val += line[j];
          }
        }
        s.labels[key] = val;
        i = j + 1;
        if (i < line.size() && line[i] == ',') i++;
      }
      i++;  // '}'
    }
    const std::string v = line.substr(std::min(i, line.size()));
    s.value = v.find("NaN") != std::string::npos ? NAN : std::atof(v.c_str());
    out.push_back(s);
  }
  return out;
}

// The value of the sample `name` whose labels include `labels`; NaN when there is none.
inline double sample_value(const std::vector<Sample>& samples, const std::string& name,
                           const std::map<std::string, std::string>& labels = {}) {
  for (const auto& s : samples) {
    if (s.name != name) continue;
    bool all = true;
    for (const auto& l : labels) {
      auto it = s.labels.find(l.first);
      all = all && it != s.labels.end() && it->second == l.second;
    }
    if (all) return s.value;
  }
  return NAN;
}

// Polls `cond` every 200 ms until it holds or `timeout` passes.
inline bool poll_until(const std::function<bool()>& cond, Seconds timeout) {
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout);
  while (true) {
    if (cond()) return true;
    if (Clock::now() > deadline) return false;
    g_usleep(200 * 1000);
  }
}

inline void remove_tree(const std::string& dir) {
  nftw(dir.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); },
       16, FTW_DEPTH | FTW_PHYS);
}

// A Prometheus server (Debian's `prometheus`) on 127.0.0.1, scraping `targets` (host:port)
// every second, its data in a temp directory removed at the end.
class Prometheus {
 public:
  static std::string program() { return find_program("prometheus", "/usr/bin/prometheus"); }

  ~Prometheus() {
    child_.kill_all();
    if (!dir_.empty()) remove_tree(dir_);
  }

  // false with a test failure when it does not come up (ready) within 30 s.
  bool start(const std::vector<std::string>& targets) {
    gchar* d = g_dir_make_tmp("ta-prometheus-XXXXXX", nullptr);
    if (!d) {
      ADD_FAILURE() << "no temp dir";
      return false;
    }
    dir_ = d;
    g_free(d);
    std::string t;
    for (const auto& x : targets) t += (t.empty() ? "'" : ", '") + x + "'";
    const std::string config = dir_ + "/prometheus.yml";
    std::ofstream(config) << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                             "  evaluation_interval: 1s\n"
                             "scrape_configs:\n  - job_name: torchanalytics-app\n"
                             "    static_configs:\n      - targets: [" << t << "]\n";
    port_ = free_port();
    if (!child_.start({program(), "--config.file=" + config, "--storage.tsdb.path=" + dir_ + "/data",
                       "--web.listen-address=127.0.0.1:" + std::to_string(port_),
                       "--log.level=warn"},
                      // Not ours: no sanitizer runtime preloaded into it (scripts/test
                      // --sanitize preloads one for the programs the tests start).
                      {"LD_PRELOAD="}))
      return false;
    const bool ready = poll_until([&] {
      return !child_.running() ? true : http_get(url() + "/-/ready").status == 200;
    }, Seconds(30));
    if (!ready || !child_.running()) {
      ADD_FAILURE() << "Prometheus did not get ready on port " << port_ << "\n" << child_.report();
      return false;
    }
    return true;
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // /api/v1/query of `expr`: the "result" array, or null (with `*error`) when the query failed.
  nlohmann::json query(const std::string& expr, std::string* error = nullptr) {
    gchar* q = g_uri_escape_string(expr.c_str(), nullptr, FALSE);
    const HttpReply r = http_get(url() + "/api/v1/query?query=" + q);
    g_free(q);
    try {
      const auto j = nlohmann::json::parse(r.body);
      if (j.value("status", "") == "success") return j["data"]["result"];
      if (error) *error = r.body;
    } catch (const std::exception& e) {
      if (error) *error = std::string(e.what()) + ": " + r.body + r.error;
    }
    return nullptr;
  }

  // The value of an instant query whose result has one series; NaN when it has none.
  double value(const std::string& expr) {
    const auto res = query(expr);
    if (!res.is_array() || res.empty()) return NAN;
    return std::atof(res[0]["value"][1].get<std::string>().c_str());
  }

  std::string report() { return child_.report(); }

 private:
  Child child_;
  std::string dir_;
  int port_ = 0;
};

}  // namespace ta_test
