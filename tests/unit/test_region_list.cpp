// torchregions' region list: the text syntax, the JSON file, clipping to the frame and the
// errors that name the entry.
#include <gtest/gtest.h>

#include <string>

#include "region_list.h"

using ta::parse_region_json;
using ta::parse_region_list;
using ta::region_pixels;
using ta::RegionListError;

namespace {

// The message of the error `text` raises ("" when it parses).
std::string list_error(const std::string& text) {
  try {
    parse_region_list(text);
  } catch (const RegionListError& e) {
    return e.what();
  }
  return "";
}

std::string json_error(const std::string& text) {
  try {
    parse_region_json(text, "regions.json");
  } catch (const RegionListError& e) {
    return e.what();
  }
  return "";
}

bool has(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

}  // namespace

TEST(RegionList, PixelsFractionsAndTypes) {
  auto r = parse_region_list(" bay1:10,20,100,80 ; door : 0.5, 0, 0.5, 1.0;30,40,5,6;");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].type, "bay1");
  EXPECT_FALSE(r[0].fraction);
  EXPECT_EQ(r[0].x, 10);
  EXPECT_EQ(r[0].y, 20);
  EXPECT_EQ(r[0].w, 100);
  EXPECT_EQ(r[0].h, 80);
  EXPECT_EQ(r[1].type, "door");
  EXPECT_TRUE(r[1].fraction);
  EXPECT_DOUBLE_EQ(r[1].x, 0.5);
  EXPECT_DOUBLE_EQ(r[1].w, 0.5);
  EXPECT_DOUBLE_EQ(r[1].h, 1.0);
  EXPECT_EQ(r[2].type, "region") << "unnamed regions get the default type";
  EXPECT_EQ(r[2].text, "30,40,5,6");
  // One decimal point makes the whole entry fractional; 0,0,1,1 stays one pixel.
  EXPECT_TRUE(parse_region_list("0,0,1,1.0")[0].fraction);
  EXPECT_FALSE(parse_region_list("0,0,1,1")[0].fraction);
  EXPECT_TRUE(parse_region_list("0,0,1e-1,1")[0].fraction);
  EXPECT_TRUE(parse_region_list("").empty());
  EXPECT_TRUE(parse_region_list("  ;  ; ").empty());
  EXPECT_EQ(parse_region_list("-20,-5,50,50")[0].x, -20) << "negative pixels are clipped, not refused";
}

TEST(RegionList, MalformedEntriesAreNamed_n) {
  struct Case {
    const char* text;
    const char* names;  // the entry, as the message quotes it
    const char* says;   // part of the explanation
  };
  for (const Case& c : {
           Case{"10,20,100", "region 0 ('10,20,100')", "expected 4 numbers"},
           Case{"a:1,2,3,4;b:1,2,3,4,5", "region 1 ('b:1,2,3,4,5')", "found 5"},
           Case{"1,2,x,4", "region 0 ('1,2,x,4')", "'x' is not a number"},
           Case{"1,2,nan,4", "region 0", "not a number"},
           Case{"1,2,,4", "region 0", "'' is not a number"},
           Case{"bad type:1,2,3,4", "region 0", "type before ':'"},
           Case{":1,2,3,4", "region 0", "type before ':'"},
           Case{"10,20,0,80", "region 0 ('10,20,0,80')", "width and height must be above 0"},
           Case{"10,20,-5,80", "region 0", "width and height"},
           Case{"0.5,0,1.5,1", "region 0 ('0.5,0,1.5,1')", "not between 0 and 1"},
           Case{"10.5,20,100,80", "region 0", "write pixels as whole numbers"},
           Case{"0.1,0.1,0.0,0.5", "region 0", "width and height"},
           Case{"1,2,99999999999,4", "region 0", "out of range"},
       }) {
    SCOPED_TRACE(c.text);
    const std::string e = list_error(c.text);
    ASSERT_FALSE(e.empty()) << "accepted";
    EXPECT_TRUE(has(e, c.names)) << e;
    EXPECT_TRUE(has(e, c.says)) << e;
  }
}

TEST(RegionList, JsonFile) {
  auto r = parse_region_json(R"({"regions": [{"type": "bay1", "x": 10, "y": 20, "w": 100, "h": 80},
                                             {"x": 0.5, "y": 0, "w": 0.5, "h": 1}]})");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].type, "bay1");
  EXPECT_FALSE(r[0].fraction);
  EXPECT_EQ(r[0].w, 100);
  EXPECT_EQ(r[1].type, "region");
  EXPECT_TRUE(r[1].fraction);
  EXPECT_DOUBLE_EQ(r[1].x, 0.5);
  // A bare array is taken too.
  EXPECT_EQ(parse_region_json(R"([{"x": 1, "y": 2, "w": 3, "h": 4}])").size(), 1u);
  EXPECT_TRUE(parse_region_json(R"({"regions": []})").empty());
}

