// Reference pre-norm transformer block (timm `Block`) in double, composed from the layer references:
//   x1 = x + mask1 * attn(ln1(x));  y = x1 + mask2 * mlp(ln2(x1)),  mlp = fc2(gelu(fc1(.)))
// mask1/mask2 are the per-sample drop-path factors (B) (all 1 without stochastic depth).
#pragma once

#include <cstdint>
#include <vector>

#include "tests/reference/attention.hpp"
#include "tests/reference/drop_path.hpp"
#include "tests/reference/gelu.hpp"
#include "tests/reference/layernorm.hpp"
#include "tests/reference/linear.hpp"

namespace vb::ref {

// Parameters (forward) or their gradients (backward). w_qkv is (3D, D) = [q | k | v] rows (TNT's qk weight
// stacked on its v weight), b_qkv (3D) or null.
template <class T>
struct TransformerBlockParams {
  T* norm1_w;  // (D)
  T* norm1_b;  // (D)
  T* w_qkv;    // (3D, D)
  T* b_qkv;    // (3D) or null
  T* w_proj;   // (D, D)
  T* b_proj;   // (D)
  T* norm2_w;  // (D)
  T* norm2_b;  // (D)
  T* fc1_w;    // (hidden, D)
  T* fc1_b;    // (hidden)
  T* fc2_w;    // (D, hidden)
  T* fc2_b;    // (D)
};

struct TransformerBlockSaved {
  std::vector<double> h1, mean1, rstd1, a, x1, h2, mean2, rstd2, f1, g, m;
  AttentionSaved attn;
};

// y, x are (B, N, D); mask1, mask2 are (B).
inline void transformer_block_forward(double* y, TransformerBlockSaved& s, const double* x,
                                      const TransformerBlockParams<const double>& p, const double* mask1,
                                      const double* mask2, int64_t B, int64_t N, int64_t D, int64_t H,
                                      int64_t hidden, double eps) {
  const int64_t M = B * N;
  s.h1.resize(M * D), s.mean1.resize(M), s.rstd1.resize(M), s.a.resize(M * D), s.x1.resize(M * D);
  s.h2.resize(M * D), s.mean2.resize(M), s.rstd2.resize(M), s.f1.resize(M * hidden), s.g.resize(M * hidden);
  s.m.resize(M * D);
  layernorm_forward(s.h1.data(), s.mean1.data(), s.rstd1.data(), x, p.norm1_w, p.norm1_b, M, D, eps);
  attention_forward(s.a.data(), s.attn, s.h1.data(), p.w_qkv, p.b_qkv, p.w_proj, p.b_proj, B, N, D, H);
  std::vector<double> branch(M * D);
  drop_path_forward(branch.data(), s.a.data(), mask1, B, N * D);
  for (int64_t i = 0; i < M * D; ++i) s.x1[i] = x[i] + branch[i];
  layernorm_forward(s.h2.data(), s.mean2.data(), s.rstd2.data(), s.x1.data(), p.norm2_w, p.norm2_b, M, D,
                    eps);
  linear_forward(s.f1.data(), s.h2.data(), p.fc1_w, p.fc1_b, M, D, hidden);
  gelu_forward(s.g.data(), s.f1.data(), M * hidden);
  linear_forward(s.m.data(), s.g.data(), p.fc2_w, p.fc2_b, M, hidden, D);
  drop_path_forward(branch.data(), s.m.data(), mask2, B, N * D);
  for (int64_t i = 0; i < M * D; ++i) y[i] = s.x1[i] + branch[i];
}

// Writes dx (B, N, D) and every gradient in g (d_b_qkv may be null) from dy (B, N, D).
inline void transformer_block_backward(double* dx, const TransformerBlockParams<double>& g, const double* dy,
                                       const TransformerBlockSaved& s, const double* x,
                                       const TransformerBlockParams<const double>& p, const double* mask1,
                                       const double* mask2, int64_t B, int64_t N, int64_t D, int64_t H,
                                       int64_t hidden) {
  const int64_t M = B * N;
  std::vector<double> d_m(M * D), d_g(M * hidden), d_f1(M * hidden), d_h2(M * D), d_x1_branch(M * D);
  std::vector<double> d_x1(M * D), d_a(M * D), d_h1(M * D), d_x_branch(M * D);
  // y = x1 + mask2 * mlp(ln2(x1))
  drop_path_backward(d_m.data(), dy, mask2, B, N * D);
  linear_backward(d_g.data(), g.fc2_w, g.fc2_b, d_m.data(), s.g.data(), p.fc2_w, M, hidden, D);
  gelu_backward(d_f1.data(), d_g.data(), s.f1.data(), M * hidden);
  linear_backward(d_h2.data(), g.fc1_w, g.fc1_b, d_f1.data(), s.h2.data(), p.fc1_w, M, D, hidden);
  layernorm_backward(d_x1_branch.data(), g.norm2_w, g.norm2_b, d_h2.data(), s.x1.data(), p.norm2_w,
                     s.mean2.data(), s.rstd2.data(), M, D);
  for (int64_t i = 0; i < M * D; ++i) d_x1[i] = dy[i] + d_x1_branch[i];
  // x1 = x + mask1 * attn(ln1(x))
  drop_path_backward(d_a.data(), d_x1.data(), mask1, B, N * D);
  attention_backward(d_h1.data(), g.w_qkv, g.b_qkv, g.w_proj, g.b_proj, d_a.data(), s.attn, s.h1.data(),
                     p.w_qkv, p.w_proj, B, N, D, H);
  layernorm_backward(d_x_branch.data(), g.norm1_w, g.norm1_b, d_h1.data(), x, p.norm1_w, s.mean1.data(),
                     s.rstd1.data(), M, D);
  for (int64_t i = 0; i < M * D; ++i) dx[i] = d_x1[i] + d_x_branch[i];
}

}  // namespace vb::ref
