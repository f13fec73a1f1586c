// Reads the state dicts that torch.save(model.state_dict(), f) writes, with LibTorch's
// own restricted unpickler (no Python, a fixed set of globals). Internal to the core.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace ta {

using StateDict = std::vector<std::pair<std::string, at::Tensor>>;

// What kind of file `path` holds, by its first bytes.
enum class TorchFileKind { Zip, LegacyPickle, Other };
TorchFileKind sniff_torch_file(const std::string& path);

// Throws ta::Error (NotFound, OpenRead, Init) with a message that names the problem.
StateDict load_state_dict(const std::string& path);

// The pickle program with each `collections.OrderedDict()` construction replaced by an
// empty dict, and the BUILD that sets the OrderedDict's `_metadata` attribute dropped:
// LibTorch's unpickler turns OrderedDicts into None. Exposed for unit tests.
// Throws std::runtime_error on opcodes it does not know.
std::string rewrite_ordered_dicts(const std::string& pickle);

}  // namespace ta
