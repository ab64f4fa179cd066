// Reference class-token prepend in double: y[b, 0, :] = cls, y[b, 1 + n, :] = x[b, n, :].
#pragma once

#include <cstdint>

namespace vb::ref {

// y is (B, N+1, D), x is (B, N, D), cls is (D).
inline void cls_token_forward(double* y, const double* x, const double* cls, int64_t B, int64_t N,
                              int64_t D) {
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t d = 0; d < D; ++d) y[(b * (N + 1)) * D + d] = cls[d];
    for (int64_t n = 0; n < N; ++n)
      for (int64_t d = 0; d < D; ++d) y[(b * (N + 1) + 1 + n) * D + d] = x[(b * N + n) * D + d];
  }
}

// Writes dx (B, N, D) and dcls (D) from dy (B, N+1, D).
inline void cls_token_backward(double* dx, double* dcls, const double* dy, int64_t B, int64_t N, int64_t D) {
  for (int64_t d = 0; d < D; ++d) dcls[d] = 0;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t d = 0; d < D; ++d) dcls[d] += dy[(b * (N + 1)) * D + d];
    for (int64_t n = 0; n < N; ++n)
      for (int64_t d = 0; d < D; ++d) dx[(b * N + n) * D + d] = dy[(b * (N + 1) + 1 + n) * D + d];
  }
}

}  // namespace vb::ref
