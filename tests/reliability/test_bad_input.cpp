// Bad input, each with a clear error and no crash: model files cut at ten places, zips
// with the wrong entries (and a pickle that asks for os.system), labels files with blank
// lines or bytes that are not UTF-8, caps of 0x0 and 1x1 frames, buffers smaller than
// their caps, and metadata from another producer that is out of range.
//
// What tests/element and tests/unit check already (missing files, random bytes, legacy
// format, checkpoints, NaN weights, another architecture, the labels count, mean/std,
// crop-size > resize-size, device, unwritable location) is not repeated here.
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gsttorchclassificationmeta.h"
#include "reliability_helpers.h"
#include "test_env.h"

using namespace ta_rel;

namespace {

// Runs a short pipeline through torchclassify with `props` and expects it to stop with
// this error (domain, code) whose message contains `text`, within the watchdog's time.
void expect_classify_error(const std::string& props, GQuark domain, int code, const std::string& text) {
  BusLog r;
  run_launch("videotestsrc num-buffers=3 ! video/x-raw,width=64,height=48 ! torchclassify device=cpu " + props +
                 " ! fakesink",
             &r, 60);
  ASSERT_FALSE(r.timed_out) << props << ": " << r.describe();
  ASSERT_TRUE(r.error) << "no error for " << props << ": " << r.describe();
  EXPECT_EQ(r.error->domain, domain) << props << ": " << r.describe();
  EXPECT_EQ(r.error->code, code) << props << ": " << r.describe();
  EXPECT_NE(std::string(r.error->message).find(text), std::string::npos)
      << props << ": expected \"" << text << "\" in: " << r.describe();
  EXPECT_NE(r.error_source.find("torchclassify"), std::string::npos) << r.describe();
}

// Ten places to cut a file of `n` bytes: inside the zip's first local header, in the
// middle of records, and through the central directory at the end.
std::vector<size_t> cut_points(size_t n) {
  return {1, 4, 30, 200, n / 4, n / 2, (3 * n) / 4, n - 200, n - 22, n - 1};
}

std::string system_python() {
  const char* p = g_getenv("TA_SYSTEM_PYTHON");
  if (p && *p) return p;
  return g_file_test("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE) ? "/usr/bin/python3" : "";
}

// Runs `python3 -c code args...` (no shell); returns its exit status, stderr in `err`.
int run_python(const std::string& code, const std::vector<std::string>& args, std::string* err) {
  std::vector<std::string> argv = {system_python(), "-c", code};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<gchar*> a;
  for (auto& s : argv) a.push_back(&s[0]);
  a.push_back(nullptr);
  gchar* e = nullptr;
  gint status = -1;
  GError* error = nullptr;
  if (!g_spawn_sync(nullptr, a.data(), nullptr, G_SPAWN_DEFAULT, nullptr, nullptr, nullptr, &e, &status, &error)) {
    *err = error->message;
    g_error_free(error);
    return -1;
  }
  *err = e ? e : "";
  g_free(e);
  return status;
}

// Rewrites the zip `src` into `dst` with Python's zipfile: `how` is one of the cases of
// the script below. Entries are stored (not compressed), as torch.save does.
const char* kRezip = R"PY(
import pickle, sys, zipfile
src, dst, how, marker = sys.argv[1:5]
zin = zipfile.ZipFile(src)
names = zin.namelist()
prefix = names[0].split('/')[0]
class Evil:
    # Unpickled by Python, this would run a shell command that creates `marker`.
    def __reduce__(self):
        import os
        return (os.system, ('touch ' + marker,))
with zipfile.ZipFile(dst, 'w', zipfile.ZIP_STORED) as zout:
    if how == 'only-unrelated':
        zout.writestr('notes.txt', 'not a model')
    elif how == 'empty':
        pass
    else:
        for n in names:
            data = zin.read(n)
            rel = n[len(prefix) + 1:]
            if how == 'no-data-pkl' and rel == 'data.pkl': continue
            if how == 'no-version' and rel in ('version', '.data/version'): continue
            if how == 'no-storage' and rel == 'data/0': continue
            if how == 'garbage-pickle' and rel == 'data.pkl': data = b'\x80\x02garbage, not a pickle program'
            if how == 'int-pickle' and rel == 'data.pkl': data = pickle.dumps(42, protocol=2)
            if how == 'evil-pickle' and rel == 'data.pkl': data = pickle.dumps({'w': Evil()}, protocol=2)
            if how == 'empty-pickle' and rel == 'data.pkl': data = b''
            if how == 'mixed-prefix' and rel == 'data.pkl': n = 'other/data.pkl'
            zout.writestr(n, data)
)PY";

}  // namespace

// ---- model files ---------------------------------------------------------------------

