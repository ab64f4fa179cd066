// Reference patch unfold in double, written with torch's im2col index formula (unfold with kernel = stride =
// P, no padding or dilation), then transposed: y[b, l, col] = cols[b, col, l]. Backward is fold (col2im),
// which accumulates; with stride = kernel every pixel is hit exactly once.
#pragma once

#include <cstdint>

namespace vb::ref {

// y is (B, L, C*P*P) with L = (H/P)*(W/P); x is (B, C, H, W).
inline void patch_unfold_forward(double* y, const double* x, int64_t B, int64_t C, int64_t H, int64_t W,
                                 int64_t P) {
  const int64_t out_h = (H - P) / P + 1, out_w = (W - P) / P + 1, L = out_h * out_w, cols = C * P * P;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t col = 0; col < cols; ++col) {
      // im2col: column index = (c * kh + ki) * kw + kj.
      const int64_t kj = col % P, ki = (col / P) % P, c = col / (P * P);
      for (int64_t oh = 0; oh < out_h; ++oh)
        for (int64_t ow = 0; ow < out_w; ++ow) {
          const int64_t l = oh * out_w + ow, h = oh * P + ki, w = ow * P + kj;
          y[(b * L + l) * cols + col] = x[((b * C + c) * H + h) * W + w];
        }
    }
}

// Writes dx (B, C, H, W) from dy (B, L, C*P*P).
inline void patch_unfold_backward(double* dx, const double* dy, int64_t B, int64_t C, int64_t H, int64_t W,
                                  int64_t P) {
  const int64_t out_h = (H - P) / P + 1, out_w = (W - P) / P + 1, L = out_h * out_w, cols = C * P * P;
  for (int64_t i = 0; i < B * C * H * W; ++i) dx[i] = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t col = 0; col < cols; ++col) {
      const int64_t kj = col % P, ki = (col / P) % P, c = col / (P * P);
      for (int64_t oh = 0; oh < out_h; ++oh)
        for (int64_t ow = 0; ow < out_w; ++ow) {
          const int64_t l = oh * out_w + ow, h = oh * P + ki, w = ow * P + kj;
          dx[((b * C + c) * H + h) * W + w] += dy[(b * L + l) * cols + col];
        }
    }
}

}  // namespace vb::ref
