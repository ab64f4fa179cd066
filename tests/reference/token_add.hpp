// Reference token add in double: y[b, 0, :] = t[b, 0, :], y[b, 1 + n, :] = t[b, 1 + n, :] + x[b, n, :].
#pragma once

#include <cstdint>

namespace vb::ref {

// y is (B, N+1, D), t (tokens) is (B, N+1, D), x is (B, N, D).
inline void token_add_forward(double* y, const double* t, const double* x, int64_t B, int64_t N, int64_t D) {
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t d = 0; d < D; ++d) y[(b * (N + 1)) * D + d] = t[(b * (N + 1)) * D + d];
    for (int64_t n = 0; n < N; ++n)
      for (int64_t d = 0; d < D; ++d) {
        const int64_t i = (b * (N + 1) + 1 + n) * D + d;
        y[i] = t[i] + x[(b * N + n) * D + d];
      }
  }
}

// Writes dt (B, N+1, D) and dx (B, N, D) from dy (B, N+1, D).
inline void token_add_backward(double* dt, double* dx, const double* dy, int64_t B, int64_t N, int64_t D) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < N + 1; ++n)
      for (int64_t d = 0; d < D; ++d) {
        const int64_t i = (b * (N + 1) + n) * D + d;
        dt[i] = dy[i];
        if (n > 0) dx[(b * N + n - 1) * D + d] = dy[i];
      }
}

}  // namespace vb::ref