TEST(RegionList, MalformedJsonIsNamed_n) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const Case& c : {
           Case{"{\"regions\": [", "is not valid JSON"},
           Case{"{}", "has no \"regions\" array"},
           Case{"{\"regions\": [], \"zones\": []}", "unknown member 'zones'"},
           Case{"{\"regions\": 3}", "must be an array"},
           Case{"[3]", "region 0 ('3') is not an object"},
           Case{R"([{"x": 1, "y": 2, "w": 3, "h": 4}, {"x": 1, "y": 2, "w": 3}])", "region 1 ('{\"w\":3,\"x\":1,\"y\":2}'): \"h\" is missing"},
           Case{R"([{"x": 1, "y": 2, "width": 3, "h": 4}])", "unknown member 'width'"},
           Case{R"([{"x": "1", "y": 2, "w": 3, "h": 4}])", "\"x\" must be a number"},
           Case{R"([{"type": 7, "x": 1, "y": 2, "w": 3, "h": 4}])", "\"type\" must be a string"},
           Case{R"([{"x": 0.5, "y": 2, "w": 0.1, "h": 0.1}])", "not between 0 and 1"},
           Case{R"([{"x": 0, "y": 0, "w": 0, "h": 4}])", "width and height"},
       }) {
    SCOPED_TRACE(c.text);
    const std::string e = json_error(c.text);
    ASSERT_FALSE(e.empty()) << "accepted";
    EXPECT_TRUE(has(e, "regions.json")) << e;
    EXPECT_TRUE(has(e, c.says)) << e;
  }
}

TEST(RegionList, ClippedToTheFrame) {
  auto px = [](const std::string& text, int w, int h) { return region_pixels(parse_region_list(text)[0], w, h); };
  ta::PixelRect r = px("10,20,100,80", 640, 480);
  EXPECT_EQ(r.x, 10);
  EXPECT_EQ(r.y, 20);
  EXPECT_EQ(r.w, 100);
  EXPECT_EQ(r.h, 80);
  r = px("-20,-10,50,40", 640, 480);  // hangs over the top-left corner
  EXPECT_EQ(r.x, 0);
  EXPECT_EQ(r.y, 0);
  EXPECT_EQ(r.w, 30);
  EXPECT_EQ(r.h, 30);
  r = px("600,450,100,100", 640, 480);  // over the bottom-right corner
  EXPECT_EQ(r.x, 600);
  EXPECT_EQ(r.y, 450);
  EXPECT_EQ(r.w, 40);
  EXPECT_EQ(r.h, 30);
  EXPECT_TRUE(px("700,0,10,10", 640, 480).empty()) << "right of the frame";
  EXPECT_TRUE(px("-50,0,50,10", 640, 480).empty()) << "ends where the frame begins";
  EXPECT_TRUE(px("0,0,10,10", 0, 0).empty());
  // Fractions: nearest pixel edges, on any size.
  r = px("0.5,0.0,0.5,1.0", 641, 481);
  EXPECT_EQ(r.x, 321);
  EXPECT_EQ(r.w, 320);
  EXPECT_EQ(r.y, 0);
  EXPECT_EQ(r.h, 481);
  r = px("0.9,0.9,1.0,1.0", 100, 100);  // x + w > 1: clipped
  EXPECT_EQ(r.x, 90);
  EXPECT_EQ(r.w, 10);
  r = px("0.0,0.0,1.0,1.0", 1, 1);
  EXPECT_EQ(r.w, 1);
  EXPECT_EQ(r.h, 1);
  EXPECT_TRUE(px("0.1,0.1,0.001,0.5", 100, 100).empty()) << "rounds to no pixel";
}

TEST(RegionList, FormatsBackToTheSameList) {
  const auto a = parse_region_list("bay1:10,-20,100,80;0.5,0,0.25,1.0;door:0,0,1e-1,1");
  const std::string text = ta::format_region_list(a);
  EXPECT_EQ(text, "bay1:10,-20,100,80;region:0.5,0.0,0.25,1.0;door:0.0,0.0,0.1,1.0");
  const auto b = parse_region_list(text);
  ASSERT_EQ(b.size(), a.size());
  for (size_t i = 0; i < a.size(); i++) {
    EXPECT_EQ(b[i].type, a[i].type);
    EXPECT_EQ(b[i].fraction, a[i].fraction);
    EXPECT_DOUBLE_EQ(b[i].x, a[i].x);
    EXPECT_DOUBLE_EQ(b[i].w, a[i].w);
  }
}
