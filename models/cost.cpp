// Cost tables (see cost.hpp): the dispatch to the family's own table and the pieces families share.
#include "models/cost.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "models/families/families.hpp"

namespace vb {

std::vector<CostRow> cost_table(const ModelConfig& cfg) {
  try {
    std::vector<CostRow> rows = family_info(cfg.family).cost_table(cfg);
    (void)total_params(rows),
        (void)total_macs(rows);  // the sums checked here: callers sum the rows unchecked
    return rows;
  } catch (const std::overflow_error& e) {
    throw std::invalid_argument(
        fmt::format("model {} at img_size {}: {}; choose a smaller img_size (or width, depth)", cfg.name,
                    cfg.img_size, e.what()));
  }
}

Count operator+(Count a, Count b) {
  int64_t r;
  if (__builtin_add_overflow(a.v, b.v, &r))
    throw std::overflow_error("its parameter or MAC counts overflow int64");
  return r;
}
Count operator-(Count a, Count b) {
  int64_t r;
  if (__builtin_sub_overflow(a.v, b.v, &r))
    throw std::overflow_error("its parameter or MAC counts overflow int64");
  return r;
}
Count operator*(Count a, Count b) {
  int64_t r;
  if (__builtin_mul_overflow(a.v, b.v, &r))
    throw std::overflow_error("its parameter or MAC counts overflow int64");
  return r;
}
Count operator/(Count a, Count b) {
  if (b.v == 0 || (a.v == INT64_MIN && b.v == -1)) throw std::overflow_error("a count divided by zero");
  return a.v / b.v;
}

Count scaled(Count x, double ratio) {
  const double r = static_cast<double>(x.v) * ratio;
  if (!(r < 9.2e18 && r > -9.2e18)) throw std::overflow_error("an MLP width overflows int64");
  return static_cast<int64_t>(r);
}

void check_blocks(Count blocks) {
  if (blocks.v > kMaxBlocks)
    throw std::overflow_error(fmt::format("{} blocks, more than the {} a table lists", blocks.v, kMaxBlocks));
}

Count linear_params(Count in, Count out, bool bias) {
  return in * out + (bias ? out : 0);
}
Count ln_params(Count d) {
  return 2 * d;
}

CostRow transformer_block_cost(const std::string& name, Count n, Count d, Count hidden, bool qkv_bias) {
  CostRow r{name, {n.v, d.v}, 0, 0};
  r.params = (2 * ln_params(d) + linear_params(d, 3 * d, false) + (qkv_bias ? 3 * d : 0) +
              linear_params(d, d, true) + linear_params(d, hidden, true) + linear_params(hidden, d, true))
                 .v;
  r.macs = (n * d * 3 * d          // q, k, v
            + 2 * n * n * d        // QK^T and PV over all heads
            + n * d * d            // proj
            + 2 * n * d * hidden)  // fc1, fc2
               .v;
  return r;
}

// The rows are checked when built; their sums are checked too (cost_table's callers only ever sum its rows).
int64_t total_params(const std::vector<CostRow>& rows) {
  Count n = 0;
  for (const auto& r : rows) n = n + r.params;
  return n.v;
}

int64_t total_macs(const std::vector<CostRow>& rows) {
  Count n = 0;
  for (const auto& r : rows) n = n + r.macs;
  return n.v;
}

}  // namespace vb
