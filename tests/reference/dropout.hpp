// Reference dropout in double: y[i] = x[i] * mask[i], the mask given (0 or 1/(1-p) per element).
#pragma once

#include <cstdint>

#include "models/core/rng.hpp"

namespace vb::ref {

// The documented mask of call number `step`: mask (n), element i kept iff rng::uniform(seed, step*n + i) <
// 1-p.
inline void dropout_mask(double* mask, uint64_t seed, int64_t step, float p, int64_t n) {
  const float keep = 1.f - p;
  for (int64_t i = 0; i < n; ++i)
    mask[i] = rng::uniform(seed, static_cast<uint64_t>(step * n + i)) < keep ? 1.0 / keep : 0.0;
}

// y, x, mask are (n) (row-major flattening of any shape).
inline void dropout_forward(double* y, const double* x, const double* mask, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * mask[i];
}

// Writes dx (n) from dy (n) and mask (n).
inline void dropout_backward(double* dx, const double* dy, const double* mask, int64_t n) {
  dropout_forward(dx, dy, mask, n);
}

}  // namespace vb::ref
