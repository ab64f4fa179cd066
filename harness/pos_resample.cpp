// Bilinear resampling of position tables (see pos_resample.hpp).
#include "harness/pos_resample.hpp"

#include <algorithm>
#include <cmath>

namespace vb {

namespace {

// PyTorch's source index for output index i (align_corners=False): lower index, upper index, weight of upper.
struct Tap {
  int64_t lo, hi;
  float t;
};
Tap source(int64_t i, int64_t in, int64_t out) {
  const double x = std::max(0.0, (i + 0.5) * static_cast<double>(in) / out - 0.5);
  const int64_t lo = std::min<int64_t>(static_cast<int64_t>(x), in - 1);
  return {lo, std::min(lo + 1, in - 1), static_cast<float>(x - lo)};
}

int64_t square_side(int64_t n) {
  const auto s = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  return s * s == n ? s : -1;
}

}  // namespace

std::vector<float> resample_grid(const std::vector<float>& src, int64_t h, int64_t w, int64_t channels,
                                 int64_t out_h, int64_t out_w, bool channels_last) {
  std::vector<float> dst(out_h * out_w * channels);
  auto at = [&](int64_t y, int64_t x, int64_t c) {
    return channels_last ? src[(y * w + x) * channels + c] : src[(c * h + y) * w + x];
  };
  for (int64_t y = 0; y < out_h; ++y) {
    const Tap ty = source(y, h, out_h);
    for (int64_t x = 0; x < out_w; ++x) {
      const Tap tx = source(x, w, out_w);
      for (int64_t c = 0; c < channels; ++c) {
        const float top = (1 - tx.t) * at(ty.lo, tx.lo, c) + tx.t * at(ty.lo, tx.hi, c);
        const float bottom = (1 - tx.t) * at(ty.hi, tx.lo, c) + tx.t * at(ty.hi, tx.hi, c);
        const float v = (1 - ty.t) * top + ty.t * bottom;
        (channels_last ? dst[(y * out_w + x) * channels + c] : dst[(c * out_h + y) * out_w + x]) = v;
      }
    }
  }
  return dst;
}

std::optional<std::vector<float>> resample_position_table(const PosTable& table,
                                                          const std::vector<float>& values, const Dims& from,
                                                          const Dims& to) {
  if (from.size() != to.size() || from.empty() || from[0] != 1 || to[0] != 1) return std::nullopt;
  if (table.channels_first) {  // (1, C, h, w)
    if (from.size() != 4 || from[1] != to[1]) return std::nullopt;
    return resample_grid(values, from[2], from[3], from[1], to[2], to[3], false);
  }
  // (1, prefix + h*w, C): the prefix rows (a cls token's) stay, the grid is resampled.
  if (from.size() != 3 || from[2] != to[2]) return std::nullopt;
  const int64_t p = table.prefix, d = from[2], n_from = from[1] - p, n_to = to[1] - p;
  if (n_from < 1 || n_to < 1) return std::nullopt;
  int64_t h_from = 1, w_from = n_from, h_to = 1, w_to = n_to;  // one axis (pos_embed_x, pos_embed_y)
  if (table.grid_h != 1) {
    h_from = w_from = square_side(n_from);
    h_to = w_to = square_side(n_to);
    if (h_from < 1 || h_to < 1) return std::nullopt;
  }
  std::vector<float> out(values.begin(), values.begin() + p * d);
  const auto grid =
      resample_grid({values.begin() + p * d, values.end()}, h_from, w_from, d, h_to, w_to, true);
  out.insert(out.end(), grid.begin(), grid.end());
  return out;
}

}  // namespace vb
