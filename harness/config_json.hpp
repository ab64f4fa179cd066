// A model preset as JSON: every field of ModelConfig, enums by name, so a result records the architecture it
// measured (not just a preset name whose meaning could change).
#pragma once

#include <nlohmann/json.hpp>

#include "models/config.hpp"

namespace vb {

nlohmann::json to_json(const ModelConfig& cfg);

}  // namespace vb
