// Analytic layer tables per family (see cost.hpp). Shapes follow the same arithmetic as the models.
#include "models/cost.hpp"

#include <cmath>

namespace vb {

namespace {

int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t p) { return (in + 2 * p - k) / s + 1; }
int64_t linear_params(int64_t in, int64_t out, bool bias) { return in * out + (bias ? out : 0); }
int64_t ln_params(int64_t d) { return 2 * d; }

// A pre-norm transformer block on `n` tokens of width `d`; qkv: 3 (fused) projections of d, with or without bias.
CostRow transformer_block(const std::string& name, int64_t n, int64_t d, int64_t hidden, bool qkv_bias) {
  CostRow r{name, {n, d}, 0, 0};
  r.params = 2 * ln_params(d) + linear_params(d, 3 * d, false) + (qkv_bias ? 3 * d : 0) +
             linear_params(d, d, true) + linear_params(d, hidden, true) + linear_params(hidden, d, true);
  r.macs = n * d * 3 * d      // q, k, v
           + 2 * n * n * d    // QK^T and PV over all heads
           + n * d * d        // proj
           + 2 * n * d * hidden;  // fc1, fc2
  return r;
}

std::vector<CostRow> resnet_table(const ModelConfig& c) {
  std::vector<CostRow> rows;
  int64_t h = c.img_size, ch = c.in_chans;
  const int64_t w0 = c.base_width;
  if (c.stem == Stem::imagenet) {
    const int64_t ho = conv_out(h, 7, 2, 3);
    rows.push_back({"conv1+bn1", {w0, ho, ho}, 7 * 7 * ch * w0 + 2 * w0, 7 * 7 * ch * w0 * ho * ho});
    h = conv_out(ho, 3, 2, 1);
    rows.push_back({"maxpool", {w0, h, h}, 0, 0});
  } else {
    rows.push_back({"conv1+bn1", {w0, h, h}, 3 * 3 * ch * w0 + 2 * w0, 3 * 3 * ch * w0 * h * h});
  }
  ch = w0;
  for (int s = 0; s < 4; ++s) {
    const int64_t width = w0 << s, out = 4 * width;
    for (int64_t b = 0; b < c.layers[s]; ++b) {
      const int64_t stride = (s > 0 && b == 0) ? 2 : 1;
      const int64_t ho = conv_out(h, 3, stride, 1);
      CostRow r{"layer" + std::to_string(s + 1) + "." + std::to_string(b), {out, ho, ho}, 0, 0};
      r.params = ch * width + 2 * width + 9 * width * width + 2 * width + width * out + 2 * out;
      r.macs = ch * width * h * h + 9 * width * width * ho * ho + width * out * ho * ho;
      if (stride != 1 || ch != out) {
        r.params += ch * out + 2 * out;
        r.macs += ch * out * ho * ho;
      }
      rows.push_back(r);
      h = ho, ch = out;
    }
  }
  rows.push_back({"fc", {c.num_classes}, linear_params(ch, c.num_classes, true), ch * c.num_classes});
  return rows;
}

std::vector<CostRow> vit_table(const ModelConfig& c) {
  std::vector<CostRow> rows;
  const int64_t g = c.img_size / c.patch_size, n = g * g, d = c.embed_dim, p = c.patch_size;
  int64_t pos = 0;
  if (c.pos_embed == PosEmbed::learned_1d) pos = (n + 1) * d;
  if (c.pos_embed == PosEmbed::learned_2d) pos = g * d / 2 * 2 + d;
  rows.push_back({"patch_embed+cls+pos", {n + 1, d}, c.in_chans * p * p * d + d + d + pos, n * c.in_chans * p * p * d});
  for (int64_t i = 0; i < c.depth; ++i)
    rows.push_back(transformer_block("blocks." + std::to_string(i), n + 1, d, c.mlp_dim, c.qkv_bias));
  rows.push_back({"norm+head", {c.num_classes}, ln_params(d) + linear_params(d, c.num_classes, true), d * c.num_classes});
  return rows;
}

std::vector<CostRow> tnt_table(const ModelConfig& c) {
  std::vector<CostRow> rows;
  const int64_t g = c.img_size / c.patch_size, n = g * g, d = c.embed_dim, ci = c.inner_dim, p = c.patch_size;
  const int64_t w = conv_out(p, c.word_kernel, c.word_stride, c.word_padding), m = w * w;
  const bool inner_pos = c.tnt_pos == TntPos::inner || c.tnt_pos == TntPos::both;
  const bool outer_pos = c.tnt_pos == TntPos::outer || c.tnt_pos == TntPos::both;
  const int64_t hidden = static_cast<int64_t>(d * c.mlp_ratio), inner_hidden = static_cast<int64_t>(ci * c.inner_mlp_ratio);
  CostRow embed{"pixel_embed+patch_embed", {n + 1, d}, 0, 0};
  embed.params = c.in_chans * c.word_kernel * c.word_kernel * ci + ci + (inner_pos ? ci * m : 0)  // pixel_embed
                 + ln_params(m * ci) + linear_params(m * ci, d, true) + ln_params(d)                // patch proj
                 + d + (outer_pos ? (n + 1) * d : 0);                                               // cls, patch_pos
  embed.macs = n * (m * c.in_chans * c.word_kernel * c.word_kernel * ci + m * ci * d);
  rows.push_back(embed);
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string name = "blocks." + std::to_string(i);
    CostRow inner = transformer_block(name + ".inner", m, ci, inner_hidden, c.qkv_bias);
    CostRow outer = transformer_block(name, n + 1, d, hidden, c.qkv_bias);
    CostRow r{name, {n + 1, d}, 0, 0};
    r.params = inner.params + outer.params + ln_params(m * ci) + linear_params(m * ci, d, false) + ln_params(d);
    r.macs = n * inner.macs + outer.macs + n * m * ci * d;
    rows.push_back(r);
  }
  rows.push_back({"norm+head", {c.num_classes}, ln_params(d) + linear_params(d, c.num_classes, true), d * c.num_classes});
  return rows;
}

}  // namespace

std::vector<CostRow> cost_table(const ModelConfig& cfg) {
  switch (cfg.family) {
    case Family::resnet: return resnet_table(cfg);
    case Family::vit: return vit_table(cfg);
    case Family::tnt: return tnt_table(cfg);
  }
  return {};
}

int64_t total_params(const std::vector<CostRow>& rows) {
  int64_t n = 0;
  for (const auto& r : rows) n += r.params;
  return n;
}

int64_t total_macs(const std::vector<CostRow>& rows) {
  int64_t n = 0;
  for (const auto& r : rows) n += r.macs;
  return n;
}

}  // namespace vb
