// Preset + overrides -> ModelConfig (see model_spec.hpp).
#include "harness/model_spec.hpp"

#include "models/core/cpu.hpp"

namespace vb {

ModelConfig resolve_model(const std::string& model, const std::vector<std::string>& overrides) {
  ModelConfig mc = preset(model);
  for (const auto& o : overrides) apply_override(mc, o);
  require_dtype(mc.dtype, mc.name);
  return mc;
}

ModelConfig model_for(const std::string& model, const std::vector<std::string>& overrides,
                      const data::Dataset& ds) {
  ModelConfig mc = resolve_model(model, overrides);
  mc.in_chans = ds.train.channels;
  mc.num_classes = static_cast<int64_t>(ds.train.classes.size());
  return mc;
}

}  // namespace vb
