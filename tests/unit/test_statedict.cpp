// The state-dict reader and the model loader, on files made by torch/torchvision
// (tests/reference/make_fixtures.py) and on hand-written pickle programs.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"
#include "model_helpers.h"
#include "statedict.h"
#include "test_env.h"

using namespace ta;

namespace {

std::string op_str(const std::string& s) {  // BINUNICODE
  std::string o = "X";
  uint32_t n = (uint32_t)s.size();
  for (int i = 0; i < 4; i++) o += (char)((n >> (8 * i)) & 0xFF);
  return o + s;
}

// Loads and returns the error, or fails.
Error load_error(const ModelConfig& cfg) {
  LoadReport r;
  try {
    Model::load(cfg, &r);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "the model loaded";
  return Error(ErrorKind::Stream, "");
}

bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

}  // namespace

TEST(PickleRewrite, OrderedDictBecomesDictAndMetadataBuildIsDropped) {
  // OrderedDict([('a', 1)]) with _metadata = OrderedDict(), as torch.save writes it.
  using namespace std::string_literals;
  std::string p = "\x80\x02"s;
  p += "ccollections\nOrderedDict\nq\x00)Rq\x01("s;
  p += op_str("a") + "K\x01u}"s + op_str("_metadata") + "h\x00)Rsb."s;
  std::string want = "\x80\x02}q\x01("s + op_str("a") + "K\x01u."s;
  EXPECT_EQ(rewrite_ordered_dicts(p), want);
}

TEST(PickleRewrite, RejectsGarbage_n) {
  EXPECT_THROW(rewrite_ordered_dicts(std::string("\x80\x02\xff\xff", 4)), std::runtime_error);
  EXPECT_THROW(rewrite_ordered_dicts("\x80\x02X\xff\xff\xff\x00"), std::runtime_error);  // length past the end
  EXPECT_THROW(rewrite_ordered_dicts("\x80\x02u."), std::runtime_error);                 // pops past the bottom
}

TEST(StateDict, ReadsTorchvisionResnet18) {
  TA_REQUIRE_FIXTURE(path, "resnet18_seeded.pth");
  StateDict sd = load_state_dict(path);
  EXPECT_EQ(sd.size(), 122u);  // parameters + BatchNorm buffers incl. num_batches_tracked
  EXPECT_EQ(sd[0].first, "conv1.weight");
  EXPECT_EQ(sniff_torch_file(path), TorchFileKind::Zip);
}

TEST(StateDict, LegacyFormatGivesTheResaveCommand_n) {
  TA_REQUIRE_FIXTURE(path, "legacy_resnet18.pth");
  EXPECT_EQ(sniff_torch_file(path), TorchFileKind::LegacyPickle);
  try {
    load_state_dict(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Init);
    EXPECT_TRUE(has(e.what(), "legacy")) << e.what();
    EXPECT_TRUE(has(e.what(), "torch.save(torch.load(")) << e.what();
  }
}

TEST(StateDict, BadFilesAreClearErrors_n) {
  for (const char* name : {"truncated.pth", "random_bytes.pth", "checkpoint.pth", "list.pth"}) {
    TA_REQUIRE_FIXTURE(path, name);
    try {
      load_state_dict(path);
      ADD_FAILURE() << name << " loaded";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Init) << name;
      EXPECT_TRUE(has(e.what(), path)) << e.what();
      if (std::string(name) == "checkpoint.pth") {
        EXPECT_TRUE(has(e.what(), "checkpoint")) << e.what();
      }
      if (std::string(name) == "truncated.pth") {
        EXPECT_TRUE(has(e.what(), "truncated")) << e.what();
      }
    }
  }
  try {
    load_state_dict("/nonexistent.pth");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
  }
}

TEST(ModelLoad, StrictMismatchNamesTheArchitecture_n) {
  TA_REQUIRE_FIXTURE(path, "resnet18_seeded.pth");
  ModelConfig c;
  c.weights_location = path;
  c.device = "cpu";
  Error e = load_error(c);  // resnet50 is the default
  EXPECT_EQ(e.kind(), ErrorKind::Init);
  EXPECT_TRUE(has(e.what(), "set architecture=resnet18")) << e.what();
  EXPECT_TRUE(has(e.detail(), "layer1.0.conv3.weight")) << e.detail();
}

TEST(ModelLoad, NumClassesMismatch) {
  TA_REQUIRE_FIXTURE(path, "resnet18_10class.pth");
  ModelConfig c;
  c.weights_location = path;
  c.architecture = "resnet18";
  c.device = "cpu";
  Error e = load_error(c);
  EXPECT_TRUE(has(e.what(), "set num-classes=10")) << e.what();
  EXPECT_TRUE(has(e.detail(), "fc.weight (file [10, 512], model [1000, 512])")) << e.detail();

  // strict=false keeps the backbone and warns with what it left initialized.
  c.strict = false;
  LoadReport r;
  auto m = Model::load(c, &r);
  EXPECT_EQ(m->num_classes(), 1000);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_TRUE(has(r.warnings[0], "loaded 120 of 122")) << r.warnings[0];
  EXPECT_TRUE(has(r.warnings[0], "fc.bias")) << r.warnings[0];

  c.strict = true;
  c.num_classes = 10;
  r = LoadReport();
  m = Model::load(c, &r);
  EXPECT_EQ(m->num_classes(), 10);
  EXPECT_TRUE(r.warnings.empty());
}

