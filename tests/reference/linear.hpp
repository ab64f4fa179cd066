// Reference linear layer in double: y = x W^T + b over rows of a (M, in) matrix (leading dims flattened).
#pragma once

#include <cstdint>
#include <vector>

namespace vb::ref {

// y is (M, out), x is (M, in), w is (out, in), b is (out) or null.
inline void linear_forward(double* y, const double* x, const double* w, const double* b, int64_t M,
                           int64_t in, int64_t out) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t o = 0; o < out; ++o) {
      double s = b ? b[o] : 0.0;
      for (int64_t i = 0; i < in; ++i) s += x[m * in + i] * w[o * in + i];
      y[m * out + o] = s;
    }
}

// Writes dx (M, in), dw (out, in), db (out) or null, from dy (M, out), x (M, in), w (out, in).
inline void linear_backward(double* dx, double* dw, double* db, const double* dy, const double* x,
                            const double* w, int64_t M, int64_t in, int64_t out) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t i = 0; i < in; ++i) {
      double s = 0;
      for (int64_t o = 0; o < out; ++o) s += dy[m * out + o] * w[o * in + i];
      dx[m * in + i] = s;
    }
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t i = 0; i < in; ++i) {
      double s = 0;
      for (int64_t m = 0; m < M; ++m) s += dy[m * out + o] * x[m * in + i];
      dw[o * in + i] = s;
    }
    if (db) {
      double s = 0;
      for (int64_t m = 0; m < M; ++m) s += dy[m * out + o];
      db[o] = s;
    }
  }
}

}  // namespace vb::ref
