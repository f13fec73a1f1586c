// ta::to_json_line: the JSON Lines schema of shared/DESIGN.md, byte for byte. The
// expected lines are written out by hand from the schema (members in its order, compact).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "json_lines.h"

using namespace ta;

namespace {

FrameResults frame(uint64_t n = 0) {
  FrameResults f;
  f.stream = "cam0";
  f.frame = n;
  f.pts = 400000000;
  f.width = 1280;
  f.height = 720;
  return f;
}

JsonClassification full_frame(std::vector<JsonLabel> labels) {
  JsonClassification c;
  c.model = "resnet50";
  c.w = 1280;
  c.h = 720;
  c.labels = std::move(labels);
  return c;
}

// The "label" of the only label of a line made of `text`.
std::string label_json(const std::string& text) {
  FrameResults f = frame();
  f.classifications.push_back(full_frame({{1, text, 0.5f}}));
  const std::string line = to_json_line(f);
  const std::string pre = "\"label\":";
  const size_t a = line.find(pre);
  const size_t b = line.find(",\"score\":", a);
  EXPECT_NE(a, std::string::npos) << line;
  EXPECT_NE(b, std::string::npos) << line;
  return line.substr(a + pre.size(), b - a - pre.size());
}

}  // namespace

TEST(JsonLines, TheSchemasExample) {
  FrameResults f = frame(12);
  f.classifications.push_back(full_frame({{281, "tabby", 0.8123f}, {285, "Egyptian cat", 0.0911f}}));
  EXPECT_EQ(to_json_line(f),
            "{\"stream\":\"cam0\",\"frame\":12,\"pts\":400000000,\"width\":1280,\"height\":720,"
            "\"classifications\":[{\"model\":\"resnet50\",\"roi\":{\"x\":0,\"y\":0,\"w\":1280,\"h\":720},"
            "\"labels\":[{\"id\":281,\"label\":\"tabby\",\"score\":0.8123},"
            "{\"id\":285,\"label\":\"Egyptian cat\",\"score\":0.0911}]}]}");
}

TEST(JsonLines, NoResultsNoPtsNoSize) {
  FrameResults f;
  f.stream = "s";
  f.frame = 3;
  EXPECT_EQ(to_json_line(f),
            "{\"stream\":\"s\",\"frame\":3,\"pts\":null,\"width\":null,\"height\":null,\"classifications\":[]}");
  f.pts = 0;  // zero is a timestamp, not "none"
  f.width = 0;
  EXPECT_EQ(to_json_line(f),
            "{\"stream\":\"s\",\"frame\":3,\"pts\":0,\"width\":0,\"height\":null,\"classifications\":[]}");
}

TEST(JsonLines, OptionalMembersOnlyWhenSetAndInOrder) {
  FrameResults f = frame();
  JsonClassification c;
  c.model = "m";
  c.x = 1;
  c.y = 2;
  c.w = 3;
  c.h = 4;
  c.source_pts = 366666666;
  c.roi_id = 7;
  c.roi_type = "person";
  f.classifications.push_back(c);
  c.source_pts.reset();
  c.roi_id = -1;
  c.roi_type = "";
  f.classifications.push_back(c);
  c.roi_id.reset();
  c.roi_type.reset();
  c.source_pts = 0;
  f.classifications.push_back(c);
  EXPECT_EQ(to_json_line(f),
            "{\"stream\":\"cam0\",\"frame\":0,\"pts\":400000000,\"width\":1280,\"height\":720,\"classifications\":["
            "{\"model\":\"m\",\"source-pts\":366666666,\"roi-id\":7,\"roi-type\":\"person\","
            "\"roi\":{\"x\":1,\"y\":2,\"w\":3,\"h\":4},\"labels\":[]},"
            "{\"model\":\"m\",\"roi-id\":-1,\"roi-type\":\"\",\"roi\":{\"x\":1,\"y\":2,\"w\":3,\"h\":4},\"labels\":[]},"
            "{\"model\":\"m\",\"source-pts\":0,\"roi\":{\"x\":1,\"y\":2,\"w\":3,\"h\":4},\"labels\":[]}]}");
}

