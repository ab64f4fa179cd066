// Reference multi-head self-attention (timm `Attention`) in double: plain loops, obviously correct, slow.
// The input projection is one (3D, D) matrix whose output rows are q, k, v, each split into heads as
// (H, dh) - timm's qkv.reshape(B, N, 3, H, dh). TNT's separate qk / v projections are the same thing with
// the qk weight (2D, D) stacked on top of the v weight (D, D), so one reference serves both layouts.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace vb::ref {

namespace attention_detail {

// out (M, O) = inp (M, I) w^T + b; w is (O, I), b is (O) or null.
inline void linear_forward(double* out, const double* inp, const double* w, const double* b, int64_t M,
                           int64_t I, int64_t O) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t o = 0; o < O; ++o) {
      double s = b ? b[o] : 0.0;
      for (int64_t i = 0; i < I; ++i) s += inp[m * I + i] * w[o * I + i];
      out[m * O + o] = s;
    }
}

// Overwrites d_inp (M, I), d_w (O, I) and d_b (O, may be null) from d_out (M, O).
inline void linear_backward(double* d_inp, double* d_w, double* d_b, const double* d_out, const double* inp,
                            const double* w, int64_t M, int64_t I, int64_t O) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t i = 0; i < I; ++i) {
      double s = 0;
      for (int64_t o = 0; o < O; ++o) s += d_out[m * O + o] * w[o * I + i];
      d_inp[m * I + i] = s;
    }
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i) {
      double s = 0;
      for (int64_t m = 0; m < M; ++m) s += d_out[m * O + o] * inp[m * I + i];
      d_w[o * I + i] = s;
    }
  if (d_b)
    for (int64_t o = 0; o < O; ++o) {
      double s = 0;
      for (int64_t m = 0; m < M; ++m) s += d_out[m * O + o];
      d_b[o] = s;
    }
}

}  // namespace attention_detail

// What the forward saves for the backward.
struct AttentionSaved {
  std::vector<double> qkv;    // (B, N, 3D): q, k, v along the last axis, each (H, dh)
  std::vector<double> probs;  // (B, H, N, N): softmax over the last (key) axis
  std::vector<double> ctx;    // (B, N, D): probs @ v with heads concatenated, input of proj
};

// out is (B, N, D); inp is (B, N, D); w_qkv (3D, D), b_qkv (3D) or null; w_proj (D, D), b_proj (D).
inline void attention_forward(double* out, AttentionSaved& saved, const double* inp, const double* w_qkv,
                              const double* b_qkv, const double* w_proj, const double* b_proj, int64_t B,
                              int64_t N, int64_t D, int64_t H) {
  const int64_t dh = D / H;
  const double scale = 1.0 / std::sqrt(static_cast<double>(dh));
  saved.qkv.assign(B * N * 3 * D, 0.0);
  saved.probs.assign(B * H * N * N, 0.0);
  saved.ctx.assign(B * N * D, 0.0);
  attention_detail::linear_forward(saved.qkv.data(), inp, w_qkv, b_qkv, B * N, D, 3 * D);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const double* qkv_b = saved.qkv.data() + b * N * 3 * D;
      auto q = [&](int64_t i, int64_t d) { return qkv_b[i * 3 * D + 0 * D + h * dh + d]; };
      auto k = [&](int64_t j, int64_t d) { return qkv_b[j * 3 * D + 1 * D + h * dh + d]; };
      auto v = [&](int64_t j, int64_t d) { return qkv_b[j * 3 * D + 2 * D + h * dh + d]; };
      double* p = saved.probs.data() + (b * H + h) * N * N;  // (N queries, N keys)
      for (int64_t i = 0; i < N; ++i) {
        double mx = -1e300;
        for (int64_t j = 0; j < N; ++j) {
          double s = 0;
          for (int64_t d = 0; d < dh; ++d) s += q(i, d) * k(j, d);
          p[i * N + j] = scale * s;
          mx = std::max(mx, p[i * N + j]);
        }
        double z = 0;
        for (int64_t j = 0; j < N; ++j) z += (p[i * N + j] = std::exp(p[i * N + j] - mx));
        for (int64_t j = 0; j < N; ++j) p[i * N + j] /= z;
        for (int64_t d = 0; d < dh; ++d) {
          double s = 0;
          for (int64_t j = 0; j < N; ++j) s += p[i * N + j] * v(j, d);
          saved.ctx[(b * N + i) * D + h * dh + d] = s;
        }
      }
    }
  attention_detail::linear_forward(out, saved.ctx.data(), w_proj, b_proj, B * N, D, D);
}

