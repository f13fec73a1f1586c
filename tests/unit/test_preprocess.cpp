// Unit tests of the LibTorch-free preprocessing: geometry, filter arithmetic, colour
// conversion, formats and strides. Reference values against torchvision itself are in
// tests/reference; these check the rules the code is built from.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "pixel_math.h"
#include "preprocess.h"

using namespace ta;

namespace {

std::vector<float> run(const FrameView& f, const PreprocessConfig& c) {
  std::vector<float> out((size_t)3 * c.crop_size * c.crop_size, -99.f);
  preprocess(f, c, out.data());
  return out;
}

// A deterministic RGB image with structure (gradients and noise).
std::vector<uint8_t> make_rgb(int w, int h, int stride, unsigned seed = 1) {
  std::vector<uint8_t> img((size_t)stride * h, 0xAB);  // padding bytes are garbage on purpose
  std::mt19937 rng(seed);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      uint8_t* p = &img[(size_t)y * stride + 3 * x];
      p[0] = (uint8_t)((x * 255) / std::max(1, w - 1));
      p[1] = (uint8_t)((y * 255) / std::max(1, h - 1));
      p[2] = (uint8_t)(rng() & 0xFF);
    }
  return img;
}

FrameView rgb_view(const std::vector<uint8_t>& img, int w, int h, int stride) {
  FrameView f;
  f.format = PixelFormat::RGB;
  f.width = w;
  f.height = h;
  f.planes[0] = img.data();
  f.strides[0] = stride;
  return f;
}

float normalized(float v255, int c, const PreprocessConfig& cfg) {
  return (v255 / 255.f - cfg.mean[c]) / cfg.std[c];
}

}  // namespace

TEST(CenterCrop, OffsetRoundsHalfToEvenAsPython) {
  // int(round((size - crop) / 2.0)) in Python 3.
  EXPECT_EQ(px::center_crop_offset(341, 224), 58);  // 58.5 -> 58
  EXPECT_EQ(px::center_crop_offset(343, 224), 60);  // 59.5 -> 60
  EXPECT_EQ(px::center_crop_offset(342, 224), 59);
  EXPECT_EQ(px::center_crop_offset(256, 224), 16);
  EXPECT_EQ(px::center_crop_offset(225, 224), 0);   // 0.5 -> 0
  EXPECT_EQ(px::center_crop_offset(227, 224), 2);   // 1.5 -> 2
  EXPECT_EQ(px::center_crop_offset(224, 224), 0);
  // Crop larger than the image: torchvision pads (crop - size) // 2 in front.
  EXPECT_EQ(px::center_crop_offset(200, 224), -12);
  EXPECT_EQ(px::center_crop_offset(199, 224), -12);
}

TEST(Geometry, ShorterSideToResizeSizeAsTorchvision) {
  PreprocessConfig c;
  Geometry g = compute_geometry(640, 480, c);
  EXPECT_EQ(g.resized_w, 341);  // int(256 * 640 / 480)
  EXPECT_EQ(g.resized_h, 256);
  EXPECT_EQ(g.offset_x, 58);
  EXPECT_EQ(g.offset_y, 16);
  g = compute_geometry(480, 640, c);
  EXPECT_EQ(g.resized_w, 256);
  EXPECT_EQ(g.resized_h, 341);
  g = compute_geometry(3840, 2160, c);
  EXPECT_EQ(g.resized_w, 455);
  EXPECT_EQ(g.resized_h, 256);
  g = compute_geometry(333, 251, c);
  EXPECT_EQ(g.resized_w, 339);  // int(256 * 333 / 251) = 339.63 -> 339
  c.mode = ResizeMode::Stretch;
  g = compute_geometry(640, 480, c);
  EXPECT_EQ(g.resized_w, 224);
  EXPECT_EQ(g.resized_h, 224);
  EXPECT_EQ(g.offset_x, 0);
  c.mode = ResizeMode::Letterbox;
  g = compute_geometry(640, 480, c);
  EXPECT_EQ(g.resized_w, 224);
  EXPECT_EQ(g.resized_h, 168);
  EXPECT_EQ(g.offset_y, -28);
}

