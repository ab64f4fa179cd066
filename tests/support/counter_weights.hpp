// Counter-based weights, the C++ twin of tests/parity/counter_weights.py: every state_dict entry is a pure
// function of (seed, key, shape), so C++ models are compared with the PyTorch reference without committed
// weights. tests/parity/test_counter_weights.cpp checks both sides agree bit for bit.
//
// Rule (value i = row-major index of the tensor with key K and shape S, for seed s):
//   u = rng::uniform(splitmix64(s ^ fnv1a64(K)), i)   (FNV-1a 64 of K's bytes)
//   K ends with running_var         -> 0.5 + u
//   K ends with running_mean        -> 0.2 * (2u - 1)
//   K ends with num_batches_tracked -> 0 (int64 in PyTorch; 0.0f here)
//   rank 1 and K ends with .weight  -> 1 + 0.2 * (2u - 1)          (norm scales)
//   rank 1 and K ends with .bias    -> 0.1 * (2u - 1)
//   K is cls_token or contains pos  -> 0.5 * (2u - 1)              (pos_embed*, patch_pos, pixel_pos)
//   otherwise                       -> (2u - 1) * sqrt(3 / fan_in), fan_in = numel / S[0]
// Arithmetic in double, rounded once to float at the end.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "models/core/rng.hpp"

namespace vb::test {

inline uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

inline uint64_t counter_key_seed(uint64_t seed, std::string_view key) {
  return rng::splitmix64(seed ^ fnv1a64(key));
}

// The values of state_dict entry `key` with `shape`, row-major.
inline std::vector<float> counter_weights(uint64_t seed, std::string_view key,
                                          const std::vector<int64_t>& shape) {
  int64_t n = 1;  // a rank-0 shape holds one value
  for (int64_t d : shape) {
    if (d <= 0)
      throw std::invalid_argument("counter_weights: non-positive dimension for " + std::string(key));
    n *= d;
  }
  std::vector<float> v(static_cast<size_t>(n));
  if (key.ends_with("num_batches_tracked")) return v;
  const uint64_t ks = counter_key_seed(seed, key);
  const bool rank1 = shape.size() == 1;
  const double fan_in = static_cast<double>(shape.empty() ? 1 : n / shape[0]);
  for (int64_t i = 0; i < n; ++i) {
    const double u = rng::uniform(ks, static_cast<uint64_t>(i));
    const double c = 2.0 * u - 1.0;
    double x;
    if (key.ends_with("running_var"))
      x = 0.5 + u;
    else if (key.ends_with("running_mean"))
      x = 0.2 * c;
    else if (rank1 && key.ends_with(".weight"))
      x = 1.0 + 0.2 * c;
    else if (rank1 && key.ends_with(".bias"))
      x = 0.1 * c;
    else if (key == "cls_token" || key.find("pos") != std::string_view::npos)
      x = 0.5 * c;
    else
      x = c * std::sqrt(3.0 / fan_in);
    v[static_cast<size_t>(i)] = static_cast<float>(x);
  }
  return v;
}

}  // namespace vb::test
