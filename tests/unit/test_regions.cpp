// ta::select_regions: which detector regions torchclassify classifies (roi-list mode).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

#include "regions.h"

using namespace ta;

namespace {

Region reg(int64_t x, int64_t y, int64_t w, int64_t h, const std::string& type = "face", int id = 0) {
  Region r;
  r.x = x;
  r.y = y;
  r.w = w;
  r.h = h;
  r.type = type;
  r.id = id;
  return r;
}

std::vector<Region> indexed(std::vector<Region> v) {
  for (size_t i = 0; i < v.size(); i++) v[i].index = i;
  return v;
}

}  // namespace

TEST(Regions, ParseClasses) {
  EXPECT_TRUE(parse_classes("").empty());
  EXPECT_TRUE(parse_classes(" , ,").empty());
  EXPECT_EQ(parse_classes("face"), std::vector<std::string>({"face"}));
  EXPECT_EQ(parse_classes(" car, truck ,,bus"), std::vector<std::string>({"car", "truck", "bus"}));
}

TEST(Regions, ClipsToTheFrame) {
  RegionSettings s;
  const auto in = indexed({reg(-10, -20, 50, 60, "face", 1), reg(600, 400, 100, 200, "face", 2),
                           reg(5, 7, 11, 13, "face", 3)});
  const RegionSelection r = select_regions(640, 480, in, s);
  ASSERT_EQ(r.regions.size(), 3u);
  EXPECT_EQ(r.regions[0].x, 0);
  EXPECT_EQ(r.regions[0].y, 0);
  EXPECT_EQ(r.regions[0].w, 40);
  EXPECT_EQ(r.regions[0].h, 40);
  EXPECT_EQ(r.regions[0].id, 1);
  EXPECT_EQ(r.regions[1].x, 600);
  EXPECT_EQ(r.regions[1].y, 400);
  EXPECT_EQ(r.regions[1].w, 40);
  EXPECT_EQ(r.regions[1].h, 80);
  EXPECT_EQ(r.regions[2].x, 5);
  EXPECT_EQ(r.regions[2].w, 11);
  EXPECT_EQ(r.regions[2].h, 13);
  EXPECT_EQ(r.regions[2].index, 2u);
}

TEST(Regions, HugeNegativeAndEmptyRegionsAreSkippedOrClipped) {
  RegionSettings s;
  const int64_t big = (int64_t)UINT32_MAX;
  const auto in = indexed({
      reg(0, 0, 0, 10),                 // zero width
      reg(0, 0, 10, 0),                 // zero height
      reg(640, 0, 10, 10),              // right of the frame
      reg(-100, -100, 50, 50),          // above and left of it
      reg(big, big, big, big),          // far outside: no wrap into the frame
      reg(0, 0, big, big),              // covers the frame: clipped to it
      reg(-big, -big, 2 * big, 2 * big),// also
      reg(3, 4, -5, 6),                 // negative width
  });
  const RegionSelection r = select_regions(640, 480, in, s);
  EXPECT_EQ(r.skipped_empty, 6u);
  ASSERT_EQ(r.regions.size(), 2u);
  for (const auto& x : r.regions) {
    EXPECT_EQ(x.x, 0);
    EXPECT_EQ(x.y, 0);
    EXPECT_EQ(x.w, 640);
    EXPECT_EQ(x.h, 480);
  }
}

TEST(Regions, OneByOneFrame) {
  RegionSettings s;
  const auto in = indexed({reg(0, 0, 1, 1), reg(0, 0, 100, 100), reg(1, 0, 1, 1), reg(-1, -1, 1, 1)});
  const RegionSelection r = select_regions(1, 1, in, s);
  ASSERT_EQ(r.regions.size(), 2u);
  EXPECT_EQ(r.regions[0].w, 1);
  EXPECT_EQ(r.regions[1].h, 1);
  EXPECT_EQ(r.skipped_empty, 2u);
  s.min_size = 2;
  const RegionSelection r2 = select_regions(1, 1, in, s);
  EXPECT_TRUE(r2.regions.empty());
  EXPECT_EQ(r2.skipped_small, 2u);
  // No frame at all: everything is empty.
  EXPECT_EQ(select_regions(0, 0, in, RegionSettings()).skipped_empty, 4u);
}

