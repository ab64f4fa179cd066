// Reference 2-D position tables in double, (1 + Gh*Gw, D) with the cls row first and patches row-major; the
// add to the tokens is pos_embed_forward/backward (tests/reference/pos_embed.hpp).
//   learned (ViT paper D.4): row 0 = cls, row 1 + y*Gw + x = concat(X[x], Y[y]), X (Gw, D/2), Y (Gh, D/2).
//   sincos (MAE get_2d_sincos_pos_embed): row 0 zero, row 1 + y*Gw + x = [sin(x w), cos(x w), sin(y w), cos(y
//   w)], w_k = 10000^(-k/(D/4)) for k < D/4.
#pragma once

#include <cmath>
#include <cstdint>

namespace vb::ref {

// table is (1 + Gh*Gw, D); X is (Gw, D/2), Y is (Gh, D/2), cls is (D).
inline void pos_embed_2d_learned_forward(double* table, const double* X, const double* Y, const double* cls,
                                         int64_t Gh, int64_t Gw, int64_t D) {
  const int64_t half = D / 2;
  for (int64_t d = 0; d < D; ++d) table[d] = cls[d];
  for (int64_t y = 0; y < Gh; ++y)
    for (int64_t x = 0; x < Gw; ++x)
      for (int64_t d = 0; d < D; ++d)
        table[(1 + y * Gw + x) * D + d] = d < half ? X[x * half + d] : Y[y * half + d - half];
}

// Writes dX (Gw, D/2), dY (Gh, D/2), dcls (D) from dtable (1 + Gh*Gw, D).
inline void pos_embed_2d_learned_backward(double* dX, double* dY, double* dcls, const double* dtable,
                                          int64_t Gh, int64_t Gw, int64_t D) {
  const int64_t half = D / 2;
  for (int64_t i = 0; i < Gw * half; ++i) dX[i] = 0;
  for (int64_t i = 0; i < Gh * half; ++i) dY[i] = 0;
  for (int64_t d = 0; d < D; ++d) dcls[d] = dtable[d];
  for (int64_t y = 0; y < Gh; ++y)
    for (int64_t x = 0; x < Gw; ++x)
      for (int64_t d = 0; d < D; ++d) {
        const double g = dtable[(1 + y * Gw + x) * D + d];
        if (d < half)
          dX[x * half + d] += g;
        else
          dY[y * half + d - half] += g;
      }
}

// table is (1 + Gh*Gw, D), D % 4 == 0.
inline void pos_embed_2d_sincos(double* table, int64_t Gh, int64_t Gw, int64_t D) {
  const int64_t Q = D / 4;
  for (int64_t d = 0; d < D; ++d) table[d] = 0;
  for (int64_t y = 0; y < Gh; ++y)
    for (int64_t x = 0; x < Gw; ++x) {
      double* row = table + (1 + y * Gw + x) * D;
      for (int64_t k = 0; k < Q; ++k) {
        const double w = std::pow(10000.0, -static_cast<double>(k) / Q);
        row[k] = std::sin(x * w), row[Q + k] = std::cos(x * w);
        row[2 * Q + k] = std::sin(y * w), row[3 * Q + k] = std::cos(y * w);
      }
    }
}

}  // namespace vb::ref
