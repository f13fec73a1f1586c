#include "labels.h"

#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "error.h"

namespace ta {

const std::vector<std::string>& imagenet_labels() {
  static const std::vector<std::string> names = {
#include "imagenet_labels.inc"
  };
  return names;
}

bool is_valid_utf8(const std::string& s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const unsigned char c = (unsigned char)s[i];
    int len;
    uint32_t cp;
    if (c < 0x80) { i++; continue; }
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > n) return false;
    for (int k = 1; k < len; k++) {
      const unsigned char cc = (unsigned char)s[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
      return false;
    i += len;
  }
  return true;
}

std::vector<std::string> load_labels(const std::string& path, int num_classes) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    throw Error(ErrorKind::NotFound, "The labels file \"" + path + "\" does not exist: check labels-location.");
  std::ifstream f(path, std::ios::binary);
  if (!f || S_ISDIR(st.st_mode))
    throw Error(ErrorKind::OpenRead, "The labels file \"" + path + "\" cannot be read: check its permissions.");
  std::vector<std::string> labels;
  std::string line;
  int lineno = 0;
  while (std::getline(f, line)) {
    lineno++;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!is_valid_utf8(line))
      throw Error(ErrorKind::Settings, "Line " + std::to_string(lineno) + " of the labels file \"" + path +
                                           "\" is not valid UTF-8: save the file as UTF-8.");
    if (line.empty())
      throw Error(ErrorKind::Settings, "Line " + std::to_string(lineno) + " of the labels file \"" + path +
                                           "\" is empty: write one label on each line, with no blank lines.");
    labels.push_back(line);
  }
  if ((int)labels.size() != num_classes)
    throw Error(ErrorKind::Settings, "The labels file \"" + path + "\" has " + std::to_string(labels.size()) +
                                         " labels but the model has " + std::to_string(num_classes) +
                                         " classes: give one label per class, one per line.");
  return labels;
}

std::vector<std::string> default_or_file_labels(const std::string& path, int num_classes) {
  if (!path.empty()) return load_labels(path, num_classes);
  if (num_classes == (int)imagenet_labels().size()) return imagenet_labels();
  std::vector<std::string> v;
  v.reserve(num_classes);
  for (int i = 0; i < num_classes; i++) v.push_back("class " + std::to_string(i));
  return v;
}

}  // namespace ta
