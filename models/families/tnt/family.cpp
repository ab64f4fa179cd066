// TNT's registration: the official code's presets (= timm non-legacy: 16x16 patches cut into 4x4 words by a
// 7x7 stride-4 conv per patch) and the 32-px preset trained here; the cost table from the config alone.
#include "models/core/geometry.hpp"
#include "models/families/families.hpp"

namespace vb {

namespace {

std::vector<ModelConfig> tnt_presets() {
  ModelConfig tnt_s;
  tnt_s.name = "tnt_s_patch16_224";
  tnt_s.family = Family::tnt;
  tnt_s.embed_dim = 384, tnt_s.num_heads = 6, tnt_s.inner_dim = 24, tnt_s.inner_heads = 4;
  tnt_s.qkv_bias = false, tnt_s.ln_eps = 1e-5f;
  return {
      tnt_s,
      derive(tnt_s, "tnt_b_patch16_224",
             [](auto& c) { c.embed_dim = 640, c.num_heads = 10, c.inner_dim = 40; }),
      // 16 patches of 8x8, each cut into 16 words of 2x2 pixels by a 3x3 stride-2 conv.
      derive(tnt_s, "tnt_tiny_patch8_32",
             [](auto& c) {
               small_input(c), c.patch_size = 8, c.embed_dim = 192, c.num_heads = 3, c.inner_dim = 12,
                               c.inner_heads = 2;
               c.depth = 9, c.mlp_ratio = 2.0, c.inner_mlp_ratio = 2.0;
               c.word_kernel = 3, c.word_stride = 2, c.word_padding = 1;
             }),
  };
}

std::vector<CostRow> tnt_cost_table(const ModelConfig& c) {
  check_blocks(c.depth);
  std::vector<CostRow> rows;
  const Count g = Count(c.img_size) / c.patch_size, n = g * g, d = c.embed_dim, ci = c.inner_dim;  // checked
  const Count w = (Count(c.patch_size) + 2 * c.word_padding - c.word_kernel) / c.word_stride + 1,
              m = w * w;  // conv_out
  const Count k2 = Count(c.word_kernel) * c.word_kernel;
  const bool with_pixel_pos = c.tnt_pos == TntPos::inner || c.tnt_pos == TntPos::both;
  const bool with_patch_pos = c.tnt_pos == TntPos::outer || c.tnt_pos == TntPos::both;
  const Count hidden = scaled(d, c.mlp_ratio), inner_hidden = scaled(ci, c.inner_mlp_ratio);
  CostRow embed{"pixel_embed+patch_embed", {(n + 1).v, d.v}, 0, 0};
  embed.params = (c.in_chans * k2 * ci + ci + (with_pixel_pos ? ci * m : 0)            // pixel_embed
                  + ln_params(m * ci) + linear_params(m * ci, d, true) + ln_params(d)  // patch proj
                  + d + (with_patch_pos ? (n + 1) * d : 0))                            // cls, patch_pos
                     .v;
  embed.macs = (n * (m * c.in_chans * k2 * ci + m * ci * d)).v;
  rows.push_back(embed);
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string name = "blocks." + std::to_string(i);
    CostRow inner = transformer_block_cost(name + ".inner", m, ci, inner_hidden, c.qkv_bias);
    CostRow outer = transformer_block_cost(name, n + 1, d, hidden, c.qkv_bias);
    CostRow r{name, {(n + 1).v, d.v}, 0, 0};
    r.params = (Count(inner.params) + outer.params + ln_params(m * ci) + linear_params(m * ci, d, false) +
                ln_params(d))
                   .v;
    r.macs = (n * inner.macs + outer.macs + n * m * ci * d).v;
    rows.push_back(r);
  }
  rows.push_back({"norm+head",
                  {c.num_classes},
                  (ln_params(d) + linear_params(d, c.num_classes, true)).v,
                  (d * c.num_classes).v});
  return rows;
}

}  // namespace

FamilyInfo tnt_family() {
  return {.id = Family::tnt,
          .make = make_tnt,
          .presets = tnt_presets,
          .cost_table = tnt_cost_table,
          .fields = {"patch_size", "embed_dim", "depth", "num_heads", "qkv_bias", "ln_eps", "mlp_ratio",
                     "inner_dim", "inner_heads", "inner_mlp_ratio", "word_kernel", "word_stride",
                     "word_padding", "tnt_pos"},
          .headline = {"tnt_pos"}};
}

}  // namespace vb
