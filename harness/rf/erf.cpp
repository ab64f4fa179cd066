// Effective receptive field maps and their scalars (see erf.hpp). Host code in double: a map is at most a few
// hundred thousand pixels and is summarised once per layer.
#include "harness/rf/erf.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <stdexcept>

namespace vb::rf {

double Map::total() const {
  return std::accumulate(values.begin(), values.end(), 0.0);
}

namespace {

// Side of a square grid of n cells (n must be a perfect square).
int64_t grid_side(int64_t n, const char* what) {
  const auto g = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  if (g < 1 || g * g != n)
    throw std::invalid_argument(fmt::format("centre_diff: {} {} is not a square grid", what, n));
  return g;
}

}  // namespace

Tensor centre_diff(const Dims& shape, TapLayout layout, int64_t batch) {
  if (shape.size() != (layout == TapLayout::feature_map ? 4u : 3u))
    throw std::invalid_argument(
        fmt::format("centre_diff: tap shape {} does not fit its layout", to_string(shape)));
  std::vector<float> v(static_cast<size_t>(product(shape)), 0.f);
  switch (layout) {
    case TapLayout::feature_map: {  // (B, C, H, W)
      const int64_t C = shape[1], H = shape[2], W = shape[3];
      for (int64_t b = 0; b < shape[0]; ++b)
        for (int64_t c = 0; c < C; ++c) v[static_cast<size_t>(((b * C + c) * H + H / 2) * W + W / 2)] = 1.f;
      break;
    }
    case TapLayout::tokens_with_cls: {  // (B, 1 + G*G, D)
      const int64_t T = shape[1], D = shape[2], G = grid_side(T - 1, "patch tokens");
      const int64_t t = 1 + (G / 2) * G + G / 2;
      for (int64_t b = 0; b < shape[0]; ++b)
        for (int64_t d = 0; d < D; ++d) v[static_cast<size_t>((b * T + t) * D + d)] = 1.f;
      break;
    }
    case TapLayout::words: {  // (B * G*G, m, c)
      if (batch < 1 || shape[0] % batch != 0)
        throw std::invalid_argument(
            fmt::format("centre_diff: words {} for a batch of {}", to_string(shape), batch));
      const int64_t patches = shape[0] / batch, G = grid_side(patches, "patches");
      const int64_t m = shape[1], c = shape[2], w = grid_side(m, "words per patch");
      const int64_t p = (G / 2) * G + G / 2, word = (w / 2) * w + w / 2;
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t k = 0; k < c; ++k) v[static_cast<size_t>(((b * patches + p) * m + word) * c + k)] = 1.f;
      break;
    }
  }
  return Tensor::from(shape, v);
}

int64_t accumulate_abs(const std::vector<float>& grad, const Dims& shape, Map& sum) {
  if (shape.size() != 4 || product(shape) != static_cast<int64_t>(grad.size()))
    throw std::invalid_argument(
        fmt::format("accumulate_abs: gradient of shape {} holds {} values", to_string(shape), grad.size()));
  const int64_t B = shape[0], C = shape[1], H = shape[2], W = shape[3];
  if (sum.values.empty()) sum = Map{H, W, std::vector<double>(static_cast<size_t>(H * W), 0.0)};
  if (sum.height != H || sum.width != W)
    throw std::invalid_argument(
        fmt::format("accumulate_abs: {}x{} gradient into a {}x{} map", H, W, sum.height, sum.width));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      const float* g = grad.data() + (b * C + c) * H * W;
      for (int64_t i = 0; i < H * W; ++i) sum.values[static_cast<size_t>(i)] += std::abs(g[i]);
    }
  return B;
}

int64_t centred_square_side(const Map& map, double centre, double share) {
  if (!(share > 0 && share <= 1))
    throw std::invalid_argument(fmt::format("centred_square_side: share {}", share));
  // Mass by the side each pixel needs, then the first side whose cumulative mass reaches the share.
  std::vector<std::pair<int64_t, double>> by_side;
  by_side.reserve(map.values.size());
  for (int64_t y = 0; y < map.height; ++y)
    for (int64_t x = 0; x < map.width; ++x) {
      const double d = std::max(std::abs(y - centre), std::abs(x - centre));
      by_side.emplace_back(static_cast<int64_t>(std::llround(2 * d + 1)), map.at(y, x));
    }
  std::sort(by_side.begin(), by_side.end());
  const double total = map.total(), need = share * total * (1 - 1e-12);  // 1e-12: rounding of the sum
  double cum = 0;
  for (size_t i = 0; i < by_side.size(); ++i) {
    cum += by_side[i].second;
    const bool last_of_side = i + 1 == by_side.size() || by_side[i + 1].first != by_side[i].first;
    if (last_of_side && cum >= need) return by_side[i].first;
  }
  return by_side.empty() ? 0 : by_side.back().first;
}

double area_share(const Map& map, double share) {
  if (!(share > 0 && share <= 1)) throw std::invalid_argument(fmt::format("area_share: share {}", share));
  std::vector<double> v = map.values;
  std::sort(v.begin(), v.end(), std::greater<>());
  const double need = share * map.total() * (1 - 1e-12);
  double cum = 0;
  size_t n = 0;
  while (n < v.size() && cum < need) cum += v[n++];
  return static_cast<double>(n) / static_cast<double>(v.size());
}

double gaussian_sigma(const Map& map, double* centroid_y, double* centroid_x) {
  double m = 0, my = 0, mx = 0;
  for (int64_t y = 0; y < map.height; ++y)
    for (int64_t x = 0; x < map.width; ++x) {
      const double w = map.at(y, x);
      m += w, my += w * y, mx += w * x;
    }
  if (!(m > 0)) throw std::invalid_argument("gaussian_sigma: the map has no mass");
  my /= m, mx /= m;
  double s2 = 0;
  for (int64_t y = 0; y < map.height; ++y)
    for (int64_t x = 0; x < map.width; ++x) s2 += map.at(y, x) * ((y - my) * (y - my) + (x - mx) * (x - mx));
  if (centroid_y) *centroid_y = my;
  if (centroid_x) *centroid_x = mx;
  return std::sqrt(s2 / m / 2);  // two axes, each of variance sigma^2
}

ErfScalars erf_scalars(const Map& map, double centre) {
  ErfScalars s;
  s.mass = map.total();
  if (!(s.mass > 0) || !std::isfinite(s.mass))
    throw std::invalid_argument(
        fmt::format("erf_scalars: the map's mass is {} (no gradient reached the input)", s.mass));
  s.side20 = centred_square_side(map, centre, 0.20);
  s.side50 = centred_square_side(map, centre, 0.50);
  s.side90 = centred_square_side(map, centre, 0.90);
  s.side99 = centred_square_side(map, centre, 0.99);
  s.area90 = area_share(map, 0.90);
  s.sigma = gaussian_sigma(map, &s.centroid_y, &s.centroid_x);
  return s;
}

}  // namespace vb::rf
