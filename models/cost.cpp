// Cost tables (see cost.hpp): the dispatch to the family's own table and the pieces families share.
#include "models/cost.hpp"

#include "models/families/families.hpp"

namespace vb {

std::vector<CostRow> cost_table(const ModelConfig& cfg) { return family_info(cfg.family).cost_table(cfg); }

int64_t linear_params(int64_t in, int64_t out, bool bias) { return in * out + (bias ? out : 0); }
int64_t ln_params(int64_t d) { return 2 * d; }

CostRow transformer_block_cost(const std::string& name, int64_t n, int64_t d, int64_t hidden, bool qkv_bias) {
  CostRow r{name, {n, d}, 0, 0};
  r.params = 2 * ln_params(d) + linear_params(d, 3 * d, false) + (qkv_bias ? 3 * d : 0) +
             linear_params(d, d, true) + linear_params(d, hidden, true) + linear_params(hidden, d, true);
  r.macs = n * d * 3 * d          // q, k, v
           + 2 * n * n * d        // QK^T and PV over all heads
           + n * d * d            // proj
           + 2 * n * d * hidden;  // fc1, fc2
  return r;
}

int64_t total_params(const std::vector<CostRow>& rows) {
  int64_t n = 0;
  for (const auto& r : rows) n += r.params;
  return n;
}

int64_t total_macs(const std::vector<CostRow>& rows) {
  int64_t n = 0;
  for (const auto& r : rows) n += r.macs;
  return n;
}

}  // namespace vb
