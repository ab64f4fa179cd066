// ModelConfig's fields, listed once: the table that drives `--set field=value` overrides, the JSON a result
// records (and reads back, e.g. the parity fixtures), and what `vitbench models` shows. A new field is one
// row in config_fields.cpp (and, if only some families read it, a name in their FamilyInfo::fields).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/config.hpp"

namespace vb {

struct ConfigField {
  std::string name;
  std::string help;  // what the value is, e.g. "a positive integer", "none|learned_1d|learned_2d|sincos_2d"
  std::function<void(ModelConfig&, const std::string& text)>
      set;  // throws std::invalid_argument naming the field
  std::function<nlohmann::json(const ModelConfig&)> get;
};

const std::vector<ConfigField>& config_fields();
// Throws naming the unknown field and listing the known ones.
const ConfigField& config_field(const std::string& name);
// The fields every family reads (image size, channels, classes, drop-path rate, compute dtype).
const std::vector<std::string>& common_fields();

// The config as JSON: name, family, the common fields and the family's own (FamilyInfo::fields); enums by
// name.
nlohmann::json to_json(const ModelConfig& cfg);
// Applies every field of `j` but name and family (as written by to_json) on top of `cfg`.
void apply_json(ModelConfig& cfg, const nlohmann::json& j);
// "field=value" as text, e.g. for `vitbench models`: arrays comma-separated, strings bare.
std::string field_text(const ModelConfig& cfg, const std::string& field);

}  // namespace vb
