// Reference drop path in double: y[b, s] = x[b, s] * mask[b], the mask given (0 or 1/(1-p) per sample).
#pragma once

#include <cstdint>

#include "models/core/rng.hpp"

namespace vb::ref {

// The documented mask of call number `step`: mask (B), sample b kept iff rng::uniform(seed, step*B + b) <
// 1-p.
inline void drop_path_mask(double* mask, uint64_t seed, int64_t step, float p, int64_t B) {
  const float keep = 1.f - p;
  for (int64_t b = 0; b < B; ++b)
    mask[b] = rng::uniform(seed, static_cast<uint64_t>(step * B + b)) < keep ? 1.0 / keep : 0.0;
}

// y, x are (B, S) with S the elements per sample; mask is (B).
inline void drop_path_forward(double* y, const double* x, const double* mask, int64_t B, int64_t S) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s) y[b * S + s] = x[b * S + s] * mask[b];
}

// Writes dx (B, S) from dy (B, S) and mask (B).
inline void drop_path_backward(double* dx, const double* dy, const double* mask, int64_t B, int64_t S) {
  drop_path_forward(dx, dy, mask, B, S);
}

}  // namespace vb::ref
