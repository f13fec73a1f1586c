// libFuzzer target: the pickle rewriter of state dicts (ta::rewrite_ordered_dicts), the
// only code of ours that interprets bytes of a model file (plugin/core/statedict.cpp).
//
// Checked on every input: it returns or throws std::runtime_error (no other exception,
// no crash, no read out of bounds: ASan); what it returns is never longer than its input
// (it only removes opcodes, or replaces `OrderedDict()` by the shorter `{}`), and
// rewriting it again changes nothing.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "statedict.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  std::string out;
  try {
    out = ta::rewrite_ordered_dicts(in);
  } catch (const std::runtime_error&) {
    return 0;
  }
  if (out.size() > in.size()) {
    std::fprintf(stderr, "fuzz_pickle: the rewrite grew %zu -> %zu bytes\n", in.size(), out.size());
    std::abort();
  }
  std::string again;
  try {
    again = ta::rewrite_ordered_dicts(out);
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "fuzz_pickle: a rewritten program is refused on a second pass: %s\n", e.what());
    std::abort();
  }
  if (again != out) {
    std::fprintf(stderr, "fuzz_pickle: rewriting twice differs from once\n");
    std::abort();
  }
  return 0;
}
