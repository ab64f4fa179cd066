// Theoretical receptive fields (see theoretical.hpp): the family computes them; this checks that its geometry
// names the same taps as the model, so a measurement cannot pair a map with another layer's field.
#include "harness/rf/theoretical.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace vb::rf {

TapInfo theoretical_rf(const Model& model) {
  TapInfo r = model.tap_info();
  const std::string& model_name = model.config().name;
  const auto names = model.taps();
  if (names.size() != r.taps.size())
    throw std::logic_error(
        fmt::format("{}: {} taps, but {} theoretical fields", model_name, names.size(), r.taps.size()));
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] != r.taps[i].name)
      throw std::logic_error(fmt::format("{}: tap {} is '{}', the theoretical field is for '{}'", model_name,
                                         i, names[i], r.taps[i].name));
  return r;
}

}  // namespace vb::rf
