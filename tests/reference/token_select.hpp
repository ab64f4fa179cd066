// Reference token selection in double: y[b, :] = x[b, t, :] (PyTorch x[:, t]).
#pragma once

#include <cstdint>

namespace vb::ref {

// y is (B, D), x is (B, N, D), 0 <= t < N.
inline void token_select_forward(double* y, const double* x, int64_t t, int64_t B, int64_t N, int64_t D) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t d = 0; d < D; ++d) y[b * D + d] = x[(b * N + t) * D + d];
}

// Writes dx (B, N, D) from dy (B, D): dy in row t, zero elsewhere.
inline void token_select_backward(double* dx, const double* dy, int64_t t, int64_t B, int64_t N, int64_t D) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t d = 0; d < D; ++d) dx[(b * N + n) * D + d] = n == t ? dy[b * D + d] : 0.0;
}

}  // namespace vb::ref
