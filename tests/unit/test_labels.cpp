#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "error.h"
#include "labels.h"

using namespace ta;

namespace {

std::string write_tmp(const std::string& name, const std::string& content) {
  const std::string p = ::testing::TempDir() + "/" + name;
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

ErrorKind kind_of(const std::string& path, int n, std::string* msg) {
  try {
    load_labels(path, n);
  } catch (const Error& e) {
    *msg = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "no error for " << path;
  return ErrorKind::Stream;
}

}  // namespace

TEST(Labels, BuiltinImagenetNamesAreTorchvisions) {
  const auto& l = imagenet_labels();
  ASSERT_EQ(l.size(), 1000u);
  EXPECT_EQ(l[0], "tench");
  EXPECT_EQ(l[281], "tabby");
  EXPECT_EQ(l[285], "Egyptian cat");
  EXPECT_EQ(l[999], "toilet tissue");
}

TEST(Labels, DefaultsFollowTheClassCount) {
  EXPECT_EQ(default_or_file_labels("", 1000)[281], "tabby");
  auto ten = default_or_file_labels("", 10);
  ASSERT_EQ(ten.size(), 10u);
  EXPECT_EQ(ten[3], "class 3");
}

TEST(Labels, ReadsOneLabelPerLine) {
  auto p = write_tmp("ok.txt", "cat\r\ndog \"big\"\ncaf\xc3\xa9 \xf0\x9f\x90\xb1\n");
  auto l = load_labels(p, 3);
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l[0], "cat");  // CRLF line ends are accepted
  EXPECT_EQ(l[1], "dog \"big\"");
  EXPECT_EQ(l[2], "caf\xc3\xa9 \xf0\x9f\x90\xb1");
  // No final newline.
  EXPECT_EQ(load_labels(write_tmp("nonl.txt", "a\nb"), 2).size(), 2u);
}

TEST(Labels, WrongCountNamesBothNumbers_n) {
  std::string msg;
  EXPECT_EQ(kind_of(write_tmp("three.txt", "a\nb\nc\n"), 1000, &msg), ErrorKind::Settings);
  EXPECT_NE(msg.find("has 3 labels"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1000 classes"), std::string::npos) << msg;
}

TEST(Labels, EmptyLineIsAnError_n) {
  std::string msg;
  EXPECT_EQ(kind_of(write_tmp("blank.txt", "a\n\nb\n"), 3, &msg), ErrorKind::Settings);
  EXPECT_NE(msg.find("Line 2"), std::string::npos) << msg;
}

TEST(Labels, InvalidUtf8IsAnError_n) {
  std::string msg;
  EXPECT_EQ(kind_of(write_tmp("latin1.txt", "a\ncaf\xe9\n"), 2, &msg), ErrorKind::Settings);
  EXPECT_NE(msg.find("not valid UTF-8"), std::string::npos) << msg;
}

TEST(Labels, MissingFile_n) {
  std::string msg;
  EXPECT_EQ(kind_of("/nonexistent/labels.txt", 2, &msg), ErrorKind::NotFound);
  EXPECT_NE(msg.find("labels-location"), std::string::npos);
}

TEST(Labels, Utf8Validator) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xe2\x82\xac"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));          // truncated
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
}

#include "cpu_features.h"

// precision=bf16 on the CPU warns where the CPU has no native bfloat16: the flags that
// count, read from /proc/cpuinfo's flags line.
TEST(CpuFeatures, NativeBf16IsAvx512Bf16OrAmxBf16) {
  EXPECT_TRUE(ta::native_bf16_in_flags(" fpu sse2 avx512f avx512_bf16 avx512_vnni"));
  EXPECT_TRUE(ta::native_bf16_in_flags("fpu amx_tile amx_bf16 amx_int8"));
  EXPECT_FALSE(ta::native_bf16_in_flags("fpu sse2 avx2 avx512f avx512bw avx512_vnni"));
  EXPECT_FALSE(ta::native_bf16_in_flags("avx512_bf16x amx_bf16_extra"));
  EXPECT_FALSE(ta::native_bf16_in_flags(""));
}
