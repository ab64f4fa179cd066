// Mean attention distance (ViT paper, Fig. 7 and 11): per head, the attention-weighted Euclidean distance in
// pixels between a query token and the key tokens, averaged over queries and images. The cls token is neither
// query nor key; each query's weights over the remaining keys are renormalised to sum to 1.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "models/core/tensor.hpp"

namespace vb::rf {

using Position = std::array<double, 2>;  // (row, column) in pixels

// Centres of a side x side grid of tokens `spacing` pixels apart, row-major (distances only use differences,
// so the offset of the first one does not matter).
std::vector<Position> grid_positions(int64_t side, double spacing);

// Running per-head sums of the per-query mean distances.
struct AttentionDistance {
  std::vector<double> sum;  // (heads)
  int64_t queries = 0;      // queries added per head (rows x query tokens)
  std::vector<double> mean() const;
};

// Adds the probabilities `probs` (R, H, T, T) plain row-major (R = images, or images x patches for TNT's
// inner attention) whose tokens `skip` .. T-1 sit at `positions` (T - skip of them); tokens 0 .. skip-1 (cls)
// are left out as queries and as keys.
void add_attention(const std::vector<float>& probs, const Dims& shape, const std::vector<Position>& positions,
                   int64_t skip, AttentionDistance& acc);

}  // namespace vb::rf
