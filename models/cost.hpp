// The layer table of a preset, computed from its config alone: per stage/block the output shape, parameter
// count and multiply-accumulates (MACs) of one image. MACs count convolutions, linear layers and the
// attention matmuls (QK^T, PV), as fvcore/the papers do; vitbench reports GFLOP = 2 x MACs. A test checks the
// parameter column against the real model, and the totals against the papers (REFERENCE.md).
#pragma once

#include <string>
#include <vector>

#include "models/config.hpp"

namespace vb {

struct CostRow {
  std::string name;
  std::vector<int64_t> out_shape;  // per image: (C, H, W) or (tokens, D)
  int64_t params = 0;
  int64_t macs = 0;
};

// The family's table (models/families/*/family.cpp). A config whose counts do not fit in int64 (a ViT at
// img_size=100000 has ~10^20 MACs) or that has more than kMaxBlocks blocks is refused with
// std::invalid_argument naming the model and its img_size, rather than wrapping around (signed overflow is
// undefined behaviour).
std::vector<CostRow> cost_table(const ModelConfig& cfg);
int64_t total_params(const std::vector<CostRow>& rows);
int64_t total_macs(const std::vector<CostRow>& rows);

// Pieces of the families' tables.

// Checked int64 arithmetic for the tables: an operation whose result does not fit throws std::overflow_error.
// Converts from int64_t implicitly and back only through `.v`, so every formula that mixes it in is checked.
struct Count {
  int64_t v;
  Count(int64_t x) : v(x) {}  // NOLINT: implicit on purpose, `3 * d` must be checked too
  friend Count operator+(Count a, Count b);
  friend Count operator-(Count a, Count b);
  friend Count operator*(Count a, Count b);
  friend Count operator/(Count a, Count b);
};
// round-toward-zero of x * ratio (ratio > 0), checked: TNT's MLP widths.
Count scaled(Count x, double ratio);
// Blocks a table may list (depth, or the sum of ResNet's stage depths): a row each.
inline constexpr int64_t kMaxBlocks = 1 << 16;
void check_blocks(Count blocks);

Count linear_params(Count in, Count out, bool bias);
Count ln_params(Count d);
// A pre-norm transformer block on `n` tokens of width `d`; qkv: 3 (fused) projections of d, with or without
// bias.
CostRow transformer_block_cost(const std::string& name, Count n, Count d, Count hidden, bool qkv_bias);

}  // namespace vb