TEST(Filter, WeightsAreTorchvisionsTriangle) {
  // Downscaling 4 -> 1 with antialias: the triangle is stretched 4x around the centre 2.0,
  // so the samples at 0.5..3.5 weigh 0.625, 0.875, 0.875, 0.625 (PIL's rule).
  px::Span s = px::span(0, 4, 1, true);
  EXPECT_EQ(s.first, 0);
  EXPECT_EQ(s.count, 4);
  float w[4], sum = 0;
  for (int k = 0; k < 4; k++) sum += (w[k] = px::weight(s, k));
  EXPECT_NEAR(w[0] / sum, 0.625f / 3.f, 1e-6);
  EXPECT_NEAR(w[1] / sum, 0.875f / 3.f, 1e-6);
  EXPECT_NEAR(w[3], w[0], 1e-7);
  // Without antialias only the two nearest samples count (bilinear).
  s = px::span(0, 4, 1, false);
  float w1 = px::weight(s, 1), w2 = px::weight(s, 2);
  EXPECT_NEAR(w1, 0.5f, 1e-6);
  EXPECT_NEAR(w2, 0.5f, 1e-6);
  EXPECT_EQ(px::weight(s, 0), 0.f);
  // Identity: one sample with weight 1.
  s = px::span(5, 10, 10, true);
  EXPECT_EQ(px::weight(s, 5), 1.f);
  EXPECT_EQ(px::weight(s, 4), 0.f);
}

TEST(Preprocess, IdentitySizeGivesToTensorThenNormalize) {
  PreprocessConfig c;
  c.resize_size = 224;
  const int w = 224, h = 224;
  auto img = make_rgb(w, h, w * 3);
  auto out = run(rgb_view(img, w, h, w * 3), c);
  const size_t plane = 224 * 224;
  for (int y = 0; y < h; y += 37)
    for (int x = 0; x < w; x += 13)
      for (int ch = 0; ch < 3; ch++)
        EXPECT_NEAR(out[ch * plane + y * w + x], normalized(img[(y * w + x) * 3 + ch], ch, c), 1e-5)
            << x << "," << y << "," << ch;
}

TEST(Preprocess, ConstantImageStaysConstantAtAnySize) {
  PreprocessConfig c;
  for (auto [w, h] : std::vector<std::pair<int, int>>{{1, 1}, {3, 2}, {200, 150}, {333, 251}, {3840, 2160}}) {
    const int stride = ((w * 3) + 3) & ~3;
    std::vector<uint8_t> img((size_t)stride * h);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        img[(size_t)y * stride + 3 * x] = 10;
        img[(size_t)y * stride + 3 * x + 1] = 100;
        img[(size_t)y * stride + 3 * x + 2] = 250;
      }
    auto out = run(rgb_view(img, w, h, stride), c);
    const size_t plane = 224 * 224;
    const float want[3] = {normalized(10, 0, c), normalized(100, 1, c), normalized(250, 2, c)};
    float maxd = 0;
    for (int ch = 0; ch < 3; ch++)
      for (size_t q = 0; q < plane; q++) maxd = std::max(maxd, std::fabs(out[ch * plane + q] - want[ch]));
    EXPECT_LT(maxd, 1e-4) << w << "x" << h;
  }
}

TEST(Preprocess, PaddedStrideAndPackedLayoutsGiveTheSameTensor) {
  const int w = 301, h = 207;
  auto img = make_rgb(w, h, w * 3, 7);
  PreprocessConfig c;
  auto ref = run(rgb_view(img, w, h, w * 3), c);

  struct L { PixelFormat f; int r, g, b, bytes; };
  const L layouts[] = {{PixelFormat::BGR, 2, 1, 0, 3}, {PixelFormat::RGBA, 0, 1, 2, 4}, {PixelFormat::BGRx, 2, 1, 0, 4},
                       {PixelFormat::xRGB, 1, 2, 3, 4}, {PixelFormat::ABGR, 3, 2, 1, 4}, {PixelFormat::ARGB, 1, 2, 3, 4},
                       {PixelFormat::xBGR, 3, 2, 1, 4}, {PixelFormat::BGRA, 2, 1, 0, 4}, {PixelFormat::RGBx, 0, 1, 2, 4}};
  for (const L& l : layouts) {
    const int stride = w * l.bytes + 64;
    std::vector<uint8_t> buf((size_t)stride * h, 0x5A);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        uint8_t* d = &buf[(size_t)y * stride + x * l.bytes];
        const uint8_t* s = &img[(size_t)(y * w + x) * 3];
        d[l.r] = s[0];
        d[l.g] = s[1];
        d[l.b] = s[2];
      }
    FrameView f = rgb_view(buf, w, h, stride);
    f.format = l.f;
    auto out = run(f, c);
    ASSERT_EQ(out.size(), ref.size());
    for (size_t q = 0; q < out.size(); q++) ASSERT_EQ(out[q], ref[q]) << pixel_format_name(l.f) << " at " << q;
  }
}

