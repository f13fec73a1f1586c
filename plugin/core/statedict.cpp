#include "statedict.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/unpickler.h>

#include <cstring>
#include <fstream>
#include <set>
#include <sys/stat.h>

#include "error.h"

namespace ta {

TorchFileKind sniff_torch_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  unsigned char b[4] = {0, 0, 0, 0};
  f.read(reinterpret_cast<char*>(b), 4);
  if (f.gcount() == 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4) return TorchFileKind::Zip;
  // torch.save before 1.6 (and _use_new_zipfile_serialization=False) writes a bare pickle
  // stream, which starts with the PROTO opcode.
  if (f.gcount() >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5) return TorchFileKind::LegacyPickle;
  return TorchFileKind::Other;
}

namespace {

// Argument length of a pickle opcode: >= 0 fixed bytes; -1 newline-terminated text
// (count says how many lines); -2 n-byte length prefix then data.
struct OpArg {
  int kind;  // 0 fixed, 1 lines, 2 counted
  int n;     // bytes, lines, or width of the length prefix
};

bool op_arg(unsigned char op, OpArg* a) {
  switch (op) {
    case '(': case ')': case '}': case ']': case 'R': case 'b': case 't': case 0x85: case 0x86:
    case 0x87: case 'u': case 's': case 'a': case 'e': case 'Q': case 'N': case 0x88: case 0x89:
    case '.': case '0': case '1': case '2': case 0x94: case 0x93: case 'l': case 'd': case 'o':
      *a = {0, 0}; return true;
    case 'q': case 'h': case 'K': case 0x80: *a = {0, 1}; return true;
    case 'r': case 'j': case 'J': *a = {0, 4}; return true;
    case 'M': *a = {0, 2}; return true;
    case 'G': case 0x95: *a = {0, 8}; return true;
    case 'X': case 'T': case 'B': case 0x8b: *a = {2, 4}; return true;
    case 'U': case 'C': case 0x8c: case 0x8a: *a = {2, 1}; return true;
    case 0x8d: case 0x8e: *a = {2, 8}; return true;
    case 'c': *a = {1, 2}; return true;
    case 'P': case 'I': case 'L': case 'F': case 'S': case 'V': case 'g': case 'p': *a = {1, 1}; return true;
    default: return false;
  }
}

struct Op {
  unsigned char code;
  size_t begin, end;  // the whole opcode with its argument
  std::string text;   // GLOBAL's "module\nname"
  uint64_t index;     // BINPUT/BINGET memo index
};

std::vector<Op> tokenize(const std::string& p) {
  std::vector<Op> ops;
  size_t i = 0;
  while (i < p.size()) {
    Op op{(unsigned char)p[i], i, 0, {}, 0};
    OpArg a;
    if (!op_arg(op.code, &a))
      throw std::runtime_error("unknown pickle opcode " + std::to_string(op.code) + " at byte " + std::to_string(i));
    size_t j = i + 1;
    if (a.kind == 0) {
      if (j + a.n > p.size()) throw std::runtime_error("truncated pickle");
      uint64_t v = 0;
      for (int k = a.n - 1; k >= 0 && a.n <= 4; k--) v = (v << 8) | (unsigned char)p[j + k];
      op.index = v;
      j += a.n;
    } else if (a.kind == 1) {
      for (int line = 0; line < a.n; line++) {
        size_t nl = p.find('\n', j);
        if (nl == std::string::npos) throw std::runtime_error("truncated pickle");
        j = nl + 1;
      }
      op.text = p.substr(i + 1, j - i - 2);
    } else {
      if (j + a.n > p.size()) throw std::runtime_error("truncated pickle");
      uint64_t len = 0;
      for (int k = a.n - 1; k >= 0; k--) len = (len << 8) | (unsigned char)p[j + k];
      j += a.n;
      if (len > p.size() - j) throw std::runtime_error("truncated pickle");
      j += len;
    }
    op.end = j;
    i = j;
    ops.push_back(op);
    if (op.code == '.') break;
  }
  return ops;
}

// Stack effect of an opcode: how many items it pops (-1: down to the mark) and pushes.
struct Effect {
  int pop, push;
};

Effect effect(unsigned char op) {
  switch (op) {
    case 'q': case 'r': case 0x94: case 0x80: case 0x95: return {0, 0};   // memo, proto, frame
    case '(': return {0, 1};                                              // MARK (a marker item)
    case 't': case 'l': case 'd': return {-1, 1};
    case 0x85: case 'Q': return {1, 1};
    case 0x86: case 'R': case 'b': case 0x93: return {2, 1};
    case 0x87: return {3, 1};
    case 's': return {2, 0};
    case 'a': case '0': return {1, 0};
    case 'u': case 'e': case '1': return {-1, 0};
    case '2': return {0, 1};
    case '.': return {0, 0};
    default: return {0, 1};  // constants, strings, GLOBAL, BINGET, EMPTY_*
  }
}

}  // namespace

