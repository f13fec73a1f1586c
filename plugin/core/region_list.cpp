// The region list of torchregions: see region_list.h for the syntax.
#include "region_list.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace ta {

namespace {

// Pixel coordinates beyond this are typos, not cameras.
constexpr long long kMaxPixels = 1LL << 24;

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace((unsigned char)s[b])) b++;
  while (e > b && std::isspace((unsigned char)s[e - 1])) e--;
  return s.substr(b, e - b);
}

bool valid_type(const std::string& t) {
  if (t.empty()) return false;
  for (char c : t)
    if (!std::isalnum((unsigned char)c) && c != '_' && c != '-' && c != '.') return false;
  return true;
}

// A plain decimal number: [+-]digits[.digits][e[+-]digits], at least one digit before
// the exponent. No "nan", "inf", hex or spaces inside.
bool plain_number(const std::string& s, bool* decimal) {
  size_t i = 0, n = s.size();
  int digits = 0;
  *decimal = false;
  if (i < n && (s[i] == '+' || s[i] == '-')) i++;
  while (i < n && std::isdigit((unsigned char)s[i])) i++, digits++;
  if (i < n && s[i] == '.') {
    *decimal = true;
    i++;
    while (i < n && std::isdigit((unsigned char)s[i])) i++, digits++;
  }
  if (digits == 0) return false;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    *decimal = true;
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    int ed = 0;
    while (i < n && std::isdigit((unsigned char)s[i])) i++, ed++;
    if (ed == 0) return false;
  }
  return i == n;
}

std::string entry_name(size_t index, const std::string& text) {
  return "region " + std::to_string(index) + " ('" + text + "')";
}

// The checks both syntaxes share, once the four numbers are known.
void check_values(RegionSpec& r, size_t index) {
  const char* names[4] = {"x", "y", "w", "h"};
  const double v[4] = {r.x, r.y, r.w, r.h};
  const std::string who = entry_name(index, r.text);
  for (int i = 0; i < 4; i++) {
    if (!std::isfinite(v[i])) throw RegionListError(who + ": " + names[i] + " is not a finite number");
    if (r.fraction) {
      if (v[i] < 0.0 || v[i] > 1.0)
        throw RegionListError(who + ": " + names[i] + " = " + std::to_string(v[i]) +
                              " is a fraction of the frame (the entry has a decimal point) but not between 0 and 1; "
                              "write pixels as whole numbers, fractions between 0.0 and 1.0");
    } else if (std::fabs(v[i]) > (double)kMaxPixels) {
      throw RegionListError(who + ": " + names[i] + " is out of range (at most " + std::to_string(kMaxPixels) +
                            " pixels)");
    }
  }
  if (r.fraction ? (r.w <= 0.0 || r.h <= 0.0) : (r.w < 1.0 || r.h < 1.0))
    throw RegionListError(who + ": the width and height must be above 0 (give x,y,w,h with w and h the size, "
                          "e.g. 10,20,100,80 or 0.1,0.2,0.3,0.4)");
}

}  // namespace

