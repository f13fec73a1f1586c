#include "cpu_features.h"

#include <fstream>
#include <sstream>

namespace ta {

bool native_bf16_in_flags(const std::string& flags) {
  std::istringstream in(flags);
  std::string f;
  while (in >> f)
    if (f == "avx512_bf16" || f == "amx_bf16") return true;
  return false;
}

bool cpu_has_native_bf16() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("flags", 0) == 0) return native_bf16_in_flags(line.substr(line.find(':') + 1));
  return false;
}

}  // namespace ta
