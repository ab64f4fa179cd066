// The layer table of a preset, computed from its config alone: per stage/block the output shape, parameter
// count and multiply-accumulates (MACs) of one image. MACs count convolutions, linear layers and the attention
// matmuls (QK^T, PV), as fvcore/the papers do; vitbench reports GFLOP = 2 x MACs. A test checks the parameter
// column against the real model, and the totals against the papers (REFERENCE.md).
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

std::vector<CostRow> cost_table(const ModelConfig& cfg);  // the family's table (models/families/*/cost.cpp)
int64_t total_params(const std::vector<CostRow>& rows);
int64_t total_macs(const std::vector<CostRow>& rows);

// Pieces of the families' tables.
int64_t linear_params(int64_t in, int64_t out, bool bias);
int64_t ln_params(int64_t d);
// A pre-norm transformer block on `n` tokens of width `d`; qkv: 3 (fused) projections of d, with or without bias.
CostRow transformer_block_cost(const std::string& name, int64_t n, int64_t d, int64_t hidden, bool qkv_bias);

}  // namespace vb