// `good` cut at the ten places, each given to torchclassify as `props` + the cut file:
// every one must be a LIBRARY/INIT error naming the file.
void expect_every_cut_refused(const std::string& good, const char* suffix, const std::string& props) {
  const std::string full = read_file(good);
  ASSERT_GT(full.size(), 1000u);
  TempFile cut(suffix);
  for (size_t n : cut_points(full.size())) {
    SCOPED_TRACE("cut at byte " + std::to_string(n) + " of " + std::to_string(full.size()));
    ASSERT_TRUE(write_file(cut.path(), full.substr(0, n)));
    expect_classify_error(props + cut.path(), GST_LIBRARY_ERROR, GST_LIBRARY_ERROR_INIT, cut.path());
  }
}

TEST(BadModel, StateDictTruncatedAtTenPlaces_n) {
  TA_REQUIRE_FIXTURE(weights, "resnet18_seeded.pth");
  Watchdog dog(300, "truncated state dicts");
  expect_every_cut_refused(weights, ".pth", "architecture=resnet18 weights-location=");
}

TEST(BadModel, TorchScriptTruncatedAtTenPlaces_n) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  Watchdog dog(300, "truncated TorchScript files");
  expect_every_cut_refused(model, ".ts", "model-location=");
}

TEST(BadModel, ZipWithTheWrongEntries_n) {
  TA_REQUIRE_FIXTURE(weights, "resnet18_seeded.pth");
  if (system_python().empty()) GTEST_SKIP() << "no /usr/bin/python3 to write the zips";
  Watchdog dog(300, "zips with the wrong entries");
  TempFile marker(".marker");
  g_unlink(marker.path().c_str());
  for (const char* how : {"only-unrelated", "empty", "no-data-pkl", "no-version", "no-storage", "garbage-pickle",
                          "int-pickle", "evil-pickle", "empty-pickle", "mixed-prefix"}) {
    SCOPED_TRACE(how);
    TempFile zip(".pth");
    std::string err;
    ASSERT_EQ(run_python(kRezip, {weights, zip.path(), how, marker.path()}, &err), 0) << err;
    expect_classify_error("architecture=resnet18 weights-location=" + zip.path(), GST_LIBRARY_ERROR,
                          GST_LIBRARY_ERROR_INIT, zip.path());
    // The same file given as a TorchScript model.
    expect_classify_error("model-location=" + zip.path(), GST_LIBRARY_ERROR, GST_LIBRARY_ERROR_INIT, zip.path());
    // The pickle that calls os.system was refused, not run.
    EXPECT_FALSE(ta_test::file_exists(marker.path())) << "the unpickler ran os.system";
  }
}

TEST(BadModel, TheErrorSaysWhatIsMissing_n) {
  TA_REQUIRE_FIXTURE(weights, "resnet18_seeded.pth");
  if (system_python().empty()) GTEST_SKIP() << "no /usr/bin/python3 to write the zips";
  TempFile marker(".marker");
  struct Case {
    const char* how;
    const char* text;
  } cases[] = {{"no-data-pkl", "without data.pkl"},
               {"int-pickle", "not a state dict"},
               {"garbage-pickle", "does not hold a state dict"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.how);
    TempFile zip(".pth");
    std::string err;
    ASSERT_EQ(run_python(kRezip, {weights, zip.path(), c.how, marker.path()}, &err), 0) << err;
    expect_classify_error("architecture=resnet18 weights-location=" + zip.path(), GST_LIBRARY_ERROR,
                          GST_LIBRARY_ERROR_INIT, c.text);
  }
}

// ---- labels files --------------------------------------------------------------------

TEST(BadLabels, BlankLinesAndInvalidUtf8AreErrorsOnTheBus_n) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");  // 10 classes
  std::string ten;
  for (int i = 0; i < 10; i++) ten += "label " + std::to_string(i) + "\n";
  struct Case {
    std::string text, expect;
  } cases[] = {
      {"a\nb\nc\nd\n\nf\ng\nh\ni\nj\n", "Line 5"},              // a blank line in the middle
      {ten + "\n", "Line 11"},                                   // a blank line at the end
      {"\n" + ten.substr(0, ten.size() - 8), "Line 1"},          // a blank first line
      {"a\nb\nc\n\xff\xfe\nd\ne\nf\ng\nh\ni\n", "not valid UTF-8"},   // not UTF-8
      {"a\nb\nc\nd\ne\nf\ng\nh\ni\n\xc3\x28\n", "not valid UTF-8"},   // a broken 2-byte sequence
      {"a\nb\nc\nd\ne\nf\ng\nh\ni\n\xed\xa0\x80\n", "not valid UTF-8"},  // a UTF-16 surrogate
      {"a\nb\nc\nd\ne\nf\ng\nh\ni\n\xc0\xaf\n", "not valid UTF-8"},   // an overlong '/'
      {"", "has 0 labels but the model has 10 classes"},         // empty file
      {ten + ten, "has 20 labels"},                               // too many
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.expect);
    TempFile labels(".txt");
    ASSERT_TRUE(write_file(labels.path(), c.text));
    expect_classify_error("model-location=" + model + " labels-location=" + labels.path(), GST_RESOURCE_ERROR,
                          GST_RESOURCE_ERROR_SETTINGS, c.expect);
  }
}

