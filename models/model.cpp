// The model factory and the parts of Model shared by every family.
#include "models/model.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <stdexcept>

#include "models/core/cpu.hpp"
#include "models/cost.hpp"
#include "models/families/families.hpp"

namespace vb {

std::vector<Param*> Model::params() {
  std::vector<Param*> out;
  for (const StateEntry& e : state())
    if (e.param) out.push_back(e.param);
  return out;
}

int64_t Model::num_params() {
  int64_t n = 0;
  for (Param* p : params()) n += p->value.numel();
  return n;
}

namespace {

// Every tensor is bounded on its own (tensor.cpp), but a model of many legal tensors (depth=60000) would
// still allocate until the machine runs out. So the total is bounded before the first layer is built, from
// the cost table (whose parameter column a test checks against the real models): training holds four f32
// copies of every parameter (the value, its gradient, AdamW's two moments), and those alone must fit in this
// machine's memory, the same ceiling the per-tensor bound uses. The largest preset (ViT-B/16, 86 M
// parameters: 1.4 GB) is far below it on any machine that can train it. A config whose counts overflow int64
// (img_size=100000) is left to the per-tensor bound, whose message gives the size of the tensor that does not
// fit.
void check_total_size(const ModelConfig& cfg) {
  int64_t params = 0;
  try {
    params = total_params(cost_table(cfg));
  } catch (const std::invalid_argument&) {
    return;
  }
  const double bytes = 4.0 * sizeof(float) * static_cast<double>(params);
  const double machine =
      static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
  if (bytes > machine)
    throw std::length_error(
        fmt::format("model {} does not fit in memory: {} parameters need {:.1f} GiB for training "
                    "(value, gradient and AdamW's two moments, f32), more than this machine's "
                    "{:.1f} GiB; choose a smaller depth, width or img_size",
                    cfg.name, params, bytes / (1 << 30), machine / (1 << 30)));
}

}  // namespace

std::unique_ptr<Model> create_model(const ModelConfig& cfg) {
  // Refused here, before any layer is built: without avx512_core_bf16 oneDNN has no (or only emulated)
  // bf16 kernels, and the first forward would fail deep inside a layer.
  require_dtype(cfg.dtype, cfg.name);
  check_total_size(cfg);
  try {
    return family_info(cfg.family).make(cfg);
  } catch (
      const std::length_error& e) {  // a tensor too large for the machine (tensor.cpp): say which setting
    throw std::length_error(
        fmt::format("model {} at img_size {} does not fit in memory: {}; choose a smaller "
                    "img_size",
                    cfg.name, cfg.img_size, e.what()));
  }
}

}  // namespace vb
