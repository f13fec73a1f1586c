#include "sha256.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "error.h"

namespace ta {

namespace {

struct CtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_MD_CTX, CtxFree>;

Ctx new_ctx() {
  Ctx c(EVP_MD_CTX_new());
  if (!c || EVP_DigestInit_ex(c.get(), EVP_sha256(), nullptr) != 1)
    throw Error(ErrorKind::Init, "OpenSSL could not set up a SHA-256 digest.");
  return c;
}

std::string finish(EVP_MD_CTX* c) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(c, md, &len) != 1) throw Error(ErrorKind::Init, "OpenSSL could not finish a SHA-256 digest.");
  static const char* hex = "0123456789abcdef";
  std::string s;
  s.reserve(2 * len);
  for (unsigned int i = 0; i < len; i++) {
    s += hex[md[i] >> 4];
    s += hex[md[i] & 15];
  }
  return s;
}

}  // namespace

std::string sha256_bytes(const void* data, size_t n) {
  Ctx c = new_ctx();
  if (EVP_DigestUpdate(c.get(), data, n) != 1) throw Error(ErrorKind::Init, "OpenSSL could not hash the data.");
  return finish(c.get());
}

std::string sha256_file(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f)
    throw Error(errno == ENOENT ? ErrorKind::NotFound : ErrorKind::OpenRead,
                "The model file \"" + path + "\" cannot be read to hash it: " + std::strerror(errno) + ".");
  Ctx c = new_ctx();
  std::vector<unsigned char> buf(1 << 20);
  size_t got;
  while ((got = std::fread(buf.data(), 1, buf.size(), f.get())) > 0)
    if (EVP_DigestUpdate(c.get(), buf.data(), got) != 1) throw Error(ErrorKind::Init, "OpenSSL could not hash \"" + path + "\".");
  if (std::ferror(f.get()))
    throw Error(ErrorKind::Init, "Reading the model file \"" + path + "\" failed while hashing it.");
  return finish(c.get());
}

}  // namespace ta
