// A model preset with its `--set field=value` overrides, resolved to a ModelConfig in this one place: every
// command, the trainer and the sweep planner call it, so an unknown preset or field and a dtype this CPU
// cannot compute are refused the same way, before any work or output.
#pragma once

#include <string>
#include <vector>

#include "harness/data/dataset.hpp"
#include "models/config.hpp"

namespace vb {

// The preset `model` with its "field=value" overrides applied. Throws naming an unknown preset or field, or
// (require_dtype, models/core/cpu.hpp) bf16 on a CPU without avx512_core_bf16 or AMX.
ModelConfig resolve_model(const std::string& model, const std::vector<std::string>& overrides);

// The same, adapted to the dataset: input channels and classes come from the data.
ModelConfig model_for(const std::string& model, const std::vector<std::string>& overrides,
                      const data::Dataset& ds);

}  // namespace vb
