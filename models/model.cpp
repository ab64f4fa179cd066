// The model factory and the parts of Model shared by every family.
#include "models/model.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "models/core/cpu.hpp"
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

std::unique_ptr<Model> create_model(const ModelConfig& cfg) {
  // Refused here, before any layer is built: without avx512_core_bf16 oneDNN has no (or only emulated)
  // bf16 kernels, and the first forward would fail deep inside a layer.
  require_dtype(cfg.dtype, cfg.name);
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
