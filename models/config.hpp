// A model preset: plain data naming the family and every architectural choice. Presets are registered by
// timm's names (models/registry.cpp); derived presets copy a parent and override a few fields.
#pragma once

#include <array>
#include <cstdint>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <vector>

#include "models/core/tensor.hpp"  // DType

namespace vb {

enum class Family { resnet, vit, tnt };
enum class Stem { imagenet, cifar };  // 7x7 s2 conv + 3x3 s2 max-pool | 3x3 s1 conv, no pool
enum class PosEmbed { none, learned_1d, learned_2d, sincos_2d };
enum class TntPos { none, inner, outer, both };  // inner = pixel_pos, outer = patch_pos

struct ModelConfig {
  std::string name;
  Family family = Family::vit;
  int64_t img_size = 224, in_chans = 3, num_classes = 1000;
  // ResNet
  std::array<int64_t, 4> layers{3, 4, 6, 3};
  int64_t base_width = 64;
  Stem stem = Stem::imagenet;
  // ViT and TNT (outer transformer)
  int64_t patch_size = 16, embed_dim = 384, depth = 12, num_heads = 6, mlp_dim = 1536;
  bool qkv_bias = true;
  PosEmbed pos_embed = PosEmbed::learned_1d;
  float ln_eps = 1e-6f;
  // TNT (inner transformer on the words of each patch)
  int64_t inner_dim = 24, inner_heads = 4;
  double mlp_ratio = 4.0, inner_mlp_ratio = 4.0;
  int64_t word_kernel = 7, word_stride = 4, word_padding = 3;
  TntPos tnt_pos = TntPos::both;
  // Regularisation used in training (not architecture): stochastic depth rate.
  double drop_path = 0.0;
  // Compute dtype of convolutions, linears and attention (bf16: mixed precision on AVX512-BF16/AMX). Params,
  // grads and the optimizer stay f32 (master weights); logits are f32 either way. Not architecture.
  DType dtype = DType::f32;
  // ResNet, data-parallel training: SyncBatchNorm, BatchNorm statistics of the global batch over every rank
  // (models/layers/sync_batchnorm.hpp) instead of each rank's slice (the default, as PyTorch DDP). Not
  // architecture; the same function as plain BatchNorm in one process. `sync_bn=true`, recorded only when on.
  bool sync_bn = false;
};

// A derived preset: a copy of `parent` named `name`, with `edit` applied (vit_jax's way: B/8 = B/16 with
// patch 8).
template <class Edit>
ModelConfig derive(const ModelConfig& parent, const std::string& name, Edit edit) {
  ModelConfig c = parent;
  c.name = name;
  edit(c);
  return c;
}
// The 32x32-input, 10-class variant of a preset (the small presets trained on this machine; 28x28 data is
// zero-padded).
inline void small_input(ModelConfig& c) {
  c.img_size = 32, c.num_classes = 10;
}

// The registry: every family's presets (models/families/*/family.cpp), duplicate names refused.
const ModelConfig& preset(const std::string& name);  // throws, listing the known names
std::vector<std::string> preset_names();             // in registration order
// Applies "field=value" (e.g. "pos_embed=learned_2d", "layers=1,1,1,1"); throws naming the field.
void apply_override(ModelConfig& cfg, const std::string& assignment);

const char* to_string(Family f);
const char* to_string(Stem s);
const char* to_string(PosEmbed p);
const char* to_string(TntPos p);

}  // namespace vb
