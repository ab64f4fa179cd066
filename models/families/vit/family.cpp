// ViT's registration: timm's VisionTransformer presets (pre-norm, qkv bias, LayerNorm eps 1e-6, exact GELU,
// cls token, 1-D position table) and the 32-px preset trained here; the cost table from the config alone.
#include "models/families/families.hpp"

namespace vb {

namespace {

std::vector<ModelConfig> vit_presets() {
  ModelConfig vit_s;
  vit_s.name = "vit_small_patch16_224";
  vit_s.family = Family::vit;
  return {
      derive(vit_s, "vit_tiny_patch16_224",
             [](auto& c) { c.embed_dim = 192, c.num_heads = 3, c.mlp_dim = 768; }),
      vit_s,
      derive(vit_s, "vit_base_patch16_224",
             [](auto& c) { c.embed_dim = 768, c.num_heads = 12, c.mlp_dim = 3072; }),
      derive(vit_s, "vit_tiny_patch4_32",
             [](auto& c) {
               small_input(c), c.patch_size = 4, c.embed_dim = 192, c.depth = 9, c.num_heads = 3,
                               c.mlp_dim = 384;
             }),
  };
}

std::vector<CostRow> vit_cost_table(const ModelConfig& c) {
  check_blocks(c.depth);
  std::vector<CostRow> rows;
  const Count g = Count(c.img_size) / c.patch_size, n = g * g, d = c.embed_dim, p = c.patch_size;  // checked
  Count pos = 0;
  if (c.pos_embed == PosEmbed::learned_1d) pos = (n + 1) * d;
  if (c.pos_embed == PosEmbed::learned_2d) pos = g * d / 2 * 2 + d;
  rows.push_back({"patch_embed+cls+pos",
                  {(n + 1).v, d.v},
                  (c.in_chans * p * p * d + d + d + pos).v,
                  (n * c.in_chans * p * p * d).v});
  for (int64_t i = 0; i < c.depth; ++i)
    rows.push_back(transformer_block_cost("blocks." + std::to_string(i), n + 1, d, c.mlp_dim, c.qkv_bias));
  rows.push_back({"norm+head",
                  {c.num_classes},
                  (ln_params(d) + linear_params(d, c.num_classes, true)).v,
                  (d * c.num_classes).v});
  return rows;
}

}  // namespace

FamilyInfo vit_family() {
  return {.id = Family::vit,
          .make = make_vit,
          .presets = vit_presets,
          .cost_table = vit_cost_table,
          .fields = {"patch_size", "embed_dim", "depth", "num_heads", "qkv_bias", "ln_eps", "mlp_dim",
                     "pos_embed"},
          .headline = {"pos_embed"}};
}

}  // namespace vb
