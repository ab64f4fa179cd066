// The preset registry: every family's presets (timm's names, from its folder under models/families/), names
// unique.
#include <fmt/format.h>

#include <stdexcept>

#include "models/config.hpp"
#include "models/families/families.hpp"

namespace vb {

namespace {

std::vector<ModelConfig> make_presets() {
  std::vector<ModelConfig> p;
  for (const FamilyInfo& fam : families())
    for (ModelConfig& c : fam.presets()) {
      for (const ModelConfig& seen : p)
        if (seen.name == c.name) throw std::logic_error("duplicate preset name " + c.name);
      p.push_back(std::move(c));
    }
  return p;
}

const std::vector<ModelConfig>& presets() {
  static const std::vector<ModelConfig> p = make_presets();
  return p;
}

}  // namespace

const ModelConfig& preset(const std::string& name) {
  for (const auto& c : presets())
    if (c.name == name) return c;
  throw std::invalid_argument(
      fmt::format("unknown model '{}'; known models: {}", name, fmt::join(preset_names(), ", ")));
}

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& c : presets()) names.push_back(c.name);
  return names;
}

}  // namespace vb
