// Mean attention distance (see attention_distance.hpp): a token-pair distance table built once per call, then
// one pass over the probabilities in double.
#include "harness/rf/attention_distance.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace vb::rf {

std::vector<Position> grid_positions(int64_t side, double spacing) {
  std::vector<Position> p;
  p.reserve(static_cast<size_t>(side * side));
  for (int64_t r = 0; r < side; ++r)
    for (int64_t c = 0; c < side; ++c) p.push_back({r * spacing, c * spacing});
  return p;
}

std::vector<double> AttentionDistance::mean() const {
  std::vector<double> m(sum.size(), 0.0);
  for (size_t h = 0; h < sum.size(); ++h) m[h] = queries ? sum[h] / static_cast<double>(queries) : 0.0;
  return m;
}

void add_attention(const std::vector<float>& probs, const Dims& shape, const std::vector<Position>& positions,
                   int64_t skip, AttentionDistance& acc) {
  if (shape.size() != 4 || shape[2] != shape[3] || product(shape) != static_cast<int64_t>(probs.size()))
    throw std::invalid_argument(fmt::format(
        "attention distance: probabilities of shape {} (expected (R, H, T, T))", to_string(shape)));
  const int64_t R = shape[0], H = shape[1], T = shape[2], n = T - skip;
  if (skip < 0 || n < 1 || static_cast<int64_t>(positions.size()) != n)
    throw std::invalid_argument(
        fmt::format("attention distance: {} tokens, {} skipped, {} positions", T, skip, positions.size()));
  if (acc.sum.empty()) acc.sum.assign(static_cast<size_t>(H), 0.0);
  if (static_cast<int64_t>(acc.sum.size()) != H)
    throw std::invalid_argument(fmt::format("attention distance: {} heads added to {}", H, acc.sum.size()));
  std::vector<double> dist(static_cast<size_t>(n * n));  // (query, key)
  for (int64_t q = 0; q < n; ++q)
    for (int64_t k = 0; k < n; ++k)
      dist[static_cast<size_t>(q * n + k)] =
          std::hypot(positions[q][0] - positions[k][0], positions[q][1] - positions[k][1]);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t h = 0; h < H; ++h) {
      const float* p = probs.data() + (r * H + h) * T * T;
      double head_sum = 0;
      for (int64_t q = 0; q < n; ++q) {
        const float* row = p + (q + skip) * T + skip;  // keys skip .. T-1 of query q + skip
        double mass = 0, weighted = 0;
        for (int64_t k = 0; k < n; ++k) {
          mass += row[k];
          weighted += row[k] * dist[static_cast<size_t>(q * n + k)];
        }
        if (!(mass > 0))
          throw std::invalid_argument(
              fmt::format("attention distance: query {} of head {} puts no weight on the "
                          "patch keys",
                          q + skip, h));
        head_sum += weighted / mass;
      }
      acc.sum[static_cast<size_t>(h)] += head_sum;
    }
  acc.queries += R * n;
}

}  // namespace vb::rf
