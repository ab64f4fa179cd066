// Theoretical receptive fields of a model: its own description of its taps (Model::tap_info(), geometry types
// in models/core/receptive_field.hpp), checked against the taps and attention layers it reports.
#pragma once

#include "models/model.hpp"

namespace vb::rf {

// For the model's own input size (config().img_size). Throws std::logic_error when the model's geometry and
// its taps()/attention_probs() disagree (a family bug, named).
TapInfo theoretical_rf(const Model& model);

}  // namespace vb::rf