// Overwrites d_inp (B, N, D), d_w_qkv (3D, D), d_b_qkv (3D, may be null), d_w_proj (D, D), d_b_proj (D)
// from d_out (B, N, D) and what attention_forward saved.
inline void attention_backward(double* d_inp, double* d_w_qkv, double* d_b_qkv, double* d_w_proj,
                               double* d_b_proj, const double* d_out, const AttentionSaved& saved,
                               const double* inp, const double* w_qkv, const double* w_proj, int64_t B,
                               int64_t N, int64_t D, int64_t H) {
  const int64_t dh = D / H;
  const double scale = 1.0 / std::sqrt(static_cast<double>(dh));
  std::vector<double> d_ctx(B * N * D), d_qkv(B * N * 3 * D), dp(N * N);
  attention_detail::linear_backward(d_ctx.data(), d_w_proj, d_b_proj, d_out, saved.ctx.data(), w_proj, B * N,
                                    D, D);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const double* qkv_b = saved.qkv.data() + b * N * 3 * D;
      double* d_qkv_b = d_qkv.data() + b * N * 3 * D;
      auto at = [&](int64_t s, int64_t i, int64_t d) { return i * 3 * D + s * D + h * dh + d; };
      const double* p = saved.probs.data() + (b * H + h) * N * N;
      auto d_o = [&](int64_t i, int64_t d) { return d_ctx[(b * N + i) * D + h * dh + d]; };
      // dP = dO V^T, dV = P^T dO
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < N; ++j) {
          double s = 0;
          for (int64_t d = 0; d < dh; ++d) s += d_o(i, d) * qkv_b[at(2, j, d)];
          dp[i * N + j] = s;
        }
      for (int64_t j = 0; j < N; ++j)
        for (int64_t d = 0; d < dh; ++d) {
          double s = 0;
          for (int64_t i = 0; i < N; ++i) s += p[i * N + j] * d_o(i, d);
          d_qkv_b[at(2, j, d)] = s;
        }
      // dS = P * (dP - rowsum(P * dP)), then the scaled logits' gradients dQ = scale dS K, dK = scale dS^T Q
      for (int64_t i = 0; i < N; ++i) {
        double dot = 0;
        for (int64_t j = 0; j < N; ++j) dot += p[i * N + j] * dp[i * N + j];
        for (int64_t j = 0; j < N; ++j) dp[i * N + j] = p[i * N + j] * (dp[i * N + j] - dot);
      }
      for (int64_t i = 0; i < N; ++i)
        for (int64_t d = 0; d < dh; ++d) {
          double sq = 0, sk = 0;
          for (int64_t j = 0; j < N; ++j) {
            sq += dp[i * N + j] * qkv_b[at(1, j, d)];
            sk += dp[j * N + i] * qkv_b[at(0, j, d)];
          }
          d_qkv_b[at(0, i, d)] = scale * sq;
          d_qkv_b[at(1, i, d)] = scale * sk;
        }
    }
  attention_detail::linear_backward(d_inp, d_w_qkv, d_b_qkv, d_qkv.data(), inp, w_qkv, B * N, D, 3 * D);
}

}  // namespace vb::ref
