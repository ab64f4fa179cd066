// Reference LayerNorm in double over the last axis of a (M, C) matrix (leading dims flattened).
#pragma once

#include <cmath>
#include <cstdint>

namespace vb::ref {

// y is (M, C), mean and rstd are (M), x is (M, C), w and b are (C).
inline void layernorm_forward(double* y, double* mean, double* rstd, const double* x, const double* w,
                              const double* b, int64_t M, int64_t C, double eps) {
  for (int64_t m = 0; m < M; ++m) {
    const double* xm = x + m * C;
    double mu = 0;
    for (int64_t c = 0; c < C; ++c) mu += xm[c];
    mu /= C;
    double var = 0;  // biased, two-pass
    for (int64_t c = 0; c < C; ++c) var += (xm[c] - mu) * (xm[c] - mu);
    var /= C;
    const double r = 1.0 / std::sqrt(var + eps);
    for (int64_t c = 0; c < C; ++c) y[m * C + c] = (xm[c] - mu) * r * w[c] + b[c];
    mean[m] = mu;
    rstd[m] = r;
  }
}

// Writes dx (M, C), dw (C), db (C) from dy (M, C), x (M, C), w (C), mean and rstd (M) saved by forward.
inline void layernorm_backward(double* dx, double* dw, double* db, const double* dy, const double* x,
                               const double* w, const double* mean, const double* rstd, int64_t M,
                               int64_t C) {
  for (int64_t c = 0; c < C; ++c) dw[c] = db[c] = 0;
  for (int64_t m = 0; m < M; ++m) {
    const double* xm = x + m * C;
    const double* dym = dy + m * C;
    // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * w
    double g_mean = 0, gx_mean = 0;
    for (int64_t c = 0; c < C; ++c) {
      const double xhat = (xm[c] - mean[m]) * rstd[m];
      g_mean += dym[c] * w[c];
      gx_mean += dym[c] * w[c] * xhat;
      dw[c] += dym[c] * xhat;
      db[c] += dym[c];
    }
    g_mean /= C;
    gx_mean /= C;
    for (int64_t c = 0; c < C; ++c) {
      const double xhat = (xm[c] - mean[m]) * rstd[m];
      dx[m * C + c] = rstd[m] * (dym[c] * w[c] - g_mean - xhat * gx_mean);
    }
  }
}

}  // namespace vb::ref
