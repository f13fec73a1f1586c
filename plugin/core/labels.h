// Class names: the built-in ImageNet-1k names, or a file with one label per line.
#pragma once

#include <string>
#include <vector>

namespace ta {

// The 1000 ImageNet-1k class names in torchvision's order (from its weight metadata).
const std::vector<std::string>& imagenet_labels();

// Reads one label per line (UTF-8; a trailing '\r' is dropped; a final newline is
// optional). Throws ta::Error: NotFound / OpenRead for the file, Settings when the
// line count differs from num_classes (the message names both numbers), or when a line
// is empty or not valid UTF-8.
std::vector<std::string> load_labels(const std::string& path, int num_classes);

// The labels an element uses: the file when `path` is set, else ImageNet's for 1000
// classes, else "class N".
std::vector<std::string> default_or_file_labels(const std::string& path, int num_classes);

bool is_valid_utf8(const std::string& s);

}  // namespace ta