TEST(BadLabels, CrLfLinesAndAMissingFinalNewlineAreFine) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  TempFile labels(".txt");
  std::string text;
  for (int i = 0; i < 10; i++) text += "caf\xc3\xa9 " + std::to_string(i) + (i < 9 ? "\r\n" : "");
  ASSERT_TRUE(write_file(labels.path(), text));
  BusLog r;
  run_launch("videotestsrc num-buffers=2 ! video/x-raw,width=32,height=32 ! torchclassify device=cpu model-location=" +
                 model + " labels-location=" + labels.path() + " ! fakesink",
             &r);
  EXPECT_FALSE(r.error) << r.describe();
  EXPECT_TRUE(r.eos) << r.describe();
}

TEST(BadLabels, DirectoryAsLabelsFile_n) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  const std::string dir = ::testing::TempDir() + "/labels_dir.txt";
  g_mkdir_with_parents(dir.c_str(), 0755);
  expect_classify_error("model-location=" + model + " labels-location=" + dir, GST_RESOURCE_ERROR,
                        GST_RESOURCE_ERROR_OPEN_READ, "cannot be read");
}

// ---- caps and buffers ----------------------------------------------------------------

// appsrc with `caps` pushing `n` buffers of `size` bytes (-1: what the caps say) into
// `chain`, then EOS.
void run_appsrc(const std::string& caps, const std::string& chain, int n, gssize size, BusLog* r) {
  const std::string launch = "appsrc name=src format=time caps=\"" + caps + "\" ! " + chain;
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(launch.c_str(), &err);
  ASSERT_TRUE(p && !err) << launch << ": " << (err ? err->message : "");
  GstElement* src = gst_bin_get_by_name(GST_BIN(p), "src");
  gsize bytes = 0;
  if (size < 0) {
    GstCaps* c = gst_caps_from_string(caps.c_str());
    GstVideoInfo info;
    if (gst_video_info_from_caps(&info, c)) bytes = GST_VIDEO_INFO_SIZE(&info);
    gst_caps_unref(c);
  } else {
    bytes = (gsize)size;
  }
  gst_element_set_state(p, GST_STATE_PLAYING);
  for (int i = 0; i < n; i++) {
    GstBuffer* b = gst_buffer_new_allocate(nullptr, bytes, nullptr);
    gst_buffer_memset(b, 0, (guint8)(40 + i), bytes);
    GST_BUFFER_PTS(b) = i * GST_SECOND / 30;
    GST_BUFFER_DURATION(b) = GST_SECOND / 30;
    if (gst_app_src_push_buffer(GST_APP_SRC(src), b) != GST_FLOW_OK) break;
  }
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  collect(p, r, 60);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(p);
}

TEST(BadCaps, ZeroByZeroFramesAreRefusedAtNegotiation_n) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  Watchdog dog(120, "0x0 caps");
  for (const std::string& c : {"torchclassify device=cpu model-location=" + model + " ! fakesink",
                               std::string("torchoverlay ! fakesink")}) {
    SCOPED_TRACE(c);
    BusLog r;
    run_appsrc("video/x-raw,format=RGB,width=0,height=0,framerate=30/1", c, 2, 16, &r);
    ASSERT_FALSE(r.timed_out) << r.describe();
    ASSERT_TRUE(r.error) << r.describe();
    // Refused by the caps (not-negotiated) before any of our code sees a frame.
    EXPECT_EQ(r.error->domain, GST_STREAM_ERROR) << r.describe();
  }
}

TEST(BadCaps, OneByOneFramesThroughTheWholeChain) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  Watchdog dog(120, "1x1 frames");
  for (const char* fmt : {"RGB", "BGRx", "ARGB", "I420", "NV12"}) {
    SCOPED_TRACE(fmt);
    TempFile json(".jsonl");
    BusLog r;
    run_appsrc(std::string("video/x-raw,format=") + fmt + ",width=1,height=1,framerate=30/1",
               "torchclassify device=cpu mode=sync model-location=" + model +
                   " ! torchoverlay ! torchmetasink location=" + json.path(),
               3, -1, &r);
    EXPECT_FALSE(r.error) << r.describe();
    EXPECT_TRUE(r.eos) << r.describe();
    const auto lines = read_lines(json.path());
    ASSERT_EQ(lines.size(), 3u);
    for (const auto& l : lines) {
      const auto j = nlohmann::json::parse(l);
      EXPECT_EQ(j["width"], 1);
      EXPECT_EQ(j["height"], 1);
      ASSERT_EQ(j["classifications"].size(), 1u) << l;
      EXPECT_EQ(j["classifications"][0]["labels"].size(), 5u) << l;
    }
  }
}

