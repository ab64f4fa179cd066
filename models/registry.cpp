// The preset registry (timm's names) and `field=value` overrides. Presets are frozen data: a derived preset
// copies its parent and changes a few fields.
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "models/config.hpp"

namespace vb {

namespace {

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
E parse_enum(const std::string& field, const std::string& text) {
  std::vector<std::string> names;
  for (const auto& [v, n] : EnumNames<E>::list) {
    if (text == n) return v;
    names.push_back(n);
  }
  throw std::invalid_argument(
      fmt::format("{}={}: unknown value; choose one of {}", field, text, fmt::join(names, ", ")));
}

int64_t parse_int(const std::string& field, const std::string& text) {
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || v <= 0)
    throw std::invalid_argument(fmt::format("{}={}: expected a positive integer", field, text));
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

using Setter = std::function<void(ModelConfig&, const std::string& field, const std::string& value)>;

Setter int_field(int64_t ModelConfig::*m) {
  return [m](ModelConfig& c, const std::string& f, const std::string& v) { c.*m = parse_int(f, v); };
}
Setter real_field(double ModelConfig::*m, double lo, double hi) {
  return [=](ModelConfig& c, const std::string& f, const std::string& v) { c.*m = parse_double(f, v, lo, hi); };
}
template <class E>
Setter enum_field(E ModelConfig::*m) {
  return [m](ModelConfig& c, const std::string& f, const std::string& v) { c.*m = parse_enum<E>(f, v); };
}

const std::map<std::string, Setter>& setters() {
  static const std::map<std::string, Setter> s{
      {"img_size", int_field(&ModelConfig::img_size)},
      {"in_chans", int_field(&ModelConfig::in_chans)},
      {"num_classes", int_field(&ModelConfig::num_classes)},
      {"layers",
       [](ModelConfig& c, const std::string& f, const std::string& v) {
         std::stringstream in(v);
         std::string item;
         std::vector<int64_t> xs;
         while (std::getline(in, item, ',')) xs.push_back(parse_int(f, item));
         if (xs.size() != 4) throw std::invalid_argument(fmt::format("{}={}: expected 4 stage depths like 3,4,6,3", f, v));
         std::copy(xs.begin(), xs.end(), c.layers.begin());
       }},
      {"base_width", int_field(&ModelConfig::base_width)},
      {"stem", enum_field(&ModelConfig::stem)},
      {"patch_size", int_field(&ModelConfig::patch_size)},
      {"embed_dim", int_field(&ModelConfig::embed_dim)},
      {"depth", int_field(&ModelConfig::depth)},
      {"num_heads", int_field(&ModelConfig::num_heads)},
      {"mlp_dim", int_field(&ModelConfig::mlp_dim)},
      {"qkv_bias",
       [](ModelConfig& c, const std::string& f, const std::string& v) {
         if (v != "true" && v != "false") throw std::invalid_argument(fmt::format("{}={}: expected true or false", f, v));
         c.qkv_bias = v == "true";
       }},
      {"pos_embed", enum_field(&ModelConfig::pos_embed)},
      {"ln_eps",
       [](ModelConfig& c, const std::string& f, const std::string& v) {
         c.ln_eps = static_cast<float>(parse_double(f, v, 1e-12, 1.0));
       }},
      {"inner_dim", int_field(&ModelConfig::inner_dim)},
      {"inner_heads", int_field(&ModelConfig::inner_heads)},
      {"mlp_ratio", real_field(&ModelConfig::mlp_ratio, 0.01, 64)},
      {"inner_mlp_ratio", real_field(&ModelConfig::inner_mlp_ratio, 0.01, 64)},
      {"word_kernel", int_field(&ModelConfig::word_kernel)},
      {"word_stride", int_field(&ModelConfig::word_stride)},
      {"word_padding",
       [](ModelConfig& c, const std::string& f, const std::string& v) {
         c.word_padding = v == "0" ? 0 : parse_int(f, v);
       }},
      {"tnt_pos", enum_field(&ModelConfig::tnt_pos)},
      {"drop_path", real_field(&ModelConfig::drop_path, 0.0, 0.99)},
      {"dtype",
       [](ModelConfig& c, const std::string& f, const std::string& v) {
         if (v != "f32" && v != "bf16") throw std::invalid_argument(fmt::format("{}={}: expected f32 or bf16", f, v));
         c.dtype = v == "bf16" ? DType::bf16 : DType::f32;
       }},
  };
  return s;
}

// ---- the presets -------------------------------------------------------------------------------------------

ModelConfig derive(const ModelConfig& parent, const std::string& name, std::function<void(ModelConfig&)> edit) {
  ModelConfig c = parent;
  c.name = name;
  edit(c);
  return c;
}

std::vector<ModelConfig> make_presets() {
  std::vector<ModelConfig> p;
  // ResNet-50, torchvision v1.5 (stride on the 3x3 conv of each bottleneck).
  ModelConfig resnet;
  resnet.name = "resnet50";
  resnet.family = Family::resnet;
  p.push_back(resnet);

  // ViT, timm VisionTransformer: pre-norm, qkv bias, LayerNorm eps 1e-6, exact GELU, cls token, 1-D table.
  ModelConfig vit_s;
  vit_s.name = "vit_small_patch16_224";
  vit_s.family = Family::vit;
  p.push_back(derive(vit_s, "vit_tiny_patch16_224", [](auto& c) {
    c.embed_dim = 192, c.num_heads = 3, c.mlp_dim = 768;
  }));
  p.push_back(vit_s);
  p.push_back(derive(vit_s, "vit_base_patch16_224", [](auto& c) {
    c.embed_dim = 768, c.num_heads = 12, c.mlp_dim = 3072;
  }));

  // TNT, official code = timm non-legacy: 16x16 patches cut into 4x4 words by a 7x7 stride-4 conv per patch.
  ModelConfig tnt_s;
  tnt_s.name = "tnt_s_patch16_224";
  tnt_s.family = Family::tnt;
  tnt_s.embed_dim = 384, tnt_s.num_heads = 6, tnt_s.inner_dim = 24, tnt_s.inner_heads = 4;
  tnt_s.qkv_bias = false, tnt_s.ln_eps = 1e-5f;
  p.push_back(tnt_s);
  p.push_back(derive(tnt_s, "tnt_b_patch16_224", [](auto& c) {
    c.embed_dim = 640, c.num_heads = 10, c.inner_dim = 40;
  }));

  // Small presets trained on this machine: 32x32 inputs (28x28 data is zero-padded), 10 classes.
  auto small = [](ModelConfig& c) { c.img_size = 32, c.num_classes = 10; };
  p.push_back(derive(resnet, "resnet50_32", [&](auto& c) { small(c), c.stem = Stem::cifar; }));
  p.push_back(derive(p.back(), "resnet50_w16_32", [](auto& c) { c.base_width = 16; }));  // ~1.5M params
  p.push_back(derive(vit_s, "vit_tiny_patch4_32", [&](auto& c) {
    small(c), c.patch_size = 4, c.embed_dim = 192, c.depth = 9, c.num_heads = 3, c.mlp_dim = 384;
  }));
  // 16 patches of 8x8, each cut into 16 words of 2x2 pixels by a 3x3 stride-2 conv.
  p.push_back(derive(tnt_s, "tnt_tiny_patch8_32", [&](auto& c) {
    small(c), c.patch_size = 8, c.embed_dim = 192, c.num_heads = 3, c.inner_dim = 12, c.inner_heads = 2;
    c.depth = 9, c.mlp_ratio = 2.0, c.inner_mlp_ratio = 2.0;
    c.word_kernel = 3, c.word_stride = 2, c.word_padding = 1;
  }));
  for (size_t i = 0; i < p.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (p[i].name == p[j].name) throw std::logic_error("duplicate preset name " + p[i].name);
  return p;
}

const std::vector<ModelConfig>& presets() {
  static const std::vector<ModelConfig> p = make_presets();
  return p;
}

}  // namespace

const char* to_string(Family f) { return enum_name(f); }
const char* to_string(Stem s) { return enum_name(s); }
const char* to_string(PosEmbed p) { return enum_name(p); }
const char* to_string(TntPos p) { return enum_name(p); }

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

void apply_override(ModelConfig& cfg, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw std::invalid_argument(fmt::format("override '{}': expected field=value", assignment));
  const std::string field = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  const auto it = setters().find(field);
  if (it == setters().end()) {
    std::vector<std::string> names;
    for (const auto& [n, s] : setters()) names.push_back(n);
    throw std::invalid_argument(
        fmt::format("override '{}': unknown field '{}'; fields: {}", assignment, field, fmt::join(names, ", ")));
  }
  it->second(cfg, field, value);
}

}  // namespace vb
