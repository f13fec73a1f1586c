// One output pixel of preprocessing, computed directly from the frame: the body of the
// CUDA kernel (preprocess_cuda.cu), and a host function the CPU tests compare with
// ta::preprocess, so that the kernel's arithmetic is proven equal to the CPU path's
// without a GPU. Plain structs only: no GStreamer, no LibTorch, no CUDA headers.
#pragma once

#include <stdint.h>

#include "pixel_math.h"

namespace ta {
namespace px {

enum KernelFormat { kPacked = 0, kI420 = 1, kNV12 = 2 };

struct KernelFrame {
  int format;                 // KernelFormat
  int r, g, b, pixel_bytes;   // packed formats: byte offsets in a pixel
  int width, height;
  const uint8_t* planes[3];
  int strides[3];
};

struct KernelParams {
  // The source rectangle (a region, or the whole frame): the output maps onto it, not onto
  // the frame; the chroma keeps the frame's siting.
  int src_x, src_y, src_w, src_h;
  int resized_w, resized_h;   // ta::Geometry of the source rectangle
  int offset_x, offset_y;
  int out_w, out_h;
  int antialias;
  YuvCoeffs yuv;
  float mean[3], inv_std[3];
};

// Weighted sum over the source rectangle of output pixel (oy, ox) of one 8-bit channel,
// normalized by the filter weights (the separable resize of ta::preprocess).
TA_HD float resample_at(const uint8_t* plane, int stride, int step, int chan, int in_w, int in_h, int ox, int oy,
                        int resized_w, int resized_h, int aa) {
  const Span sv = span(oy, in_h, resized_h, aa != 0);
  const Span sh = span(ox, in_w, resized_w, aa != 0);
  float wsum_h = 0.f;
  for (int l = 0; l < sh.count; l++) wsum_h += weight(sh, sh.first + l);
  float acc = 0.f, wsum_v = 0.f;
  for (int k = 0; k < sv.count; k++) {
    const int y = sv.first + k;
    const float wv = weight(sv, y);
    wsum_v += wv;
    const uint8_t* row = plane + (long)y * stride;
    float racc = 0.f;
    for (int l = 0; l < sh.count; l++) {
      const int x = sh.first + l;
      racc += weight(sh, x) * (float)row[(long)x * step + chan];
    }
    acc += wv * racc;
  }
  const float norm = wsum_v * wsum_h;
  return norm != 0.f ? acc / norm : 0.f;
}

// The same for a 4:2:0 chroma channel: the luma filter applied to the chroma plane
// upsampled linearly (chroma_coord), as ta::preprocess's composed chroma taps do. The
// filter runs over the luma rectangle (x0, y0, src_w, src_h) of a luma_w x luma_h frame.
TA_HD float resample_chroma_at(const uint8_t* plane, int stride, int step, int chan, int luma_w, int luma_h, int x0,
                               int y0, int src_w, int src_h, int ox, int oy, int resized_w, int resized_h, int aa) {
  const int cw = (luma_w + 1) / 2, ch = (luma_h + 1) / 2;
  const Span sv = span(oy, src_h, resized_h, aa != 0);
  const Span sh = span(ox, src_w, resized_w, aa != 0);
  float wsum_h = 0.f;
  for (int l = 0; l < sh.count; l++) wsum_h += weight(sh, sh.first + l);
  float acc = 0.f, wsum_v = 0.f;
  for (int k = 0; k < sv.count; k++) {
    const int y = sv.first + k;
    const float wv = weight(sv, y);
    wsum_v += wv;
    const float cy = chroma_coord(y0 + y, ch);
    const int y0 = (int)cy;
    const float fy = cy - (float)y0;
    const int y1 = fy > 0.f ? y0 + 1 : y0;
    const uint8_t* r0 = plane + (long)y0 * stride;
    const uint8_t* r1 = plane + (long)y1 * stride;
    float racc = 0.f;
    for (int l = 0; l < sh.count; l++) {
      const int x = sh.first + l;
      const float cx = chroma_coord(x0 + x, cw);
      const int x0 = (int)cx;
      const float fx = cx - (float)x0;
      const int x1 = fx > 0.f ? x0 + 1 : x0;
      const float top = (1.f - fx) * r0[(long)x0 * step + chan] + fx * r0[(long)x1 * step + chan];
      const float bot = (1.f - fx) * r1[(long)x0 * step + chan] + fx * r1[(long)x1 * step + chan];
      racc += weight(sh, x) * ((1.f - fy) * top + fy * bot);
    }
    acc += wv * racc;
  }
  const float norm = wsum_v * wsum_h;
  return norm != 0.f ? acc / norm : 0.f;
}

// Normalized R, G, B of output pixel (i, j).
TA_HD void output_pixel(const KernelFrame& f, const KernelParams& p, int i, int j, float* rgb) {
  const int ox = p.offset_x + j, oy = p.offset_y + i;
  float r = 0.f, g = 0.f, b = 0.f;  // padding is black
  if (ox >= 0 && ox < p.resized_w && oy >= 0 && oy < p.resized_h) {
    const int sw = p.src_w, sh = p.src_h, rw = p.resized_w, rh = p.resized_h, aa = p.antialias;
    if (f.format == kPacked) {
      const uint8_t* pl = f.planes[0] + (long)p.src_y * f.strides[0] + (long)p.src_x * f.pixel_bytes;
      r = resample_at(pl, f.strides[0], f.pixel_bytes, f.r, sw, sh, ox, oy, rw, rh, aa);
      g = resample_at(pl, f.strides[0], f.pixel_bytes, f.g, sw, sh, ox, oy, rw, rh, aa);
      b = resample_at(pl, f.strides[0], f.pixel_bytes, f.b, sw, sh, ox, oy, rw, rh, aa);
    } else {
      const uint8_t* yp = f.planes[0] + (long)p.src_y * f.strides[0] + p.src_x;
      const float y = resample_at(yp, f.strides[0], 1, 0, sw, sh, ox, oy, rw, rh, aa);
      const int W = f.width, H = f.height, x0 = p.src_x, y0 = p.src_y;
      float u, v;
      if (f.format == kI420) {
        u = resample_chroma_at(f.planes[1], f.strides[1], 1, 0, W, H, x0, y0, sw, sh, ox, oy, rw, rh, aa);
        v = resample_chroma_at(f.planes[2], f.strides[2], 1, 0, W, H, x0, y0, sw, sh, ox, oy, rw, rh, aa);
      } else {
        u = resample_chroma_at(f.planes[1], f.strides[1], 2, 0, W, H, x0, y0, sw, sh, ox, oy, rw, rh, aa);
        v = resample_chroma_at(f.planes[1], f.strides[1], 2, 1, W, H, x0, y0, sw, sh, ox, oy, rw, rh, aa);
      }
      yuv_to_rgb(p.yuv, y, u, v, &r, &g, &b);
    }
  }
  rgb[0] = normalize(r, p.mean[0], p.inv_std[0]);
  rgb[1] = normalize(g, p.mean[1], p.inv_std[1]);
  rgb[2] = normalize(b, p.mean[2], p.inv_std[2]);
}

}  // namespace px
}  // namespace ta