TEST(Preprocess, AntialiasMattersOnlyWhenDownscaling) {
  const int w = 640, h = 480;
  auto img = make_rgb(w, h, w * 3, 3);
  PreprocessConfig c;
  auto aa = run(rgb_view(img, w, h, w * 3), c);
  c.antialias = false;
  auto plain = run(rgb_view(img, w, h, w * 3), c);
  double diff = 0;
  for (size_t q = 0; q < aa.size(); q++) diff += std::fabs(aa[q] - plain[q]);
  EXPECT_GT(diff / aa.size(), 0.05);  // the noise channel is smoothed only with antialias

  // Upscaling 100x100 -> 256: the filter is the same either way.
  auto small = make_rgb(100, 100, 300, 4);
  c.antialias = true;
  auto up_aa = run(rgb_view(small, 100, 100, 300), c);
  c.antialias = false;
  auto up_plain = run(rgb_view(small, 100, 100, 300), c);
  for (size_t q = 0; q < up_aa.size(); q++) ASSERT_NEAR(up_aa[q], up_plain[q], 1e-5);
}

TEST(Preprocess, LetterboxPadsWithBlack) {
  const int w = 640, h = 320;
  std::vector<uint8_t> img((size_t)w * h * 3, 200);
  PreprocessConfig c;
  c.mode = ResizeMode::Letterbox;
  auto out = run(rgb_view(img, w, h, w * 3), c);
  // 640x320 -> 224x112, 56 rows of bars above and below.
  const size_t plane = 224 * 224;
  for (int ch = 0; ch < 3; ch++) {
    EXPECT_NEAR(out[ch * plane + 10 * 224 + 100], normalized(0, ch, c), 1e-5);
    EXPECT_NEAR(out[ch * plane + 112 * 224 + 100], normalized(200, ch, c), 1e-4);
    EXPECT_NEAR(out[ch * plane + 200 * 224 + 100], normalized(0, ch, c), 1e-5);
  }
}

TEST(Preprocess, CustomMeanStd) {
  std::vector<uint8_t> img(8 * 8 * 3, 51);  // 0.2
  PreprocessConfig c;
  c.resize_size = c.crop_size = 8;
  c.mean = {0.5f, 0.f, 0.2f};
  c.std = {0.25f, 1.f, 2.f};
  auto out = run(rgb_view(img, 8, 8, 24), c);
  EXPECT_NEAR(out[0], (0.2f - 0.5f) / 0.25f, 1e-5);
  EXPECT_NEAR(out[64], 0.2f, 1e-5);
  EXPECT_NEAR(out[128], 0.f, 1e-5);
}

TEST(Colour, MatrixCoefficientsGiveTheReferenceColours) {
  float r, g, b;
  // BT.601 limited range: 75% ... use the exact primaries: red = (81, 90, 240).
  px::YuvCoeffs k601 = px::yuv_coeffs(0.299f, 0.114f, false);
  px::yuv_to_rgb(k601, 81, 90, 240, &r, &g, &b);
  EXPECT_NEAR(r, 255, 2.5);
  EXPECT_NEAR(g, 0, 2.5);
  EXPECT_NEAR(b, 0, 2.5);
  px::yuv_to_rgb(k601, 235, 128, 128, &r, &g, &b);
  EXPECT_NEAR(r, 255, 1e-3);
  EXPECT_NEAR(g, 255, 1e-3);
  px::yuv_to_rgb(k601, 16, 128, 128, &r, &g, &b);
  EXPECT_NEAR(b, 0, 1e-3);
  // BT.709 limited range red = (63, 102, 240).
  px::YuvCoeffs k709 = px::yuv_coeffs(0.2126f, 0.0722f, false);
  px::yuv_to_rgb(k709, 63, 102, 240, &r, &g, &b);
  EXPECT_NEAR(r, 255, 2.5);
  EXPECT_NEAR(g, 0, 2.5);
  EXPECT_NEAR(b, 0, 2.5);
  // BT.601 full range (JPEG) red = (76, 85, 255).
  px::YuvCoeffs kfull = px::yuv_coeffs(0.299f, 0.114f, true);
  px::yuv_to_rgb(kfull, 76, 85, 255, &r, &g, &b);
  EXPECT_NEAR(r, 255, 2.5);
  EXPECT_NEAR(g, 0, 2.5);
  EXPECT_NEAR(b, 0, 2.5);
  // Values are clamped to 0..255 as an 8-bit RGB frame would be.
  px::yuv_to_rgb(k601, 255, 255, 255, &r, &g, &b);
  EXPECT_EQ(r, 255.f);
}

