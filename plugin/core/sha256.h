// SHA-256 of a file, for the provenance of results: which exact model file produced them.
// OpenSSL's libcrypto does the hashing. LibTorch- and GStreamer-free.
#pragma once

#include <string>

namespace ta {

// Lowercase hex SHA-256 (64 characters) of the file at `path`, read in blocks. Throws
// ta::Error (NotFound or Init) naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

// Lowercase hex SHA-256 of `n` bytes.
std::string sha256_bytes(const void* data, size_t n);

}  // namespace ta