std::string rewrite_ordered_dicts(const std::string& p) {
  const std::vector<Op> ops = tokenize(p);
  std::set<uint64_t> od_memo;  // memo slots holding the OrderedDict class
  std::string out;
  out.reserve(p.size());
  // For each item on the pickle machine's stack: where its construction starts in `out`,
  // and whether it is a MARK.
  struct Item {
    size_t start;
    bool mark;
  };
  std::vector<Item> stack;
  auto apply = [&](unsigned char code, size_t start) {
    const Effect e = effect(code);
    size_t first = start;
    if (e.pop < 0) {
      while (!stack.empty() && !stack.back().mark) stack.pop_back();
      if (stack.empty()) throw std::runtime_error("pickle pops past its bottom");
      first = stack.back().start;
      stack.pop_back();
    } else {
      for (int n = 0; n < e.pop; n++) {
        if (stack.empty()) throw std::runtime_error("pickle pops past its bottom");
        first = stack.back().start;
        stack.pop_back();
      }
    }
    for (int n = 0; n < e.push; n++) stack.push_back({first, code == '('});
  };

  for (size_t k = 0; k < ops.size(); k++) {
    const Op& op = ops[k];
    const bool is_od_global = op.code == 'c' && op.text == "collections\nOrderedDict";
    const bool is_od_get = (op.code == 'h' || op.code == 'j') && od_memo.count(op.index);
    if (is_od_global || is_od_get) {
      size_t m = k + 1;
      if (is_od_global && m < ops.size() && (ops[m].code == 'q' || ops[m].code == 'r')) {
        od_memo.insert(ops[m].index);
        m++;
      }
      if (m + 1 < ops.size() && ops[m].code == ')' && ops[m + 1].code == 'R') {
        // OrderedDict() -> {}
        stack.push_back({out.size(), false});
        out += '}';
        k = m + 1;
        continue;
      }
      throw std::runtime_error("unsupported use of collections.OrderedDict in the pickle");
    }
    if (op.code == 'b') {
      // BUILD(obj, state) on a state dict sets its `_metadata` attribute, which LibTorch's
      // unpickler cannot apply to a dict: remove the state's construction instead.
      if (stack.size() < 2) throw std::runtime_error("pickle BUILD without an object");
      out.resize(stack.back().start);
      stack.pop_back();
      continue;
    }
    const size_t start = out.size();
    out.append(p, op.begin, op.end - op.begin);
    apply(op.code, start);
  }
  return out;
}

namespace {

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool is_dir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

StateDict load_state_dict(const std::string& path) {
  if (!file_exists(path))
    throw Error(ErrorKind::NotFound, "The weights file \"" + path + "\" does not exist: check weights-location.");
  {
    std::ifstream f(path, std::ios::binary);
    if (!f || is_dir(path))
      throw Error(ErrorKind::OpenRead, "The weights file \"" + path + "\" cannot be read (" +
                  (is_dir(path) ? "it is a directory" : "check its permissions") + ").");
  }
  switch (sniff_torch_file(path)) {
    case TorchFileKind::Zip: break;
    case TorchFileKind::LegacyPickle:
      throw Error(ErrorKind::Init,
                  "\"" + path + "\" is in torch's legacy (pre-1.6) serialization format, which LibTorch cannot "
                  "read; re-save it once in the current format with: python3 -c \"import torch; "
                  "torch.save(torch.load('" + path + "', map_location='cpu'), 'resaved.pth')\" and set "
                  "weights-location to resaved.pth.");
    case TorchFileKind::Other:
      throw Error(ErrorKind::Init, "\"" + path + "\" is not a PyTorch file (torch.save writes a zip archive); "
                  "give weights-location a state dict saved with torch.save(model.state_dict(), path).");
  }

  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  std::string pickle;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
    if (!reader->hasRecord("data.pkl"))
      throw Error(ErrorKind::Init, "\"" + path + "\" is a zip archive without data.pkl, not a file written by "
                  "torch.save; give weights-location a state dict saved with torch.save(model.state_dict(), path).");
    at::DataPtr data;
    size_t size;
    std::tie(data, size) = reader->getRecord("data.pkl");
    pickle.assign(static_cast<const char*>(data.get()), size);
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Error(ErrorKind::Init, "\"" + path + "\" is truncated or corrupt (its zip archive cannot be read); "
                "save the state dict again.", e.what_without_backtrace());
  }

  std::string program;
  try {
    program = rewrite_ordered_dicts(pickle);
  } catch (const std::exception& e) {
    throw Error(ErrorKind::Init, "\"" + path + "\" does not hold a state dict that this element can read; "
                "save it with torch.save(model.state_dict(), path).", e.what());
  }

  c10::IValue value;
  try {
    size_t pos = 0;
    auto read = [&](char* buf, size_t n) -> size_t {
      const size_t k = std::min(n, program.size() - pos);
      std::memcpy(buf, program.data() + pos, k);
      pos += k;
      return k;
    };
    auto read_record = [&](const std::string& name) -> at::DataPtr {
      return std::get<0>(reader->getRecord("data/" + name));
    };
    torch::jit::Unpickler unpickler(read, nullptr, nullptr, read_record, c10::Device(c10::kCPU));
    value = unpickler.parse_ivalue();
  } catch (const c10::Error& e) {
    throw Error(ErrorKind::Init, "\"" + path + "\" is truncated, corrupt or not a state dict; save it again "
                "with torch.save(model.state_dict(), path).", e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Error(ErrorKind::Init, "\"" + path + "\" cannot be unpickled; save it again with "
                "torch.save(model.state_dict(), path).", e.what());
  }

  if (!value.isGenericDict())
    throw Error(ErrorKind::Init, "\"" + path + "\" holds a " + value.tagKind() + ", not a state dict; save "
                "model.state_dict() rather than the model or a checkpoint dict.");
  StateDict sd;
  for (const auto& kv : value.toGenericDict()) {
    if (!kv.key().isString() || !kv.value().isTensor()) {
      // A training checkpoint ({'model': state_dict, 'optimizer': ...}) lands here.
      std::string key = kv.key().isString() ? kv.key().toStringRef() : kv.key().tagKind();
      throw Error(ErrorKind::Init, "\"" + path + "\" is a dict whose entry \"" + key + "\" is not a tensor: not a "
                  "state dict (a training checkpoint? save checkpoint['model'] or model.state_dict() alone).");
    }
    sd.emplace_back(kv.key().toStringRef(), kv.value().toTensor());
  }
  return sd;
}

}  // namespace ta