TEST(Regions, TypesAndMinSize) {
  RegionSettings s;
  s.classes = parse_classes("car,truck");
  s.min_size = 16;
  const auto in = indexed({reg(0, 0, 100, 100, "car"), reg(0, 0, 100, 100, "person"), reg(0, 0, 15, 100, "truck"),
                           reg(0, 0, 100, 15, "car"), reg(630, 0, 100, 100, "car"), reg(0, 0, 16, 16, "truck"),
                           reg(0, 0, 50, 50, "")});
  const RegionSelection r = select_regions(640, 480, in, s);
  ASSERT_EQ(r.regions.size(), 2u);
  EXPECT_EQ(r.regions[0].index, 0u);
  EXPECT_EQ(r.regions[1].index, 5u);
  EXPECT_EQ(r.skipped_class, 2u);  // person, untyped
  EXPECT_EQ(r.skipped_small, 3u);  // 15 wide, 15 high, 10 wide after clipping
  // A class naming no region: nothing selected, everything counted.
  s.classes = {"bicycle"};
  const RegionSelection none = select_regions(640, 480, in, s);
  EXPECT_TRUE(none.regions.empty());
  EXPECT_EQ(none.skipped_class, in.size());
}

TEST(Regions, MaxRoisKeepsTheLargestInInputOrder) {
  RegionSettings s;
  s.max_rois = 3;
  const auto in = indexed({reg(0, 0, 10, 10, "a", 0), reg(0, 0, 50, 50, "a", 1), reg(0, 0, 20, 20, "a", 2),
                           reg(0, 0, 50, 50, "a", 3), reg(0, 0, 50, 50, "a", 4), reg(0, 0, 30, 30, "a", 5)});
  const RegionSelection r = select_regions(640, 480, in, s);
  ASSERT_EQ(r.regions.size(), 3u);
  EXPECT_EQ(r.regions[0].id, 1);  // equal areas: the earlier ones
  EXPECT_EQ(r.regions[1].id, 3);
  EXPECT_EQ(r.regions[2].id, 4);
  EXPECT_EQ(r.skipped_limit, 3u);
  s.max_rois = 0;
  EXPECT_TRUE(select_regions(640, 480, in, s).regions.empty());
  EXPECT_EQ(select_regions(640, 480, in, s).skipped_limit, in.size());
}

// 10,000 regions on one frame: bounded by max_rois, the largest kept, and cheap (the
// time is printed, not asserted: bench/ measures speed).
TEST(Regions, TenThousandRegions) {
  std::mt19937 rng(11);
  std::vector<Region> in;
  for (int i = 0; i < 10000; i++)
    in.push_back(reg((int)(rng() % 2000) - 500, (int)(rng() % 1500) - 400, rng() % 400, rng() % 400, "face", i));
  in = indexed(in);
  RegionSettings s;
  s.max_rois = 16;
  const auto t0 = std::chrono::steady_clock::now();
  const RegionSelection r = select_regions(1280, 720, in, s);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.regions.size(), 16u);
  EXPECT_EQ(r.regions.size() + r.skipped_empty + r.skipped_limit, in.size());
  // Nothing left out is larger than what was kept.
  int64_t smallest = INT64_MAX;
  for (const auto& x : r.regions) smallest = std::min<int64_t>(smallest, (int64_t)x.w * x.h);
  const RegionSelection all = select_regions(1280, 720, in, RegionSettings{{}, 0, 100000});
  size_t larger = 0;
  for (const auto& x : all.regions) larger += (int64_t)x.w * x.h > smallest;
  EXPECT_LT(larger, 16u);
  for (size_t i = 1; i < r.regions.size(); i++) EXPECT_LT(r.regions[i - 1].index, r.regions[i].index);
  std::printf("[regions] 10000 regions -> 16 in %.2f ms\n", ms);
}