TEST(Colour, I420AndNV12OfAUniformColourMatchTheMatrix) {
  const int w = 37, h = 21;  // odd: chroma planes are ceil(w/2) x ceil(h/2)
  const int cw = (w + 1) / 2, ch = (h + 1) / 2;
  std::vector<uint8_t> y((size_t)40 * h, 63), u((size_t)20 * ch, 102), v((size_t)20 * ch, 240), uv((size_t)40 * ch);
  for (int i = 0; i < ch; i++)
    for (int j = 0; j < cw; j++) {
      uv[(size_t)i * 40 + 2 * j] = 102;
      uv[(size_t)i * 40 + 2 * j + 1] = 240;
    }
  PreprocessConfig c;
  FrameView f;
  f.format = PixelFormat::I420;
  f.width = w;
  f.height = h;
  f.planes[0] = y.data(); f.strides[0] = 40;
  f.planes[1] = u.data(); f.strides[1] = 20;
  f.planes[2] = v.data(); f.strides[2] = 20;
  f.matrix = ColorMatrix::BT709;
  auto a = run(f, c);
  FrameView n = f;
  n.format = PixelFormat::NV12;
  n.planes[1] = uv.data(); n.strides[1] = 40;
  n.planes[2] = nullptr;
  auto b = run(n, c);
  const size_t plane = 224 * 224;
  float r, g, bb;
  px::yuv_to_rgb(px::yuv_coeffs(0.2126f, 0.0722f, false), 63, 102, 240, &r, &g, &bb);
  for (size_t q = 0; q < plane; q += 101) {
    EXPECT_NEAR(a[q], normalized(r, 0, c), 1e-4);
    EXPECT_NEAR(a[plane + q], normalized(g, 1, c), 1e-4);
    EXPECT_NEAR(a[2 * plane + q], normalized(bb, 2, c), 1e-4);
  }
  for (size_t q = 0; q < a.size(); q++) ASSERT_NEAR(a[q], b[q], 1e-5);
  // The matrix matters: read as BT.601 the same bytes are another colour.
  f.matrix = ColorMatrix::BT601;
  auto as601 = run(f, c);
  EXPECT_GT(std::fabs(as601[0] - a[0]), 0.3);  // red: 233 instead of 255
}

TEST(Validate, RejectsUnusableSettingsWithTheFix) {
  PreprocessConfig c;
  EXPECT_EQ(validate(c), "");
  c.crop_size = 300;
  EXPECT_NE(validate(c).find("crop-size (300) is larger than resize-size (256)"), std::string::npos);
  c.mode = ResizeMode::Stretch;  // no resize-size in this mode
  EXPECT_EQ(validate(c), "");
  c = PreprocessConfig();
  c.std[1] = 0.f;
  EXPECT_NE(validate(c).find("std must not contain 0"), std::string::npos);
  c = PreprocessConfig();
  c.mean[0] = NAN;
  EXPECT_NE(validate(c).find("finite"), std::string::npos);
}

TEST(Preprocess, RejectsFramesItCannotRead) {
  PreprocessConfig c;
  std::vector<float> out(3 * 224 * 224);
  FrameView f;
  f.width = 0;
  f.height = 10;
  EXPECT_THROW(preprocess(f, c, out.data()), std::invalid_argument);
  f.width = 10;
  f.format = PixelFormat::I420;  // no planes
  EXPECT_THROW(preprocess(f, c, out.data()), std::invalid_argument);
}

// ---- source rectangles (regions) ------------------------------------------------------------