TEST(ModelLoad, NanWeightsAreRefused_n) {
  TA_REQUIRE_FIXTURE(path, "nan_resnet18.pth");
  ModelConfig c;
  c.weights_location = path;
  c.architecture = "resnet18";
  c.device = "cpu";
  Error e = load_error(c);
  EXPECT_TRUE(has(e.what(), "NaN")) << e.what();
  EXPECT_TRUE(has(e.what(), "conv1.weight")) << e.what();
}

TEST(ModelLoad, TorchScriptIsProbedForItsClassCount) {
  TA_REQUIRE_FIXTURE(path, "tiny.ts");
  ModelConfig c;
  c.model_location = path;
  c.device = "cpu";
  LoadReport r;
  auto m = Model::load(c, &r);
  EXPECT_EQ(m->num_classes(), 10);
  EXPECT_EQ(m->name(), "tiny");
  std::vector<float> x(3 * 224 * 224, 0.5f);
  auto top = ta_test::classify(*m, x.data(), 1, 224, 224, Activation::Softmax, 3, 0.f);
  ASSERT_EQ(top.size(), 1u);
  ASSERT_EQ(top[0].size(), 3u);
  EXPECT_GE(top[0][0].score, top[0][1].score);
  auto s = ta_test::scores(*m, x.data(), 1, 224, 224, Activation::Softmax);
  double sum = 0;
  for (float v : s) sum += v;
  EXPECT_NEAR(sum, 1.0, 1e-5);
  // A threshold above every score leaves nothing.
  EXPECT_TRUE(ta_test::classify(*m, x.data(), 1, 224, 224, Activation::Softmax, 3, 2.f)[0].empty());
}

TEST(ModelLoad, WrongKindOfFileForTheProperty_n) {
  TA_REQUIRE_FIXTURE(ts, "tiny.ts");
  TA_REQUIRE_FIXTURE(sd, "resnet18_seeded.pth");
  ModelConfig c;
  c.device = "cpu";
  c.weights_location = ts;
  EXPECT_TRUE(has(load_error(c).what(), "set model-location")) << load_error(c).what();
  c.weights_location.clear();
  c.model_location = sd;
  EXPECT_TRUE(has(load_error(c).what(), "set weights-location")) << load_error(c).what();
  c.weights_location = sd;
  EXPECT_TRUE(has(load_error(c).what(), "set only one")) << load_error(c).what();
}

TEST(ModelLoad, HubCacheIsUsedWhenNoLocationIsSet) {
  TA_REQUIRE_FIXTURE(path, "resnet18_seeded.pth");
  const std::string home = ::testing::TempDir() + "/torch_home_test";
  ::mkdir(home.c_str(), 0755);
  ::mkdir((home + "/hub").c_str(), 0755);
  ::mkdir((home + "/hub/checkpoints").c_str(), 0755);
  const std::string cached = home + "/hub/checkpoints/resnet18-f37072fd.pth";
  ::unlink(cached.c_str());
  ASSERT_EQ(::symlink(path.c_str(), cached.c_str()), 0);
  EXPECT_EQ(find_hub_checkpoint("resnet18", home), cached);
  EXPECT_EQ(find_hub_checkpoint("resnet50", home), "");

  ModelConfig c;
  c.architecture = "resnet18";
  c.device = "cpu";
  c.torch_home = home;
  LoadReport r;
  auto m = Model::load(c, &r);
  EXPECT_EQ(r.source, cached);

  c.architecture = "resnet50";
  Error e = load_error(c);
  EXPECT_EQ(e.kind(), ErrorKind::NotFound);
  for (const char* way : {"weights-location", "model-location", "torchvision.models.resnet50(weights="})
    EXPECT_TRUE(has(e.what(), way)) << e.what();
  EXPECT_TRUE(has(e.detail(), home + "/hub/checkpoints/resnet50-*.pth")) << e.detail();
  ::unlink(cached.c_str());
}

TEST(ModelLoad, DeviceAndPrecisionErrors_n) {
  TA_REQUIRE_FIXTURE(path, "tiny.ts");
  ModelConfig c;
  c.model_location = path;
  c.device = "gpu0";
  Error e = load_error(c);
  EXPECT_EQ(e.kind(), ErrorKind::Settings);
  EXPECT_TRUE(has(e.what(), "auto, cpu, cuda or cuda:N")) << e.what();
  c.device = "cpu";
  c.precision = Precision::FP16;
  e = load_error(c);
  EXPECT_TRUE(has(e.what(), "precision=fp16 needs a CUDA device")) << e.what();
  if (::access("/dev/nvidia0", F_OK) != 0) {
    c.precision = Precision::Auto;
    c.device = "cuda";
    e = load_error(c);
    EXPECT_EQ(e.kind(), ErrorKind::Device);
    EXPECT_TRUE(has(e.what(), "no CUDA device")) << e.what();
    // auto falls back to the CPU and says so, in one warning.
    c.device = "auto";
    LoadReport r;
    auto m = Model::load(c, &r);
    EXPECT_EQ(m->device(), "cpu");
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_TRUE(has(r.warnings[0], "runs on the CPU")) << r.warnings[0];
  }
}
