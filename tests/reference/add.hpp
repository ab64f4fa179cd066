// Reference residual add in double: y = a + b; both inputs receive dy.
#pragma once

#include <cstdint>

namespace vb::ref {

// y, a, b are (n) (any shape, flattened).
inline void add_forward(double* y, const double* a, const double* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

// Writes da, db (n) from dy (n).
inline void add_backward(double* da, double* db, const double* dy, int64_t n) {
  for (int64_t i = 0; i < n; ++i) da[i] = db[i] = dy[i];
}

}  // namespace vb::ref