std::vector<RegionSpec> parse_region_list(const std::string& text) {
  std::vector<RegionSpec> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(';', start);
    if (end == std::string::npos) end = text.size();
    const std::string entry = trim(text.substr(start, end - start));
    start = end + 1;
    if (entry.empty()) continue;

    RegionSpec r;
    r.text = entry;
    const size_t index = out.size();
    const std::string who = entry_name(index, entry);
    std::string coords = entry;
    const size_t colon = entry.find(':');
    if (colon != std::string::npos) {
      r.type = trim(entry.substr(0, colon));
      coords = entry.substr(colon + 1);
      if (!valid_type(r.type))
        throw RegionListError(who + ": the type before ':' must be letters, digits, '_', '-' or '.' (e.g. bay1:10,20,100,80)");
    }
    std::vector<std::string> parts;
    size_t p = 0;
    while (true) {
      const size_t c = coords.find(',', p);
      parts.push_back(trim(coords.substr(p, c == std::string::npos ? std::string::npos : c - p)));
      if (c == std::string::npos) break;
      p = c + 1;
    }
    if (parts.size() != 4)
      throw RegionListError(who + ": expected 4 numbers x,y,w,h, found " + std::to_string(parts.size()) +
                            " (entries are [type:]x,y,w,h separated by ';', e.g. \"bay1:10,20,100,80;door:0.5,0,0.5,1.0\")");
    double v[4];
    bool any_decimal = false;
    for (int i = 0; i < 4; i++) {
      bool decimal = false;
      if (!plain_number(parts[i], &decimal))
        throw RegionListError(who + ": '" + parts[i] + "' is not a number (x,y,w,h are pixels, or fractions of the frame with a decimal point)");
      any_decimal |= decimal;
      v[i] = std::strtod(parts[i].c_str(), nullptr);
    }
    r.x = v[0];
    r.y = v[1];
    r.w = v[2];
    r.h = v[3];
    r.fraction = any_decimal;
    check_values(r, index);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<RegionSpec> parse_region_json(const std::string& json_text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    throw RegionListError(where + " is not valid JSON (" + e.what() +
                          "); write {\"regions\": [{\"type\": \"bay1\", \"x\": 10, \"y\": 20, \"w\": 100, \"h\": 80}]}");
  }
  const nlohmann::json* list = &j;
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it)
      if (it.key() != "regions")
        throw RegionListError(where + ": unknown member '" + it.key() + "' at the top; the file holds {\"regions\": [...]}");
    if (!j.contains("regions"))
      throw RegionListError(where + " has no \"regions\" array; write {\"regions\": [{\"x\": 10, \"y\": 20, \"w\": 100, \"h\": 80}]}");
    list = &j["regions"];
  }
  if (!list->is_array())
    throw RegionListError(where + ": \"regions\" must be an array of {\"type\", \"x\", \"y\", \"w\", \"h\"} objects");

  std::vector<RegionSpec> out;
  for (size_t index = 0; index < list->size(); index++) {
    const nlohmann::json& e = (*list)[index];
    RegionSpec r;
    r.text = e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const std::string who = where + ": " + entry_name(index, r.text);
    if (!e.is_object()) throw RegionListError(who + " is not an object like {\"x\": 10, \"y\": 20, \"w\": 100, \"h\": 80}");
    for (auto it = e.begin(); it != e.end(); ++it) {
      const std::string& k = it.key();
      if (k != "type" && k != "x" && k != "y" && k != "w" && k != "h")
        throw RegionListError(who + ": unknown member '" + k + "'; the members are type (optional), x, y, w, h");
    }
    if (e.contains("type")) {
      if (!e["type"].is_string() || !valid_type(e["type"].get<std::string>()))
        throw RegionListError(who + ": \"type\" must be a string of letters, digits, '_', '-' or '.'");
      r.type = e["type"].get<std::string>();
    }
    double v[4];
    bool any_decimal = false;
    const char* names[4] = {"x", "y", "w", "h"};
    for (int i = 0; i < 4; i++) {
      if (!e.contains(names[i])) throw RegionListError(who + ": \"" + names[i] + "\" is missing; each region has x, y, w and h");
      const nlohmann::json& n = e[names[i]];
      if (!n.is_number())
        throw RegionListError(who + ": \"" + names[i] + "\" must be a number (pixels, or a fraction of the frame written with a decimal point)");
      any_decimal |= n.is_number_float();
      v[i] = n.get<double>();
    }
    r.x = v[0];
    r.y = v[1];
    r.w = v[2];
    r.h = v[3];
    r.fraction = any_decimal;
    try {
      check_values(r, index);
    } catch (const RegionListError& err) {
      throw RegionListError(where + ": " + err.what());
    }
    out.push_back(std::move(r));
  }
  return out;
}

PixelRect region_pixels(const RegionSpec& r, int fw, int fh) {
  PixelRect out;
  if (fw <= 0 || fh <= 0) return out;
  double x0, y0, x1, y1;
  if (r.fraction) {
    x0 = std::lround(r.x * fw);
    y0 = std::lround(r.y * fh);
    x1 = std::lround((r.x + r.w) * fw);
    y1 = std::lround((r.y + r.h) * fh);
  } else {
    x0 = r.x;
    y0 = r.y;
    x1 = r.x + r.w;
    y1 = r.y + r.h;
  }
  x0 = std::clamp(x0, 0.0, (double)fw);
  x1 = std::clamp(x1, 0.0, (double)fw);
  y0 = std::clamp(y0, 0.0, (double)fh);
  y1 = std::clamp(y1, 0.0, (double)fh);
  if (x1 <= x0 || y1 <= y0) return out;
  out.x = (int)x0;
  out.y = (int)y0;
  out.w = (int)(x1 - x0);
  out.h = (int)(y1 - y0);
  return out;
}

std::string format_region_list(const std::vector<RegionSpec>& regions) {
  std::string out;
  for (const RegionSpec& r : regions) {
    if (!out.empty()) out += ';';
    out += r.type + ':';
    const double v[4] = {r.x, r.y, r.w, r.h};
    for (int i = 0; i < 4; i++) {
      char buf[40];
      if (r.fraction) {
        std::snprintf(buf, sizeof buf, "%.10g", v[i]);
        std::string s = buf;
        if (s.find_first_of(".eE") == std::string::npos) s += ".0";
        out += s;
      } else {
        std::snprintf(buf, sizeof buf, "%lld", (long long)v[i]);
        out += buf;
      }
      if (i < 3) out += ',';
    }
  }
  return out;
}

}  // namespace ta
