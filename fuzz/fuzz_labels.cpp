// libFuzzer target: the labels-file parser (ta::load_labels) and its UTF-8 validator.
//
// Input: byte 0 picks the class count (even: the file's own line count, so that the
// success path is reached; odd: byte 0 / 2), the rest is the file. Checked:
//  - load_labels returns exactly num_classes labels, each non-empty, without '\n', valid
//    UTF-8; or throws ta::Error (never anything else, never crashes). (Only the '\r' of a
//    CRLF line end is dropped: other control characters stay in the label.)
//  - ta::is_valid_utf8 agrees with GLib's g_utf8_validate on every NUL-free input.
#include <glib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "error.h"
#include "labels.h"

namespace {

std::string path;

void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_labels: %s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  gchar* p = g_build_filename(g_get_tmp_dir(), "ta-fuzz-labels-XXXXXX", nullptr);
  const int fd = g_mkstemp(p);
  if (fd < 0) std::abort();
  close(fd);
  path = p;
  g_free(p);
  std::atexit([] { unlink(path.c_str()); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);

  // The validator against GLib's (which refuses NUL bytes, ours does not care).
  if (text.find('\0') == std::string::npos) {
    const bool ours = ta::is_valid_utf8(text);
    const bool glib = g_utf8_validate(text.data(), (gssize)text.size(), nullptr);
    if (ours != glib) fail("is_valid_utf8 disagrees with g_utf8_validate", ours ? "ours accepts" : "ours refuses");
  }

  int lines = 0;
  for (size_t i = 0; i < text.size(); i++)
    if (text[i] == '\n' && i + 1 < text.size()) lines++;
  if (!text.empty()) lines++;
  const int num_classes = data[0] % 2 == 0 ? lines : data[0] / 2;

  // (not g_file_set_contents: it syncs the file to disk, a thousand times slower)
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fclose(f) != 0) std::abort();
  try {
    const std::vector<std::string> labels = ta::load_labels(path, num_classes);
    if ((int)labels.size() != num_classes) fail("wrong count", std::to_string(labels.size()));
    for (const std::string& l : labels) {
      if (l.empty()) fail("an empty label", "");
      if (l.find('\n') != std::string::npos) fail("a newline in a label", l);
      if (!ta::is_valid_utf8(l)) fail("a label that is not UTF-8", l);
    }
  } catch (const ta::Error& e) {
    if (e.what()[0] == '\0') fail("an error without a message", "");
  }
  return 0;
}
