// Where the tests find their fixtures, set by meson (tests/meson.build).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <sys/stat.h>

namespace ta_test {

// The folder make_fixtures.py wrote (models, frames, torchvision's reference values).
inline std::string fixtures_dir() {
  const char* d = std::getenv("TA_FIXTURES_DIR");
  return d ? d : "";
}

inline bool file_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

// A fixture file, or "" when the fixtures were not made (torchvision missing).
inline std::string fixture(const std::string& name) {
  const std::string p = fixtures_dir() + "/" + name;
  return file_exists(p) ? p : std::string();
}

}  // namespace ta_test

// Skips the test, saying why, when a fixture is missing.
#define TA_REQUIRE_FIXTURE(var, name)                                                           \
  const std::string var = ta_test::fixture(name);                                              \
  if (var.empty())                                                                             \
  GTEST_SKIP() << "fixture " << name << " missing in '" << ta_test::fixtures_dir()             \
               << "': the reference fixtures need torch + torchvision in -Dtorch_python "      \
                  "(scripts/test installs them)"
