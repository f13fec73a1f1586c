// What the CPU does natively, as far as the model's precision is concerned. LibTorch-free.
#pragma once

#include <string>

namespace ta {

// True when the flags line of /proc/cpuinfo names a native bfloat16 matrix unit:
// AVX512_BF16 (Cooper Lake, Zen 4 and later) or AMX-BF16 (Sapphire Rapids and later).
// Without one, LibTorch emulates bf16 through fp32 conversions and runs slower than fp32.
bool native_bf16_in_flags(const std::string& flags);
// The same for this machine (false when /proc/cpuinfo cannot be read).
bool cpu_has_native_bf16();

}  // namespace ta
