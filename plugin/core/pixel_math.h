// The per-pixel arithmetic of preprocessing: filter coefficients of the antialiased
// resize, the centre crop, the colour matrix and the normalization.
//
// These functions are the single definition shared by the CPU path and the CUDA kernels:
// they compile as __host__ __device__ under nvcc, so the CPU unit tests that check them
// also check the GPU path's arithmetic.
#pragma once

#if defined(__CUDACC__)
#define TA_HD __host__ __device__ __forceinline__
#else
#define TA_HD inline
#endif

namespace ta {
namespace px {

// Triangle (bilinear) filter, as PIL's and torchvision's antialiased bilinear resize.
TA_HD float triangle(float x) {
  x = x < 0.f ? -x : x;
  return x < 1.f ? 1.f - x : 0.f;
}

// The source span and the normalizing weight of output sample `out_index` of a 1-D
// resample from `in_size` to `out_size` samples. When downscaling with antialias the
// filter is stretched by the scale factor (PIL's rule); without it, support is one
// source sample either side (plain bilinear, align_corners=False).
struct Span {
  int first;     // first source sample
  int count;     // number of source samples
  float center;  // centre of the output sample in source coordinates
  float inv_scale;  // 1 / filter stretch
};

TA_HD Span span(int out_index, int in_size, int out_size, bool antialias) {
  const float scale = (float)in_size / (float)out_size;
  const float filterscale = (antialias && scale > 1.f) ? scale : 1.f;
  const float support = 1.f * filterscale;
  Span s;
  s.center = ((float)out_index + 0.5f) * scale;
  s.inv_scale = 1.f / filterscale;
  int lo = (int)(s.center - support + 0.5f);
  if (lo < 0) lo = 0;
  int hi = (int)(s.center + support + 0.5f);
  if (hi > in_size) hi = in_size;
  s.first = lo;
  s.count = hi - lo;
  return s;
}

// Unnormalized weight of source sample `src_index` for the output sample of `s`.
TA_HD float weight(const Span& s, int src_index) {
  return triangle(((float)src_index - s.center + 0.5f) * s.inv_scale);
}

// torchvision's CenterCrop offset of the crop inside a dimension of `size` samples:
// int(round((size - crop) / 2.0)) with Python's round-half-to-even; when the crop is
// larger, torchvision pads (crop - size) // 2 in front, which is a negative offset.
TA_HD int center_crop_offset(int size, int crop) {
  const int d = size - crop;
  if (d < 0) return -((-d) / 2);
  int q = d / 2;
  if ((d & 1) && (q & 1)) q += 1;  // x.5 goes to the even neighbour
  return q;
}

// Where luma sample `j` falls in a 4:2:0 chroma plane of `in_c` samples, each sited at
// the centre of its two luma samples, clamped to the plane: the coordinate the linear
// chroma upsampling reads.
TA_HD float chroma_coord(int j, int in_c) {
  float c = ((float)j + 0.5f) * 0.5f - 0.5f;
  c = c < 0.f ? 0.f : c;
  const float hi = (float)(in_c - 1);
  return c > hi ? hi : c;
}

// Y'CbCr -> R'G'B' coefficients for one matrix and range, applied as
//   R = ys*(Y-yo) + rv*(V-128);  G = ys*(Y-yo) + gu*(U-128) + gv*(V-128);
//   B = ys*(Y-yo) + bu*(U-128)     (all in 0..255 units)
struct YuvCoeffs {
  float y_offset, y_scale, rv, gu, gv, bu;
};

TA_HD YuvCoeffs yuv_coeffs(float kr, float kb, bool full_range) {
  const float kg = 1.f - kr - kb;
  // Luma and chroma excursions in 8-bit code values (as GStreamer's video-color.c).
  const float ly = full_range ? 255.f : 219.f;
  const float lc = full_range ? 255.f : 224.f;
  YuvCoeffs c;
  c.y_offset = full_range ? 0.f : 16.f;
  c.y_scale = 255.f / ly;
  const float cs = 255.f / lc;
  c.rv = 2.f * (1.f - kr) * cs;
  c.bu = 2.f * (1.f - kb) * cs;
  c.gu = -2.f * kb * (1.f - kb) / kg * cs;
  c.gv = -2.f * kr * (1.f - kr) / kg * cs;
  return c;
}

TA_HD float clamp255(float v) { return v < 0.f ? 0.f : (v > 255.f ? 255.f : v); }

TA_HD void yuv_to_rgb(const YuvCoeffs& c, float y, float u, float v, float* r, float* g, float* b) {
  const float yy = c.y_scale * (y - c.y_offset);
  const float uu = u - 128.f, vv = v - 128.f;
  *r = clamp255(yy + c.rv * vv);
  *g = clamp255(yy + c.gu * uu + c.gv * vv);
  *b = clamp255(yy + c.bu * uu);
}

// ToTensor() then Normalize(mean, std): v in 0..255.
TA_HD float normalize(float v, float mean, float inv_std) { return (v * (1.f / 255.f) - mean) * inv_std; }

}  // namespace px
}  // namespace ta