namespace {

double max_abs(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); i++) m = std::max(m, (double)std::fabs(a[i] - b[i]));
  return m;
}

double mean_abs(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); i++) s += std::fabs(a[i] - b[i]);
  return s / a.size();
}

struct Yuv {
  int w, h, cw, ch;
  std::vector<uint8_t> y, u, v;
  FrameView view;  // I420
};

Yuv make_i420(int w, int h, unsigned seed) {
  Yuv f{w, h, (w + 1) / 2, (h + 1) / 2, {}, {}, {}, {}};
  std::mt19937 rng(seed);
  f.y.resize((size_t)w * h);
  f.u.resize((size_t)f.cw * f.ch);
  f.v.resize((size_t)f.cw * f.ch);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) f.y[(size_t)y * w + x] = (uint8_t)(60 + ((x * 7 + y * 3) % 120) + (rng() & 7));
  for (int y = 0; y < f.ch; y++)
    for (int x = 0; x < f.cw; x++) {
      // Chroma structure at every sample (a misplaced sample shows), within the gamut: the
      // conversion commutes with the resize up to clamping, which the reference would add.
      f.u[(size_t)y * f.cw + x] = (uint8_t)(100 + (((x * 37) ^ (y * 11)) & 0x37));
      f.v[(size_t)y * f.cw + x] = (uint8_t)(100 + (((x * 13 + y * 29) * 3) & 0x37));
    }
  f.view.format = PixelFormat::I420;
  f.view.width = w;
  f.view.height = h;
  f.view.planes[0] = f.y.data();
  f.view.planes[1] = f.u.data();
  f.view.planes[2] = f.v.data();
  f.view.strides[0] = w;
  f.view.strides[1] = f.view.strides[2] = f.cw;
  f.view.matrix = ColorMatrix::BT709;
  return f;
}

// The frame's full-size RGB conversion, as the preprocessing defines it (linear chroma
// upsampling with centred siting, then the matrix), rounded to 8 bits.
std::vector<uint8_t> to_rgb(const Yuv& f) {
  const px::YuvCoeffs k = px::yuv_coeffs(0.2126f, 0.0722f, false);
  std::vector<uint8_t> rgb((size_t)3 * f.w * f.h);
  auto up = [&](const std::vector<uint8_t>& p, int x, int y) {
    const float cx = px::chroma_coord(x, f.cw), cy = px::chroma_coord(y, f.ch);
    const int x0 = (int)cx, y0 = (int)cy;
    const int x1 = std::min(x0 + 1, f.cw - 1), y1 = std::min(y0 + 1, f.ch - 1);
    const float fx = cx - x0, fy = cy - y0;
    auto at = [&](int a, int b) { return (float)p[(size_t)b * f.cw + a]; };
    return (1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x1, y0)) + fy * ((1 - fx) * at(x0, y1) + fx * at(x1, y1));
  };
  for (int y = 0; y < f.h; y++)
    for (int x = 0; x < f.w; x++) {
      float r, g, b;
      px::yuv_to_rgb(k, f.y[(size_t)y * f.w + x], up(f.u, x, y), up(f.v, x, y), &r, &g, &b);
      uint8_t* o = &rgb[((size_t)y * f.w + x) * 3];
      o[0] = (uint8_t)std::lround(r);
      o[1] = (uint8_t)std::lround(g);
      o[2] = (uint8_t)std::lround(b);
    }
  return rgb;
}

}  // namespace

// A region of an RGB frame is preprocessed exactly as a copy of that region would be: the
// same taps over the same pixels, read in place.
TEST(PreprocessRegion, RgbRegionEqualsACopyOfIt) {
  const int w = 333, h = 251, stride = 3 * w + 5;
  const std::vector<uint8_t> img = make_rgb(w, h, stride, 4);
  const FrameView full = rgb_view(img, w, h, stride);
  struct R {
    int x, y, w, h;
  } rects[] = {{101, 57, 203, 151}, {0, 0, 97, 131}, {130, 72, 203, 179}, {13, 17, 61, 45}, {332, 250, 1, 1},
               {0, 0, w, h}};
  for (ResizeMode mode : {ResizeMode::CenterCrop, ResizeMode::Stretch, ResizeMode::Letterbox})
    for (const R& r : rects) {
      SCOPED_TRACE(std::to_string(r.x) + "," + std::to_string(r.y) + " " + std::to_string(r.w) + "x" +
                   std::to_string(r.h) + " mode " + std::to_string((int)mode));
      std::vector<uint8_t> copy((size_t)3 * r.w * r.h);
      for (int y = 0; y < r.h; y++)
        std::copy_n(&img[(size_t)(r.y + y) * stride + 3 * r.x], 3 * r.w, &copy[(size_t)y * 3 * r.w]);
      PreprocessConfig c;
      c.mode = mode;
      const std::vector<float> want = run(rgb_view(copy, r.w, r.h, 3 * r.w), c);
      c.source = {r.x, r.y, r.w, r.h};
      const std::vector<float> got = run(full, c);
      EXPECT_EQ(max_abs(got, want), 0.0);
    }
}