TEST(JsonLines, ExtremeNumbers) {
  FrameResults f;
  f.stream = "x";
  f.frame = std::numeric_limits<uint64_t>::max();
  f.pts = std::numeric_limits<uint64_t>::max() - 1;
  f.width = std::numeric_limits<int>::max();
  f.height = 1;
  JsonClassification c;
  c.x = c.y = c.w = c.h = std::numeric_limits<uint32_t>::max();
  c.labels = {{std::numeric_limits<int>::min(), "a", 0.0f}, {std::numeric_limits<int>::max(), "b", 1.0f}};
  f.classifications.push_back(c);
  EXPECT_EQ(to_json_line(f),
            "{\"stream\":\"x\",\"frame\":18446744073709551615,\"pts\":18446744073709551614,"
            "\"width\":2147483647,\"height\":1,\"classifications\":[{\"model\":\"\","
            "\"roi\":{\"x\":4294967295,\"y\":4294967295,\"w\":4294967295,\"h\":4294967295},"
            "\"labels\":[{\"id\":2147483647,\"label\":\"b\",\"score\":1.0},"
            "{\"id\":-2147483648,\"label\":\"a\",\"score\":0.0}]}]}");
}

TEST(JsonLines, ScoresKeepSixDecimalsAndNonFiniteIsNull) {
  FrameResults f = frame();
  f.classifications.push_back(full_frame({{1, "a", 0.421875f},
                                          {2, "b", 0.1234567f},
                                          {3, "c", 1e-7f},
                                          {4, "d", -0.5f},
                                          {5, "e", std::numeric_limits<float>::infinity()},
                                          {6, "f", -std::numeric_limits<float>::infinity()},
                                          {7, "g", std::nanf("")}}));
  const std::string line = to_json_line(f);
  // Highest first: +inf, 0.421875, 0.123457, 1e-7 (rounds to 0), -0.5, -inf, NaN last.
  const std::string want =
      "\"labels\":[{\"id\":5,\"label\":\"e\",\"score\":null},{\"id\":1,\"label\":\"a\",\"score\":0.421875},"
      "{\"id\":2,\"label\":\"b\",\"score\":0.123457},{\"id\":3,\"label\":\"c\",\"score\":0.0},"
      "{\"id\":4,\"label\":\"d\",\"score\":-0.5},{\"id\":6,\"label\":\"f\",\"score\":null},"
      "{\"id\":7,\"label\":\"g\",\"score\":null}]";
  EXPECT_NE(line.find(want), std::string::npos) << line;
}

TEST(JsonLines, LabelsSortedHighestFirstStableForTies) {
  FrameResults f = frame();
  f.classifications.push_back(full_frame({{1, "nan", std::nanf("")},
                                          {2, "low", 0.1f},
                                          {3, "tie-1", 0.5f},
                                          {4, "high", 0.9f},
                                          {5, "tie-2", 0.5f},
                                          {6, "nan-2", std::nanf("")}}));
  const nlohmann::json j = nlohmann::json::parse(to_json_line(f));
  std::vector<int> ids;
  for (const auto& l : j["classifications"][0]["labels"]) ids.push_back(l["id"].get<int>());
  EXPECT_EQ(ids, (std::vector<int>{4, 3, 5, 2, 1, 6}));
}

TEST(JsonLines, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(label_json("quote \"x\""), "\"quote \\\"x\\\"\"");
  EXPECT_EQ(label_json("back\\slash"), "\"back\\\\slash\"");
  EXPECT_EQ(label_json("new\nline\ttab\rcr\bbs\fff"), "\"new\\nline\\ttab\\rcr\\bbs\\fff\"");
  EXPECT_EQ(label_json(std::string("ctl\x01\x1f end")), "\"ctl\\u0001\\u001f end\"");
  EXPECT_EQ(label_json("del\x7f"), "\"del\x7f\"");  // not a control character in JSON
  EXPECT_EQ(label_json("a/b"), "\"a/b\"");          // '/' needs no escape
  EXPECT_EQ(label_json(""), "\"\"");
}

