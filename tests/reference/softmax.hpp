// Reference softmax in double over the last axis of a (M, L) matrix (leading dims flattened).
#pragma once

#include <cmath>
#include <cstdint>

namespace vb::ref {

// y is (M, L), x is (M, L).
inline void softmax_forward(double* y, const double* x, int64_t M, int64_t L) {
  for (int64_t m = 0; m < M; ++m) {
    const double* xm = x + m * L;
    double mx = xm[0];
    for (int64_t l = 1; l < L; ++l) mx = std::max(mx, xm[l]);
    double s = 0;
    for (int64_t l = 0; l < L; ++l) s += std::exp(xm[l] - mx);
    for (int64_t l = 0; l < L; ++l) y[m * L + l] = std::exp(xm[l] - mx) / s;
  }
}

// dx = y * (dy - sum_l(dy * y)) per row; dx, dy, y are (M, L).
inline void softmax_backward(double* dx, const double* dy, const double* y, int64_t M, int64_t L) {
  for (int64_t m = 0; m < M; ++m) {
    double s = 0;
    for (int64_t l = 0; l < L; ++l) s += dy[m * L + l] * y[m * L + l];
    for (int64_t l = 0; l < L; ++l) dx[m * L + l] = y[m * L + l] * (dy[m * L + l] - s);
  }
}

}  // namespace vb::ref
