// Reference softmax cross-entropy in double, straight from the definition (no max subtraction: test inputs
// are small): loss = (1/B) sum_b -sum_k t[b,k] log softmax(x[b])_k, with t the label-smoothed targets.
#pragma once

#include <cmath>
#include <cstdint>

namespace vb::ref {

// t is (B, K): (1-eps) * onehot(labels[b]) + eps/K.
inline void smoothed_targets(double* t, const int64_t* labels, double eps, int64_t B, int64_t K) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < K; ++k) t[b * K + k] = (1 - eps) * (labels[b] == k ? 1.0 : 0.0) + eps / K;
}

// t is (B, K): (1-eps) * soft + eps/K.
inline void smoothed_soft_targets(double* t, const double* soft, double eps, int64_t B, int64_t K) {
  for (int64_t i = 0; i < B * K; ++i) t[i] = (1 - eps) * soft[i] + eps / K;
}

// Returns the mean loss; writes probs (B, K). x, t are (B, K).
inline double cross_entropy_forward(double* probs, const double* x, const double* t, int64_t B, int64_t K) {
  double total = 0;
  for (int64_t b = 0; b < B; ++b) {
    double z = 0;
    for (int64_t k = 0; k < K; ++k) z += std::exp(x[b * K + k]);
    for (int64_t k = 0; k < K; ++k) {
      probs[b * K + k] = std::exp(x[b * K + k]) / z;
      total -= t[b * K + k] * std::log(probs[b * K + k]);
    }
  }
  return total / B;
}

// Writes dx (B, K) = d loss / d x = (probs * sum_k t - t) / B, from probs and t (B, K).
inline void cross_entropy_backward(double* dx, const double* probs, const double* t, int64_t B, int64_t K) {
  for (int64_t b = 0; b < B; ++b) {
    double t_sum = 0;
    for (int64_t k = 0; k < K; ++k) t_sum += t[b * K + k];
    for (int64_t k = 0; k < K; ++k) dx[b * K + k] = (probs[b * K + k] * t_sum - t[b * K + k]) / B;
  }
}

}  // namespace vb::ref
