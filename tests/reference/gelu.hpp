// Reference exact (erf) GELU in double, elementwise over n values.
#pragma once

#include <cmath>
#include <cstdint>

namespace vb::ref {

// y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)); y and x are (n).
inline void gelu_forward(double* y, const double* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = 0.5 * x[i] * (1.0 + std::erf(x[i] / std::sqrt(2.0)));
}

// dx = dy * (Phi(x) + x * phi(x)), phi the standard normal density; dx, dy, x are (n).
inline void gelu_backward(double* dx, const double* dy, const double* x, int64_t n) {
  const double inv_sqrt_2pi = 1.0 / std::sqrt(2.0 * M_PI);
  for (int64_t i = 0; i < n; ++i) {
    const double cdf = 0.5 * (1.0 + std::erf(x[i] / std::sqrt(2.0)));
    const double pdf = inv_sqrt_2pi * std::exp(-0.5 * x[i] * x[i]);
    dx[i] = dy[i] * (cdf + x[i] * pdf);
  }
}

}  // namespace vb::ref