TEST(JsonLines, Utf8StaysUtf8AndInvalidBytesBecomeReplacementCharacters) {
  EXPECT_EQ(label_json("caf\xc3\xa9 \xf0\x9f\x90\xb1"), "\"caf\xc3\xa9 \xf0\x9f\x90\xb1\"");
  EXPECT_EQ(label_json("\xe2\x80\xa8"), "\"\xe2\x80\xa8\"");  // U+2028 is valid JSON text
  EXPECT_EQ(label_json("bad \xff end"), "\"bad \xef\xbf\xbd end\"");
  EXPECT_EQ(label_json("cut \xc3"), "\"cut \xef\xbf\xbd\"");
  // The same for the stream, the model and the region type: every line is valid JSON.
  FrameResults f = frame();
  f.stream = "s\xfe";
  JsonClassification c = full_frame({});
  c.model = "m\x80";
  c.roi_type = "t\xc0\xaf";
  f.classifications.push_back(c);
  const std::string line = to_json_line(f);
  nlohmann::json j;
  ASSERT_NO_THROW(j = nlohmann::json::parse(line)) << line;
  EXPECT_EQ(j["stream"], "s\xef\xbf\xbd");
  EXPECT_EQ(j["classifications"][0]["model"], "m\xef\xbf\xbd");
  EXPECT_EQ(j["classifications"][0]["roi-type"].get<std::string>().substr(0, 1), "t");
}

TEST(JsonLines, OneLineWhateverTheContent) {
  FrameResults f = frame();
  f.stream = "a\nb";
  f.classifications.push_back(full_frame({{1, "x\ny\r\n", 0.5f}}));
  const std::string line = to_json_line(f);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_EQ(line.find('\r'), std::string::npos) << line;
  EXPECT_EQ(line.front(), '{');
  EXPECT_EQ(line.back(), '}');
}

// include-model-info: the provenance members come after "labels", each only when set, and
// the preprocessing's floats are rounded like the scores.
TEST(JsonLines, ProvenanceMembersOnlyWhenSetAndInOrder) {
  FrameResults f = frame();
  JsonClassification c;
  c.model = "m";
  c.w = 2;
  c.h = 2;
  c.model_sha256 = std::string(64, 'a');
  JsonPreprocess p;
  p.resize_size = 256;
  p.crop_size = 224;
  p.resize_mode = "letterbox";
  const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, NAN};
  for (int i = 0; i < 3; i++) {
    p.mean[i] = mean[i];
    p.std[i] = stdv[i];
  }
  c.preprocess = p;
  c.latency = 12345678;
  f.classifications.push_back(c);
  c.preprocess.reset();
  c.model_sha256.reset();
  f.classifications.push_back(c);
  c.latency.reset();
  c.model_sha256 = "";
  f.classifications.push_back(c);
  EXPECT_EQ(to_json_line(f),
            "{\"stream\":\"cam0\",\"frame\":0,\"pts\":400000000,\"width\":1280,\"height\":720,\"classifications\":["
            "{\"model\":\"m\",\"roi\":{\"x\":0,\"y\":0,\"w\":2,\"h\":2},\"labels\":[],\"model-sha256\":\"" +
                std::string(64, 'a') +
                "\",\"preprocess\":{\"resize-size\":256,\"crop-size\":224,\"resize-mode\":\"letterbox\","
                "\"mean\":[0.485,0.456,0.406],\"std\":[0.229,0.224,null]},\"latency\":12345678},"
                "{\"model\":\"m\",\"roi\":{\"x\":0,\"y\":0,\"w\":2,\"h\":2},\"labels\":[],\"latency\":12345678},"
                "{\"model\":\"m\",\"roi\":{\"x\":0,\"y\":0,\"w\":2,\"h\":2},\"labels\":[],\"model-sha256\":\"\"}]}");
  // Parsed back, the numbers are the ones set.
  const auto j = nlohmann::json::parse(to_json_line(f));
  EXPECT_EQ(j["classifications"][0]["latency"].get<uint64_t>(), 12345678u);
  EXPECT_EQ(j["classifications"][0]["preprocess"]["crop-size"].get<int>(), 224);
}