// A region of a YUV frame is the region of the frame's full-size RGB conversion: at odd
// offsets the chroma keeps the frame's siting. Converting the region as if it were a frame
// of its own (chroma re-sited at the region's corner) is measurably different.
TEST(PreprocessRegion, YuvRegionIsTheRegionOfTheFullConversion) {
  const Yuv f = make_i420(333, 251, 9);
  const std::vector<uint8_t> rgb = to_rgb(f);
  struct R {
    int x, y, w, h;
  } rects[] = {{101, 57, 203, 151}, {33, 21, 101, 77}, {232, 150, 101, 101}, {1, 1, 331, 249}, {7, 9, 31, 23}};
  for (const R& r : rects) {
    SCOPED_TRACE(std::to_string(r.x) + "," + std::to_string(r.y) + " " + std::to_string(r.w) + "x" + std::to_string(r.h));
    std::vector<uint8_t> crop((size_t)3 * r.w * r.h);
    for (int y = 0; y < r.h; y++)
      std::copy_n(&rgb[((size_t)(r.y + y) * f.w + r.x) * 3], 3 * r.w, &crop[(size_t)y * 3 * r.w]);
    PreprocessConfig c;
    const std::vector<float> want = run(rgb_view(crop, r.w, r.h, 3 * r.w), c);
    c.source = {r.x, r.y, r.w, r.h};
    const std::vector<float> got = run(f.view, c);
    // 8-bit rounding of the reference only: half a level is 0.0087 in normalized units.
    EXPECT_LT(max_abs(got, want), 0.012);
    EXPECT_LT(mean_abs(got, want), 0.003);

    // The wrong siting: the region's planes as a frame of its own (chroma of sample x0/2).
    FrameView sub = f.view;
    sub.width = r.w;
    sub.height = r.h;
    sub.planes[0] = f.y.data() + (size_t)r.y * f.w + r.x;
    sub.planes[1] = f.u.data() + (size_t)(r.y / 2) * f.cw + r.x / 2;
    sub.planes[2] = f.v.data() + (size_t)(r.y / 2) * f.cw + r.x / 2;
    PreprocessConfig whole;
    if (r.x % 2 || r.y % 2) {
      EXPECT_GT(mean_abs(run(sub, whole), want), 3 * mean_abs(got, want));
    } else if (r.x + r.w == f.w && r.y + r.h == f.h) {
      EXPECT_EQ(max_abs(run(sub, whole), got), 0.0);  // even offset to the corner: the same samples
    }
  }
}

TEST(PreprocessRegion, RegionOutsideTheFrameIsRefused) {
  const std::vector<uint8_t> img = make_rgb(64, 48, 3 * 64);
  const FrameView f = rgb_view(img, 64, 48, 3 * 64);
  PreprocessConfig c;
  std::vector<float> out((size_t)3 * 224 * 224);
  for (Rect r : {Rect{-1, 0, 10, 10}, Rect{60, 0, 5, 10}, Rect{0, 40, 10, 9}, Rect{0, 0, -3, 5}, Rect{64, 0, 1, 1}}) {
    c.source = r;
    EXPECT_THROW(preprocess(f, c, out.data()), std::invalid_argument) << r.x << "," << r.y << " " << r.w << "x" << r.h;
  }
  c.source = {63, 47, 1, 1};
  EXPECT_NO_THROW(preprocess(f, c, out.data()));
  c.source = {0, 0, 0, 0};  // the whole frame
  EXPECT_NO_THROW(preprocess(f, c, out.data()));
}
