// Reference additive position table in double: y[b, t] = x[b, t] + table[t], the table broadcast over the
// batch.
#pragma once

#include <cstdint>

namespace vb::ref {

// y, x are (B, T) with T the product of the table's dims after the leading 1; table is (T).
inline void pos_embed_forward(double* y, const double* x, const double* table, int64_t B, int64_t T) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) y[b * T + t] = x[b * T + t] + table[t];
}

// Writes dx (B, T) and dtable (T) from dy (B, T).
inline void pos_embed_backward(double* dx, double* dtable, const double* dy, int64_t B, int64_t T) {
  for (int64_t t = 0; t < T; ++t) dtable[t] = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      dx[b * T + t] = dy[b * T + t];
      dtable[t] += dy[b * T + t];
    }
}

}  // namespace vb::ref
