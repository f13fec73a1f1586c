// Faults around a running pipeline: the disk of torchmetasink's file fills up. (The MQTT
// broker killed and restarted is in tests/element/test_mqtt.cpp; the RTSP server killed
// mid-stream in tests/pipeline/test_rtsp.cpp and test_app.cpp.)
//
// A real full disk: a 64 KiB tmpfs, mounted in a mount namespace of its own so that the
// machine's mounts are never touched. The test runs itself again under unshare(1) (as root
// `unshare --mount`, otherwise `unshare --map-root-user --mount`), and that copy mounts the
// tmpfs and runs the pipeline; the test fails when the copy fails, and is skipped, with
// the reason, only where neither kind of namespace may be made.
#include <errno.h>
#include <glib.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reliability_helpers.h"
#include "test_env.h"

using namespace ta_rel;

namespace {

constexpr const char* kDirVar = "TA_DISKFULL_DIR";
constexpr int kNoMount = 77;  // the copy could not mount its tmpfs: not a test failure
constexpr const char* kTmpfsSize = "64k";

std::string self_exe() {
  gchar* p = g_file_read_link("/proc/self/exe", nullptr);
  std::string s = p ? p : "";
  g_free(p);
  return s;
}

// Runs argv with `dir` in kDirVar; returns the exit status (-1: could not start), and
// what it printed in *out.
int run_copy(const std::vector<std::string>& argv, const std::string& dir, std::string* out) {
  std::vector<gchar*> a;
  for (const auto& s : argv) a.push_back(const_cast<gchar*>(s.c_str()));
  a.push_back(nullptr);
  gchar** env = g_environ_setenv(g_get_environ(), kDirVar, dir.c_str(), TRUE);
  gchar *so = nullptr, *se = nullptr;
  gint status = -1;
  GError* err = nullptr;
  const bool ok = g_spawn_sync(nullptr, a.data(), env, G_SPAWN_SEARCH_PATH_FROM_ENVP, nullptr, nullptr, &so, &se, &status, &err);
  *out = std::string(so ? so : "") + (se ? se : "") + (err ? err->message : "");
  g_free(so);
  g_free(se);
  g_clear_error(&err);
  g_strfreev(env);
  if (!ok) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// The part that runs inside the namespace, on the mounted tmpfs.
void disk_full_inside(const std::string& dir, const std::string& model) {
  const std::string out = dir + "/results.jsonl";
  GstElement* p = nullptr;
  {
    GError* err = nullptr;
    p = gst_parse_launch(("videotestsrc name=src num-buffers=3000 pattern=ball ! video/x-raw,width=64,height=48 ! "
                          "torchclassify model-location=\"" + model + "\" device=cpu ! torchoverlay ! "
                          "torchmetasink name=sink stream-name=disk location=\"" + out + "\"").c_str(),
                         &err);
    ASSERT_TRUE(p && !err) << (err ? err->message : "");
  }

  // 1. The disk fills up: an error that says so and what to do, and the pipeline stops.
  {
    BusLog r;
    gst_element_set_state(p, GST_STATE_PLAYING);
    collect(p, &r, 120);
    gst_element_set_state(p, GST_STATE_NULL);
    ASSERT_FALSE(r.timed_out) << r.describe();
    ASSERT_TRUE(r.error) << "3000 frames fit in " << kTmpfsSize << "? " << r.describe();
    EXPECT_EQ(r.error->domain, GST_RESOURCE_ERROR) << r.describe();
    EXPECT_EQ(r.error->code, GST_RESOURCE_ERROR_NO_SPACE_LEFT) << r.describe();
    const std::string msg = r.error->message;
    EXPECT_NE(msg.find(out), std::string::npos) << msg;
    EXPECT_NE(msg.find(g_strerror(ENOSPC)), std::string::npos) << msg;
    EXPECT_NE(msg.find("Free space"), std::string::npos) << msg;
    EXPECT_NE(r.error_source.find("sink"), std::string::npos) << r.describe();

    // 2. What was written is kept whole: the file ends with a complete line, every line
    // parses, and the frames are all there from 0 on, none missing, none half written.
    const std::string text = read_file(out);
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n') << "the file ends in the middle of a line";
    const auto lines = read_lines(out);
    EXPECT_GT(lines.size(), 50u) << "the disk had room for more";
    for (size_t i = 0; i < lines.size(); i++) {
      const auto j = nlohmann::json::parse(lines[i], nullptr, false);
      ASSERT_FALSE(j.is_discarded()) << "line " << i << " is not JSON: " << lines[i];
      ASSERT_EQ(j.value("frame", -1), static_cast<long>(i)) << lines[i];
      ASSERT_EQ(j["classifications"].size(), 1u) << lines[i];
    }
    // The debug text counts the whole lines the file keeps.
    EXPECT_NE(r.error_debug.find("keeps the " + std::to_string(lines.size()) + " whole lines"),
              std::string::npos)
        << r.describe();
    std::printf("disk full after %zu lines, %zu bytes, on a %s tmpfs\n", lines.size(), text.size(), kTmpfsSize);
  }

  // 3. Room again (the file removed): the same pipeline runs to EOS and writes again.
  ASSERT_EQ(g_unlink(out.c_str()), 0);
  {
    GstElement* src = gst_bin_get_by_name(GST_BIN(p), "src");
    ASSERT_NE(src, nullptr);
    g_object_set(src, "num-buffers", 20, nullptr);
    gst_object_unref(src);
    BusLog r;
    gst_element_set_state(p, GST_STATE_PLAYING);
    collect(p, &r, 60);
    gst_element_set_state(p, GST_STATE_NULL);
    EXPECT_TRUE(r.eos && !r.error) << r.describe();
    EXPECT_EQ(read_lines(out).size(), 20u);
  }
  gst_object_unref(p);
}

// torchclassify ! torchoverlay ! torchmetasink onto a disk that fills up.
TEST(DiskFull, SinkReportsItKeepsEveryWholeLineAndRecovers) {
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  const char* inside = g_getenv(kDirVar);
  if (inside && *inside) {
    // The copy, in its own mount namespace: mount, run, and leave the verdict to gtest.
    if (mount("tmpfs", inside, "tmpfs", MS_NOSUID | MS_NODEV, (std::string("size=") + kTmpfsSize).c_str()) != 0) {
      std::fprintf(stderr, "mount tmpfs on %s: %s\n", inside, g_strerror(errno));
      std::fflush(stderr);
      _exit(kNoMount);
    }
    Watchdog dog(240, "disk full");
    disk_full_inside(inside, model);
    return;
  }

  Watchdog dog(300, "disk full (parent)");
  gchar* d = g_dir_make_tmp("ta-diskfull-XXXXXX", nullptr);
  ASSERT_NE(d, nullptr);
  const std::string dir = d;
  g_free(d);
  const std::string self = self_exe();
  const std::string filter = "--gtest_filter=DiskFull.SinkReportsItKeepsEveryWholeLineAndRecovers";
  std::vector<std::vector<std::string>> ways;
  if (geteuid() == 0) ways.push_back({"unshare", "--mount", "--propagation", "private", self, filter});
  ways.push_back({"unshare", "--map-root-user", "--mount", "--propagation", "private", self, filter});

  std::string refused;
  bool ran = false;
  for (const auto& argv : ways) {
    std::string out;
    const int rc = run_copy(argv, dir, &out);
    // unshare(1) says "unshare failed" and exits 1 when the kernel refuses the namespace.
    const bool no_namespace = rc == 1 && out.find("unshare failed") != std::string::npos;
    if (rc == -1 || rc == kNoMount || no_namespace) {
      refused += "\n  " + argv[0] + " " + argv[1] + ": " + out;
      continue;
    }
    ran = true;
    EXPECT_EQ(rc, 0) << "the copy in its mount namespace failed:\n" << out;
    // Its figures, for docs/RELIABILITY.md.
    const size_t at = out.find("disk full after");
    if (at != std::string::npos) std::printf("%s", out.substr(at, out.find('\n', at) + 1 - at).c_str());
    break;
  }
  g_rmdir(dir.c_str());
  if (!ran) GTEST_SKIP() << "a small tmpfs cannot be mounted here (neither as root nor in a user namespace):" << refused;
}

}  // namespace
