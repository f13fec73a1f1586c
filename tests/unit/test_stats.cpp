// ta::SlidingWindow (the quantiles of torchclassify's stats) and ta::sha256_file (the
// model's provenance), against values worked out by hand and by sha256sum's definition
// (FIPS 180-4's test vectors).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "error.h"
#include "sha256.h"
#include "stats.h"

using namespace ta;

TEST(SlidingWindow, EmptyIsZero) {
  SlidingWindow w(8);
  EXPECT_EQ(w.size(), 0u);
  EXPECT_EQ(w.quantile(0.5), 0);
  EXPECT_EQ(w.quantile(0.99), 0);
  EXPECT_EQ(w.mean(), 0.0);
}

TEST(SlidingWindow, NearestRankQuantiles) {
  SlidingWindow w(1000);
  // 1..100 in a scrambled order: the order of arrival does not matter.
  for (int i = 0; i < 100; i++) w.add((i * 37) % 100 + 1);
  EXPECT_EQ(w.size(), 100u);
  EXPECT_EQ(w.quantile(0.5), 50);
  EXPECT_EQ(w.quantile(0.99), 99);
  EXPECT_EQ(w.quantile(1.0), 100);
  EXPECT_EQ(w.quantile(0.01), 1);
  EXPECT_DOUBLE_EQ(w.mean(), 50.5);
  SlidingWindow four(4);
  for (int v : {4, 1, 3, 2}) four.add(v);
  EXPECT_EQ(four.quantile(0.5), 2);
  EXPECT_EQ(four.quantile(0.75), 3);
  EXPECT_EQ(four.quantile(0.99), 4);
}

TEST(SlidingWindow, OldSamplesFallOut) {
  SlidingWindow w(10);
  for (int i = 0; i < 10; i++) w.add(1000);  // a slow start ...
  for (int i = 0; i < 10; i++) w.add(i + 1);  // ... then ten fast ones replace it
  EXPECT_EQ(w.size(), 10u);
  EXPECT_EQ(w.total(), 20u);
  EXPECT_EQ(w.quantile(0.99), 10);
  EXPECT_EQ(w.quantile(0.5), 5);
  w.clear();
  EXPECT_EQ(w.size(), 0u);
  EXPECT_EQ(w.total(), 0u);
}

TEST(SlidingWindow, AddAndReadFromManyThreads) {
  SlidingWindow w(64);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; t++)
    ts.emplace_back([&] {
      for (int i = 0; i < 5000; i++) {
        w.add(7);
        (void)w.quantile(0.99);
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(w.total(), 20000u);
  EXPECT_EQ(w.quantile(0.5), 7);
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_bytes("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_bytes("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, FileOfSeveralBlocksEqualsTheBytes) {
  // 2.5 MiB: more than one read block.
  std::string data(2621440, '\0');
  for (size_t i = 0; i < data.size(); i++) data[i] = (char)(i * 131 + (i >> 9));
  char path[] = "/tmp/ta_sha256_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, data.data(), data.size()), (ssize_t)data.size());
  close(fd);
  EXPECT_EQ(sha256_file(path), sha256_bytes(data.data(), data.size()));
  unlink(path);
}

TEST(Sha256, MissingFileNamesIt) {
  try {
    sha256_file("/nonexistent/model.pt");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.pt"), std::string::npos);
  }
}
