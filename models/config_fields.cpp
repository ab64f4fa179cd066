// The ModelConfig field table (see config_fields.hpp) and `field=value` parsing.
#include "models/config_fields.hpp"

#include <fmt/format.h>

#include <sstream>
#include <stdexcept>

#include "models/families/families.hpp"

namespace vb {

namespace {

int64_t parse_int(const std::string& field, const std::string& text, int64_t lo) {
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || v < lo)
    throw std::invalid_argument(
        fmt::format("{}={}: expected a {} integer", field, text, lo > 0 ? "positive" : "non-negative"));
  return v;
}

double parse_double(const std::string& field, const std::string& text, double lo, double hi) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || !(v >= lo && v <= hi))
    throw std::invalid_argument(fmt::format("{}={}: expected a number in [{}, {}]", field, text, lo, hi));
  return v;
}

template <class E>
struct EnumNames {
  static const std::vector<std::pair<E, const char*>> list;
};
template <>
const std::vector<std::pair<Family, const char*>> EnumNames<Family>::list{
    {Family::resnet, "resnet"}, {Family::vit, "vit"}, {Family::tnt, "tnt"}};
template <>
const std::vector<std::pair<Stem, const char*>> EnumNames<Stem>::list{{Stem::imagenet, "imagenet"},
                                                                      {Stem::cifar, "cifar"}};
template <>
const std::vector<std::pair<PosEmbed, const char*>> EnumNames<PosEmbed>::list{
    {PosEmbed::none, "none"},
    {PosEmbed::learned_1d, "learned_1d"},
    {PosEmbed::learned_2d, "learned_2d"},
    {PosEmbed::sincos_2d, "sincos_2d"}};
template <>
const std::vector<std::pair<TntPos, const char*>> EnumNames<TntPos>::list{
    {TntPos::none, "none"}, {TntPos::inner, "inner"}, {TntPos::outer, "outer"}, {TntPos::both, "both"}};

template <class E>
const char* enum_name(E e) {
  for (const auto& [v, n] : EnumNames<E>::list)
    if (v == e) return n;
  return "?";
}

template <class E>
std::string enum_choices() {
  std::vector<std::string> names;
  for (const auto& [v, n] : EnumNames<E>::list) names.push_back(n);
  return fmt::format("{}", fmt::join(names, "|"));
}

template <class E>
E parse_enum_field(const std::string& field, const std::string& text) {
  std::vector<std::string> names;
  for (const auto& [v, n] : EnumNames<E>::list) {
    if (text == n) return v;
    names.push_back(n);
  }
  throw std::invalid_argument(
      fmt::format("{}={}: unknown value; choose one of {}", field, text, fmt::join(names, ", ")));
}

// Rows by kind of value. `lo` is the smallest integer accepted (1, or 0 for paddings).
ConfigField int_field(const std::string& name, int64_t ModelConfig::*m, int64_t lo = 1) {
  return {name, lo > 0 ? "a positive integer" : "a non-negative integer",
          [=](ModelConfig& c, const std::string& v) { c.*m = parse_int(name, v, lo); },
          [=](const ModelConfig& c) { return nlohmann::json(c.*m); }};
}
ConfigField real_field(const std::string& name, double ModelConfig::*m, double lo, double hi) {
  return {name, fmt::format("a number in [{}, {}]", lo, hi),
          [=](ModelConfig& c, const std::string& v) { c.*m = parse_double(name, v, lo, hi); },
          [=](const ModelConfig& c) { return nlohmann::json(c.*m); }};
}
template <class E>
ConfigField enum_field(const std::string& name, E ModelConfig::*m) {
  return {name, enum_choices<E>(),
          [=](ModelConfig& c, const std::string& v) { c.*m = parse_enum_field<E>(name, v); },
          [=](const ModelConfig& c) { return nlohmann::json(to_string(c.*m)); }};
}

