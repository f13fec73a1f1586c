#include "preprocess.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "pixel_kernel.h"
#include "pixel_math.h"

namespace ta {

std::string validate(const PreprocessConfig& c) {
  if (c.crop_size < 1 || c.crop_size > 8192)
    return "crop-size must be between 1 and 8192 pixels.";
  if (c.mode == ResizeMode::CenterCrop && (c.resize_size < 1 || c.resize_size > 16384))
    return "resize-size must be between 1 and 16384 pixels.";
  if (c.mode == ResizeMode::CenterCrop && c.crop_size > c.resize_size)
    return "crop-size (" + std::to_string(c.crop_size) + ") is larger than resize-size (" +
           std::to_string(c.resize_size) +
           "): the crop would reach outside the resized frame; set crop-size <= resize-size.";
  for (int i = 0; i < 3; i++) {
    if (!std::isfinite(c.mean[i]) || !std::isfinite(c.std[i]))
      return "mean and std must be finite numbers.";
    if (c.std[i] == 0.f)
      return "std must not contain 0 (normalization divides by it); use e.g. std=\"<0.229,0.224,0.225>\".";
  }
  return {};
}

Geometry compute_geometry(int w, int h, const PreprocessConfig& c) {
  Geometry g{};
  g.out_w = g.out_h = c.crop_size;
  switch (c.mode) {
    case ResizeMode::CenterCrop: {
      // torchvision's _compute_resized_output_size: the shorter side becomes
      // resize_size, the longer one int(resize_size * long / short).
      const int64_t r = c.resize_size;
      if (w <= h) {
        g.resized_w = (int)r;
        g.resized_h = (int)(r * h / w);
      } else {
        g.resized_h = (int)r;
        g.resized_w = (int)(r * w / h);
      }
      g.offset_x = px::center_crop_offset(g.resized_w, c.crop_size);
      g.offset_y = px::center_crop_offset(g.resized_h, c.crop_size);
      break;
    }
    case ResizeMode::Stretch:
      g.resized_w = g.resized_h = c.crop_size;
      g.offset_x = g.offset_y = 0;
      break;
    case ResizeMode::Letterbox: {
      const double s = std::min((double)c.crop_size / w, (double)c.crop_size / h);
      g.resized_w = std::max(1, std::min(c.crop_size, (int)std::lround(w * s)));
      g.resized_h = std::max(1, std::min(c.crop_size, (int)std::lround(h * s)));
      g.offset_x = -((c.crop_size - g.resized_w) / 2);
      g.offset_y = -((c.crop_size - g.resized_h) / 2);
      break;
    }
  }
  return g;
}

namespace {

// Normalized filter taps of the output samples [offset, offset + n) of a resample from
// in_size to resized samples; samples outside the resized range get no taps (padding).
struct Taps {
  std::vector<int> first, count;
  std::vector<float> w;  // n * stride weights
  int stride = 0;
  int n = 0;
};

Taps make_taps(int offset, int n, int in_size, int resized, bool antialias) {
  Taps t;
  t.n = n;
  t.first.assign(n, 0);
  t.count.assign(n, 0);
  int maxc = 0;
  for (int i = 0; i < n; i++) {
    const int o = offset + i;
    if (o < 0 || o >= resized) continue;
    const px::Span s = px::span(o, in_size, resized, antialias);
    maxc = std::max(maxc, s.count);
  }
  t.stride = maxc;
  t.w.assign((size_t)n * std::max(maxc, 1), 0.f);
  for (int i = 0; i < n; i++) {
    const int o = offset + i;
    if (o < 0 || o >= resized) continue;
    const px::Span s = px::span(o, in_size, resized, antialias);
    float sum = 0.f;
    float* w = &t.w[(size_t)i * t.stride];
    for (int k = 0; k < s.count; k++) {
      w[k] = px::weight(s, s.first + k);
      sum += w[k];
    }
    if (sum != 0.f)
      for (int k = 0; k < s.count; k++) w[k] /= sum;
    t.first[i] = s.first;
    t.count[i] = s.count;
  }
  return t;
}

// Taps of a 4:2:0 chroma plane (`in_c` samples, each sited at the centre of its two luma
// samples: chroma-site=jpeg) for the output grid of `luma`: the luma taps applied to the
// chroma upsampled linearly to luma resolution, which is what converting at full size
// (videoconvert's linear chroma resampler) and then resizing computes. Resampling the chroma
// plane on its own would both filter it differently and, for odd sizes, misplace it (the
// plane spans w + 1 luma samples, not w).
// `origin`: the frame coordinate of luma sample 0 of `luma` (a crop's offset): the chroma
// taps are in the frame's chroma plane.
Taps chroma_taps(const Taps& luma, int in_c, int origin) {
  Taps t;
  t.n = luma.n;
  t.first.assign(t.n, 0);
  t.count.assign(t.n, 0);
  t.stride = luma.stride / 2 + 3;
  t.w.assign((size_t)t.n * t.stride, 0.f);
  for (int i = 0; i < t.n; i++) {
    if (!luma.count[i]) continue;
    const float* lw = &luma.w[(size_t)i * luma.stride];
    // chroma coordinate of luma sample j: (j + 0.5) / 2 - 0.5, clamped to the plane
    const int first = (int)std::floor(px::chroma_coord(origin + luma.first[i], in_c));
    float* w = &t.w[(size_t)i * t.stride];
    int last = first;
    for (int k = 0; k < luma.count[i]; k++) {
      const int j = origin + luma.first[i] + k;
      const float c = px::chroma_coord(j, in_c);
      const int c0 = (int)std::floor(c);
      const float f = c - c0;
      w[c0 - first] += lw[k] * (1.f - f);
      last = std::max(last, c0);
      if (f > 0.f) {
        w[c0 + 1 - first] += lw[k] * f;
        last = std::max(last, c0 + 1);
      }
    }
    t.first[i] = first;
    t.count[i] = last - first + 1;
  }
  return t;
}

// Resamples `nch` interleaved 8-bit channels of one plane onto the output grid.
// out[c] receives n_rows x n_cols floats in 0..255 (0 where the grid is padding).
void resample_plane(const uint8_t* base, int stride, int pixel_bytes, int nch, const int* chan_off,
                    const Taps& rows, const Taps& cols, float* const* out) {
  const int n_rows = rows.n, n_cols = cols.n;
  // Source rows the vertical filter reads.
  int y_lo = INT32_MAX, y_hi = -1;
  for (int i = 0; i < n_rows; i++) {
    if (!rows.count[i]) continue;
    y_lo = std::min(y_lo, rows.first[i]);
    y_hi = std::max(y_hi, rows.first[i] + rows.count[i]);
  }
  for (int c = 0; c < nch; c++) std::fill(out[c], out[c] + (size_t)n_rows * n_cols, 0.f);
  if (y_hi < 0) return;

  // Horizontal pass over the needed rows, channels interleaved: tmp[(y - y_lo)][j][c].
  std::vector<float> tmp((size_t)(y_hi - y_lo) * n_cols * nch, 0.f);
  for (int y = y_lo; y < y_hi; y++) {
    const uint8_t* row = base + (size_t)y * stride;
    float* trow = &tmp[(size_t)(y - y_lo) * n_cols * nch];
    for (int j = 0; j < n_cols; j++) {
      const int cnt = cols.count[j];
      if (!cnt) continue;
      const float* w = &cols.w[(size_t)j * cols.stride];
      const uint8_t* p = row + (size_t)cols.first[j] * pixel_bytes;
      float acc[4] = {0.f, 0.f, 0.f, 0.f};
      for (int k = 0; k < cnt; k++, p += pixel_bytes)
        for (int c = 0; c < nch; c++) acc[c] += w[k] * (float)p[chan_off[c]];
      for (int c = 0; c < nch; c++) trow[j * nch + c] = acc[c];
    }
  }

  // Vertical pass.
  std::vector<float> acc((size_t)n_cols * nch);
  for (int i = 0; i < n_rows; i++) {
    const int cnt = rows.count[i];
    if (!cnt) continue;
    std::fill(acc.begin(), acc.end(), 0.f);
    const float* w = &rows.w[(size_t)i * rows.stride];
    for (int k = 0; k < cnt; k++) {
      const float* trow = &tmp[(size_t)(rows.first[i] + k - y_lo) * n_cols * nch];
      const float wk = w[k];
      for (size_t q = 0; q < acc.size(); q++) acc[q] += wk * trow[q];
    }
    for (int j = 0; j < n_cols; j++) {
      if (!cols.count[j]) continue;
      for (int c = 0; c < nch; c++) out[c][(size_t)i * n_cols + j] = acc[(size_t)j * nch + c];
    }
  }
}

px::YuvCoeffs coeffs_for(const FrameView& f) {
  switch (f.matrix) {
    case ColorMatrix::BT709: return px::yuv_coeffs(0.2126f, 0.0722f, f.full_range);
    case ColorMatrix::BT2020: return px::yuv_coeffs(0.2627f, 0.0593f, f.full_range);
    case ColorMatrix::BT601: break;
  }
  return px::yuv_coeffs(0.299f, 0.114f, f.full_range);
}

void check_frame(const FrameView& f) {
  if (f.width <= 0 || f.height <= 0)
    throw std::invalid_argument("frame of " + std::to_string(f.width) + "x" + std::to_string(f.height) +
                                " pixels: nothing to classify");
  const int np = f.format == PixelFormat::I420 ? 3 : (f.format == PixelFormat::NV12 ? 2 : 1);
  for (int p = 0; p < np; p++)
    if (!f.planes[p] || f.strides[p] <= 0)
      throw std::invalid_argument(std::string("plane ") + std::to_string(p) + " of the " +
                                  pixel_format_name(f.format) + " frame is missing");
}

}  // namespace

Rect source_rect(const FrameView& f, const PreprocessConfig& cfg) {
  const Rect& s = cfg.source;
  if (s.w == 0 || s.h == 0) return Rect{0, 0, f.width, f.height};
  if (s.x < 0 || s.y < 0 || s.w < 0 || s.h < 0 || s.x > f.width - s.w || s.y > f.height - s.h)
    throw std::invalid_argument("the region " + std::to_string(s.w) + "x" + std::to_string(s.h) + " at (" +
                                std::to_string(s.x) + ", " + std::to_string(s.y) + ") is not inside the " +
                                std::to_string(f.width) + "x" + std::to_string(f.height) + " frame");
  return s;
}

void kernel_setup(const FrameView& f, const PreprocessConfig& cfg, px::KernelFrame* kf, px::KernelParams* kp) {
  check_frame(f);
  const Rect src = source_rect(f, cfg);
  const Geometry g = compute_geometry(src.w, src.h, cfg);
  PackedLayout pl{0, 1, 2, 3};
  const bool packed = packed_layout(f.format, &pl);
  kf->format = packed ? px::kPacked : (f.format == PixelFormat::I420 ? px::kI420 : px::kNV12);
  kf->r = pl.r;
  kf->g = pl.g;
  kf->b = pl.b;
  kf->pixel_bytes = pl.pixel_bytes;
  kf->width = f.width;
  kf->height = f.height;
  for (int i = 0; i < 3; i++) {
    kf->planes[i] = f.planes[i];
    kf->strides[i] = f.strides[i];
  }
  kp->src_x = src.x;
  kp->src_y = src.y;
  kp->src_w = src.w;
  kp->src_h = src.h;
  kp->resized_w = g.resized_w;
  kp->resized_h = g.resized_h;
  kp->offset_x = g.offset_x;
  kp->offset_y = g.offset_y;
  kp->out_w = g.out_w;
  kp->out_h = g.out_h;
  kp->antialias = cfg.antialias ? 1 : 0;
  kp->yuv = coeffs_for(f);
  for (int c = 0; c < 3; c++) {
    kp->mean[c] = cfg.mean[c];
    kp->inv_std[c] = 1.f / cfg.std[c];
  }
}

void preprocess(const FrameView& f, const PreprocessConfig& cfg, float* out) {
  check_frame(f);
  if (f.on_device)
    throw std::invalid_argument("the frame is in CUDA device memory, which only the GPU path reads");
  const Rect src = source_rect(f, cfg);
  const Geometry g = compute_geometry(src.w, src.h, cfg);
  const size_t plane = (size_t)g.out_w * g.out_h;
  float* rgb[3] = {out, out + plane, out + 2 * plane};

  PackedLayout pl;
  if (packed_layout(f.format, &pl)) {
    const Taps rows = make_taps(g.offset_y, g.out_h, src.h, g.resized_h, cfg.antialias);
    const Taps cols = make_taps(g.offset_x, g.out_w, src.w, g.resized_w, cfg.antialias);
    const int off[3] = {pl.r, pl.g, pl.b};
    const uint8_t* base = f.planes[0] + (size_t)src.y * f.strides[0] + (size_t)src.x * pl.pixel_bytes;
    resample_plane(base, f.strides[0], pl.pixel_bytes, 3, off, rows, cols, rgb);
  } else {
    // Y'CbCr: resample each plane onto the output grid, then convert there.
    const int cw = (f.width + 1) / 2, ch = (f.height + 1) / 2;
    std::vector<float> chroma(2 * plane);
    float* uv[2] = {chroma.data(), chroma.data() + plane};
    const Taps rows = make_taps(g.offset_y, g.out_h, src.h, g.resized_h, cfg.antialias);
    const Taps cols = make_taps(g.offset_x, g.out_w, src.w, g.resized_w, cfg.antialias);
    const Taps crows = chroma_taps(rows, ch, src.y);
    const Taps ccols = chroma_taps(cols, cw, src.x);
    const int zero = 0, uv_off[2] = {0, 1};
    float* yout[1] = {rgb[0]};
    const uint8_t* ybase = f.planes[0] + (size_t)src.y * f.strides[0] + src.x;
    resample_plane(ybase, f.strides[0], 1, 1, &zero, rows, cols, yout);
    if (f.format == PixelFormat::I420) {
      float* u[1] = {uv[0]};
      float* v[1] = {uv[1]};
      resample_plane(f.planes[1], f.strides[1], 1, 1, &zero, crows, ccols, u);
      resample_plane(f.planes[2], f.strides[2], 1, 1, &zero, crows, ccols, v);
    } else {
      resample_plane(f.planes[1], f.strides[1], 2, 2, uv_off, crows, ccols, uv);
    }
    const px::YuvCoeffs k = coeffs_for(f);
    for (int i = 0; i < g.out_h; i++) {
      const bool row_in = cols.n && rows.count[i];
      for (int j = 0; j < g.out_w; j++) {
        const size_t q = (size_t)i * g.out_w + j;
        if (row_in && cols.count[j]) {
          px::yuv_to_rgb(k, rgb[0][q], uv[0][q], uv[1][q], &rgb[0][q], &rgb[1][q], &rgb[2][q]);
        } else {
          rgb[0][q] = rgb[1][q] = rgb[2][q] = 0.f;  // padding is black, as in RGB
        }
      }
    }
  }

  for (int c = 0; c < 3; c++) {
    const float m = cfg.mean[c], is = 1.f / cfg.std[c];
    float* p = rgb[c];
    for (size_t q = 0; q < plane; q++) p[q] = px::normalize(p[q], m, is);
  }
}

}  // namespace ta
