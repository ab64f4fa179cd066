// Reference feature map -> tokens in double: y[b, h*W + w, c] = x[b, c, h, w] (PyTorch
// x.flatten(2).transpose(1, 2)).
#pragma once

#include <cstdint>

namespace vb::ref {

// y is (B, H*W, C), x is (B, C, H, W).
inline void flatten_tokens_forward(double* y, const double* x, int64_t B, int64_t C, int64_t H, int64_t W) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < H * W; ++p) y[(b * H * W + p) * C + c] = x[(b * C + c) * H * W + p];
}

// Writes dx (B, C, H, W) from dy (B, H*W, C).
inline void flatten_tokens_backward(double* dx, const double* dy, int64_t B, int64_t C, int64_t H,
                                    int64_t W) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < H * W; ++p) dx[(b * C + c) * H * W + p] = dy[(b * H * W + p) * C + c];
}

}  // namespace vb::ref