TEST(BadBuffers, SmallerThanTheCapsSayIsAnErrorNotACrash_n) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  Watchdog dog(120, "short buffers");
  const std::string caps = "video/x-raw,format=I420,width=320,height=240,framerate=30/1";
  for (gssize size : {0, 1, 320 * 240, 320 * 240 * 3 / 2 - 1}) {
    SCOPED_TRACE(size);
    BusLog r;
    run_appsrc(caps, "torchclassify device=cpu model-location=" + model + " ! torchoverlay ! fakesink", 2, size, &r);
    ASSERT_FALSE(r.timed_out) << r.describe();
    ASSERT_TRUE(r.error) << r.describe();
    EXPECT_EQ(r.error->domain, GST_STREAM_ERROR) << r.describe();
    EXPECT_NE(r.error_source.find("torchclassify"), std::string::npos) << r.describe();
  }
}

// torchoverlay and torchmetasink read metadata that any element may have attached: a
// region outside the frame, of size 0 or near 2^32, labels of every kind, NaN and
// infinite scores must be drawn (clipped) and written (valid JSON) without a crash.
TEST(BadMeta, OutOfRangeRegionsAndScoresFromAnotherProducer) {
  TempFile json(".jsonl");
  GstHarness* h = gst_harness_new_parse(("torchoverlay ! torchmetasink location=" + json.path()).c_str());
  for (const char* fmt : {"RGBA", "I420", "NV12"}) {
    gst_harness_set_src_caps_str(h, (std::string("video/x-raw,format=") + fmt + ",width=33,height=17,framerate=30/1").c_str());
    GstVideoInfo info;
    gst_video_info_set_format(&info, gst_video_format_from_string(fmt), 33, 17);
    struct Region {
      guint x, y, w, h;
    } regions[] = {{0, 0, 33, 17}, {1000, 1000, 5, 5}, {0, 0, 0, 0}, {G_MAXUINT, G_MAXUINT, G_MAXUINT, G_MAXUINT},
                   {32, 16, G_MAXUINT / 2, 1}, {G_MAXINT, 0, 1, G_MAXINT}};
    GstBuffer* b = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
    gst_buffer_memset(b, 0, 0x80, GST_VIDEO_INFO_SIZE(&info));
    int k = 0;
    for (const Region& r : regions) {
      GstTorchClassificationMeta* m =
          gst_buffer_add_torch_classification_meta(b, k % 2 ? "m\xff\"\\\n" : nullptr, r.x, r.y, r.w, r.h);
      ASSERT_TRUE(m);
      gst_torch_classification_meta_add_label(m, -1, "\xc3\x28 broken", NAN);
      gst_torch_classification_meta_add_label(m, G_MAXINT, nullptr, INFINITY);
      gst_torch_classification_meta_add_label(m, 3, std::string(5000, 'W').c_str(), -INFINITY);
      gst_torch_classification_meta_add_label(m, 4, "tab\there \x01\x7f", 2.5f);
      gst_torch_classification_meta_add_label(m, 5, "", -1.0f);
      k++;
    }
    ASSERT_EQ(gst_harness_push(h, b), GST_FLOW_OK) << fmt;
  }
  gst_harness_teardown(h);
  const auto lines = read_lines(json.path());
  ASSERT_EQ(lines.size(), 3u);
  for (const auto& l : lines) {
    nlohmann::json j;
    ASSERT_NO_THROW(j = nlohmann::json::parse(l)) << l;
    ASSERT_EQ(j["classifications"].size(), 6u);
    for (const auto& c : j["classifications"]) {
      ASSERT_EQ(c["labels"].size(), 5u);
      // Highest first (+inf is written null), NaN and -inf (null too) last.
      EXPECT_EQ(c["labels"][0]["id"], G_MAXINT) << c;
      EXPECT_TRUE(c["labels"][0]["score"].is_null()) << c;
      EXPECT_EQ(c["labels"][1]["id"], 4) << c;
      EXPECT_EQ(c["labels"][2]["id"], 5) << c;
      EXPECT_TRUE(c["labels"][3]["score"].is_null()) << c;
      EXPECT_TRUE(c["labels"][4]["score"].is_null()) << c;
    }
  }
}