std::vector<ConfigField> make_fields() {
  return {
      int_field("img_size", &ModelConfig::img_size),
      int_field("in_chans", &ModelConfig::in_chans),
      int_field("num_classes", &ModelConfig::num_classes),
      {"layers", "4 stage depths like 3,4,6,3",
       [](ModelConfig& c, const std::string& v) {
         std::stringstream in(v);
         std::string item;
         std::vector<int64_t> xs;
         while (std::getline(in, item, ',')) xs.push_back(parse_int("layers", item, 1));
         if (xs.size() != 4)
           throw std::invalid_argument(fmt::format("layers={}: expected 4 stage depths like 3,4,6,3", v));
         std::copy(xs.begin(), xs.end(), c.layers.begin());
       },
       [](const ModelConfig& c) { return nlohmann::json(c.layers); }},
      int_field("base_width", &ModelConfig::base_width),
      enum_field("stem", &ModelConfig::stem),
      int_field("patch_size", &ModelConfig::patch_size),
      int_field("embed_dim", &ModelConfig::embed_dim),
      int_field("depth", &ModelConfig::depth),
      int_field("num_heads", &ModelConfig::num_heads),
      int_field("mlp_dim", &ModelConfig::mlp_dim),
      {"qkv_bias", "true|false",
       [](ModelConfig& c, const std::string& v) {
         if (v != "true" && v != "false")
           throw std::invalid_argument(fmt::format("qkv_bias={}: expected true or false", v));
         c.qkv_bias = v == "true";
       },
       [](const ModelConfig& c) { return nlohmann::json(c.qkv_bias); }},
      enum_field("pos_embed", &ModelConfig::pos_embed),
      {"ln_eps", "a number in [1e-12, 1]",
       [](ModelConfig& c, const std::string& v) {
         c.ln_eps = static_cast<float>(parse_double("ln_eps", v, 1e-12, 1.0));
       },
       [](const ModelConfig& c) { return nlohmann::json(c.ln_eps); }},
      int_field("inner_dim", &ModelConfig::inner_dim),
      int_field("inner_heads", &ModelConfig::inner_heads),
      real_field("mlp_ratio", &ModelConfig::mlp_ratio, 0.01, 64),
      real_field("inner_mlp_ratio", &ModelConfig::inner_mlp_ratio, 0.01, 64),
      int_field("word_kernel", &ModelConfig::word_kernel),
      int_field("word_stride", &ModelConfig::word_stride),
      int_field("word_padding", &ModelConfig::word_padding, 0),
      enum_field("tnt_pos", &ModelConfig::tnt_pos),
      real_field("drop_path", &ModelConfig::drop_path, 0.0, 0.99),
      {"dtype", "f32|bf16",
       [](ModelConfig& c, const std::string& v) {
         try {
           c.dtype = parse_dtype(v);
         } catch (const std::invalid_argument& e) {
           throw std::invalid_argument(fmt::format("dtype={}: {}", v, e.what()));
         }
       },
       [](const ModelConfig& c) { return nlohmann::json(to_string(c.dtype)); }},
      {"sync_bn", "true|false (ResNet only)",
       [](ModelConfig& c, const std::string& v) {
         if (v != "true" && v != "false")
           throw std::invalid_argument(fmt::format("sync_bn={}: expected true or false", v));
         if (v == "true" && c.family != Family::resnet)
           throw std::invalid_argument(fmt::format("sync_bn=true: {} is a {} model, which has no BatchNorm",
                                                   c.name, to_string(c.family)));
         c.sync_bn = v == "true";
       },
       [](const ModelConfig& c) { return nlohmann::json(c.sync_bn); }},
  };
}

}  // namespace

const char* to_string(Family f) {
  return enum_name(f);
}
const char* to_string(Stem s) {
  return enum_name(s);
}
const char* to_string(PosEmbed p) {
  return enum_name(p);
}
const char* to_string(TntPos p) {
  return enum_name(p);
}

const std::vector<ConfigField>& config_fields() {
  static const std::vector<ConfigField> f = make_fields();
  return f;
}

const ConfigField& config_field(const std::string& name) {
  for (const ConfigField& f : config_fields())
    if (f.name == name) return f;
  std::vector<std::string> names;
  for (const ConfigField& f : config_fields()) names.push_back(f.name);
  throw std::invalid_argument(fmt::format("unknown field '{}'; fields: {}", name, fmt::join(names, ", ")));
}

const std::vector<std::string>& common_fields() {
  static const std::vector<std::string> f{"img_size", "in_chans", "num_classes", "drop_path", "dtype"};
  return f;
}

nlohmann::json to_json(const ModelConfig& c) {
  nlohmann::json j = {{"name", c.name}, {"family", to_string(c.family)}};
  for (const auto& f : common_fields()) j[f] = config_field(f).get(c);
  for (const auto& f : family_info(c.family).fields) j[f] = config_field(f).get(c);
  // Only when on: the configs of runs without it (and so sweep run ids) stay as they were.
  if (c.sync_bn) j["sync_bn"] = true;
  return j;
}

namespace {

// A field's JSON value as `--set` text: arrays comma-separated, strings bare.
std::string as_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_array()) return v.dump();
  std::vector<std::string> items;
  for (const auto& x : v) items.push_back(x.dump());
  return fmt::format("{}", fmt::join(items, ","));
}

}  // namespace

std::string field_text(const ModelConfig& cfg, const std::string& field) {
  return as_text(config_field(field).get(cfg));
}

void apply_json(ModelConfig& cfg, const nlohmann::json& j) {
  for (const auto& [field, value] : j.items())
    if (field != "name" && field != "family") config_field(field).set(cfg, as_text(value));
}

void apply_override(ModelConfig& cfg, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw std::invalid_argument(fmt::format("override '{}': expected field=value", assignment));
  const std::string field = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  const ConfigField* f = nullptr;
  try {
    f = &config_field(field);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(fmt::format("override '{}': {}", assignment, e.what()));
  }
  f->set(cfg, value);
}

}  // namespace vb
