// Vision Transformer as timm's `VisionTransformer` (REFERENCE.md; twin of tests/parity/torch_models.py):
// patch conv -> tokens -> cls token prepended -> position table added (none, learned 1-D, learned 2-D,
// fixed sin-cos 2-D) -> depth pre-norm blocks -> final LayerNorm -> the cls token -> linear head.
#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <vector>

#include "models/blocks/transformer_block.hpp"
#include "models/families/families.hpp"
#include "models/init.hpp"
#include "models/layers/cls_token.hpp"
#include "models/layers/conv2d.hpp"
#include "models/layers/flatten_tokens.hpp"
#include "models/layers/layernorm.hpp"
#include "models/layers/linear.hpp"
#include "models/layers/pos_embed.hpp"
#include "models/layers/pos_embed_2d.hpp"
#include "models/layers/token_select.hpp"

namespace vb {

namespace {

// Refuses configs that cannot work, naming the field (the constructor runs this before building layers).
void check_config(const ModelConfig& c) {
  auto need = [&](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(fmt::format("{}: {}", c.name, what));
  };
  need(c.family == Family::vit, fmt::format("family is {}, expected vit", to_string(c.family)));
  need(c.img_size > 0 && c.in_chans > 0 && c.num_classes > 0,
       "img_size, in_chans and num_classes must be positive");
  need(c.patch_size > 0 && c.img_size % c.patch_size == 0,
       fmt::format("img_size {} is not divisible by patch_size {}", c.img_size, c.patch_size));
  need(c.embed_dim > 0 && c.num_heads > 0 && c.embed_dim % c.num_heads == 0,
       fmt::format("embed_dim {} is not divisible by num_heads {}", c.embed_dim, c.num_heads));
  need(c.depth > 0 && c.mlp_dim > 0,
       fmt::format("depth {} and mlp_dim {} must be positive", c.depth, c.mlp_dim));
  need(c.pos_embed != PosEmbed::learned_2d || c.embed_dim % 2 == 0,
       fmt::format("pos_embed learned_2d needs an even embed_dim, given {}", c.embed_dim));
  need(c.pos_embed != PosEmbed::sincos_2d || c.embed_dim % 4 == 0,
       fmt::format("pos_embed sincos_2d needs embed_dim % 4 == 0, given {}", c.embed_dim));
  need(c.drop_path >= 0 && c.drop_path < 1,
       fmt::format("drop_path must be in [0, 1), given {}", c.drop_path));
}

// timm's lecun_normal_ (variance_scaling_, fan_in, truncated normal) for a weight of `shape`: a normal cut at
// +-2 std, widened by 1/0.8796 so that the result has std 1/sqrt(fan_in).
Init lecun_normal(const Dims& shape) {
  const double std = 1.0 / std::sqrt(static_cast<double>(init::fan_in(shape))) / 0.87962566103423978;
  return Init::trunc_normal(std, -2 * std, 2 * std);
}

class VisionTransformer : public Model {
 public:
  explicit VisionTransformer(const ModelConfig& cfg) : Model(cfg) {
    check_config(cfg_);
    const int64_t D = cfg_.embed_dim, G = cfg_.img_size / cfg_.patch_size;
    grid_ = G;
    // timm's start: the patch embedding as a linear layer (lecun-normal), zero bias; every other parameter as
    // its layer declares it (timm's trunc-normal 0.02 for Linear weights, cls token and position tables).
    const int64_t C = cfg_.in_chans, P = cfg_.patch_size;
    patch_proj_ =
        std::make_unique<Conv2d>("patch_embed.proj", Conv2d::Config{.in_channels = C,
                                                                    .out_channels = D,
                                                                    .kernel = P,
                                                                    .stride = P,
                                                                    .bias = true,
                                                                    .dtype = cfg_.dtype,
                                                                    .weight_init = lecun_normal({D, C, P, P}),
                                                                    .bias_init = Init::constant(0.0)});
    flatten_ = std::make_unique<FlattenTokens>("patch_embed.flatten");
    cls_ = std::make_unique<ClsToken>("cls_token", ClsToken::Config{D});
    switch (cfg_.pos_embed) {
      case PosEmbed::none:
        break;
      case PosEmbed::learned_1d:
        pos_ = std::make_unique<LearnedPosEmbed>("pos_embed",
                                                 LearnedPosEmbed::Config{{1, G * G + 1, D}, "pos_embed"});
        break;
      case PosEmbed::learned_2d:
        pos_ = std::make_unique<PosEmbed2d>("pos_embed_2d",
                                            PosEmbed2d::Config{G, G, D, PosEmbed2d::Kind::learned});
        break;
      case PosEmbed::sincos_2d:
        pos_ = std::make_unique<PosEmbed2d>("pos_embed_2d",
                                            PosEmbed2d::Config{G, G, D, PosEmbed2d::Kind::sincos});
        break;
    }
    for (int64_t i = 0; i < cfg_.depth; ++i) {
      TransformerBlock::Config b;
      b.dim = D, b.heads = cfg_.num_heads, b.qkv_bias = cfg_.qkv_bias, b.qkv = QkvLayout::fused;
      b.mlp_hidden = cfg_.mlp_dim, b.ln_eps = cfg_.ln_eps, b.dtype = cfg_.dtype;
      // Stochastic depth as timm: dpr = linspace(0, drop_path, depth).
      b.drop_path = cfg_.depth > 1 ? static_cast<float>(cfg_.drop_path * i / (cfg_.depth - 1)) : 0.f;
      const std::string name = fmt::format("blocks.{}", i);
      b.seed = init::key_seed(0, name + ".drop_path");  // as init(0); parameters stay as the layers made them
      blocks_.push_back(std::make_unique<TransformerBlock>(name, b));
    }
    norm_ = std::make_unique<LayerNorm>("norm", LayerNorm::Config{D, cfg_.ln_eps});
    select_ = std::make_unique<TokenSelect>("head_select", TokenSelect::Config{0});
    head_ = std::make_unique<Linear>("head", Linear::timm_init({D, cfg_.num_classes, true, cfg_.dtype}));
    taps_.resize(cfg_.depth + 1);
  }

  const Tensor& forward(const Tensor& images, Mode mode) override {
    check_images(images);
    // images is (B, C, H, W)
    const Tensor& maps = patch_proj_->forward(images, mode);  // (B, D, G, G), oneDNN's layout
    const Tensor& patches = flatten_->forward(maps, mode);    // (B, N, D), N = G*G
    const Tensor* x = &cls_->forward(patches, mode);          // (B, N+1, D)
    if (pos_) x = &pos_->forward(*x, mode);                   // (B, N+1, D)
    taps_[0] = *x;
    for (size_t i = 0; i < blocks_.size(); ++i) {
      x = &blocks_[i]->forward(*x, mode);  // (B, N+1, D)
      taps_[i + 1] = *x;
    }
    const Tensor& normed = norm_->forward(*x, mode);     // (B, N+1, D)
    const Tensor& cls = select_->forward(normed, mode);  // (B, D)
    return head_->forward(cls, mode);                    // (B, num_classes)
  }

  const Tensor& backward(const Tensor& diff_logits) override {
    // diff_logits is (B, num_classes)
    const Tensor& d_cls = head_->backward(diff_logits);  // (B, D)
    const Tensor& d_normed = select_->backward(d_cls);   // (B, N+1, D)
    const Tensor& d_x = norm_->backward(d_normed);       // (B, N+1, D)
    return backward_below(blocks_.size(), d_x);
  }

  std::vector<StateEntry> state() override {
    std::vector<StateEntry> s;
    // timm's order: the root's own parameters (cls token, position tables) first, then the submodules.
    append_state(s, "", *cls_);
    if (pos_)
      append_state(s, "", *pos_);  // pos_embed, or pos_embed_x, pos_embed_y, pos_embed_cls (sincos: none)
    append_state(s, "patch_embed.proj", *patch_proj_);
    for (auto& b : blocks_) append_state(s, b->name(), *b);
    append_state(s, "norm", *norm_);
    append_state(s, "head", *head_);
    return s;
  }

  std::vector<std::string> taps() const override {
    std::vector<std::string> names{"patch_embed"};
    for (auto& b : blocks_) names.push_back(b->name());
    return names;
  }

  const Tensor& tap(size_t i) const override {
    check_tap(i);
    return taps_[i];
  }

  const Tensor& backward_from(size_t i, const Tensor& diff_tap) override {
    check_tap(i);
    if (taps_[i].empty()) throw std::logic_error(cfg_.name + ": backward_from needs a forward first");
    if (diff_tap.shape() != taps_[i].shape())
      throw std::invalid_argument(fmt::format("{}: diff of tap {} has shape {}, expected {}", cfg_.name,
                                              taps()[i], to_string(diff_tap.shape()),
                                              to_string(taps_[i].shape())));
    return backward_below(i, diff_tap);
  }

  std::vector<std::pair<std::string, const Tensor*>> attention_probs() const override {
    std::vector<std::pair<std::string, const Tensor*>> out;
    for (auto& b : blocks_) out.emplace_back(b->attn().name(), &b->attn().probs());
    return out;
  }

  // The patch conv (kernel = stride = P); every block's attention reaches every patch.
  rf::TapInfo tap_info() const override {
    rf::TapInfo r;
    const int64_t P = cfg_.patch_size, G = cfg_.img_size / P;
    const rf::Field patch = rf::through(rf::image_field(cfg_.img_size), {.kernel = P, .stride = P});
    r.layers.push_back({"patch_embed.proj", "embed", {.kernel = P, .stride = P}, patch});
    r.taps.push_back(rf::tap_at_centre("patch_embed", rf::TapLayout::tokens_with_cls, patch));
    rf::Field all = patch;
    all.size = cfg_.img_size;
    for (int64_t i = 0; i < cfg_.depth; ++i) {
      const std::string name = fmt::format("blocks.{}", i);
      r.layers.push_back({name + ".attn", "attention", {.kernel = 0}, all});
      r.taps.push_back({name, rf::TapLayout::tokens_with_cls, all, true, patch.centre(patch.extent / 2)});
      r.attention.push_back({name + ".attn", G, static_cast<double>(P), 1, false});
    }
    return r;
  }

  // The learned tables on the G x G patch grid: pos_embed with the cls row first; pos_embed_x / pos_embed_y
  // one axis each (pos_embed_cls is one row and never resampled); sincos tables are not parameters.
  std::vector<PosTable> pos_tables() const override {
    switch (cfg_.pos_embed) {
      case PosEmbed::learned_1d:
        return {{.key = "pos_embed", .prefix = 1, .grid_h = grid_, .grid_w = grid_}};
      case PosEmbed::learned_2d:
        return {{.key = "pos_embed_x", .grid_h = 1, .grid_w = grid_},
                {.key = "pos_embed_y", .grid_h = 1, .grid_w = grid_}};
      case PosEmbed::none:
      case PosEmbed::sincos_2d:
        break;
    }
    return {};
  }

  void init(uint64_t seed) override {
    init::apply(state(), seed);  // as each layer declared at construction
    for (auto& b : blocks_) b->reseed(init::key_seed(seed, b->name() + ".drop_path"));
  }

  void set_random_step(int64_t step) override {
    for (auto& b : blocks_) b->set_random_step(step);
  }

 private:
  void check_images(const Tensor& images) const {
    const Dims expected{images.shape().empty() ? 0 : images.dim(0), cfg_.in_chans, cfg_.img_size,
                        cfg_.img_size};
    if (images.empty() || images.shape().size() != 4 || images.shape() != expected || images.dim(0) < 1)
      throw std::invalid_argument(fmt::format(
          "{}: images have shape {}, expected (B, {}, {}, {}) (position tables are fixed to a {}x{} grid)",
          cfg_.name, images.empty() ? "[]" : to_string(images.shape()), cfg_.in_chans, cfg_.img_size,
          cfg_.img_size, grid_, grid_));
    if (images.dtype() != DType::f32) throw std::invalid_argument(cfg_.name + ": images must be f32");
  }

  void check_tap(size_t i) const {
    if (i >= taps_.size())
      throw std::invalid_argument(
          fmt::format("{}: tap {} out of range (the model has {})", cfg_.name, i, taps_.size()));
  }

  // From the gradient of tap i ((B, N+1, D): the input of block i) down to the images.
  const Tensor& backward_below(size_t i, const Tensor& diff_tap) {
    const Tensor* d = &diff_tap;                                 // (B, N+1, D)
    for (size_t j = i; j-- > 0;) d = &blocks_[j]->backward(*d);  // (B, N+1, D)
    if (pos_) d = &pos_->backward(*d);                           // (B, N+1, D)
    const Tensor& d_patches = cls_->backward(*d);                // (B, N, D)
    const Tensor& d_maps = flatten_->backward(d_patches);        // (B, D, G, G)
    return patch_proj_->backward(d_maps);                        // (B, C, H, W)
  }

  int64_t grid_ = 0;
  std::unique_ptr<Conv2d> patch_proj_;
  std::unique_ptr<FlattenTokens> flatten_;
  std::unique_ptr<ClsToken> cls_;
  std::unique_ptr<Layer> pos_;  // LearnedPosEmbed (learned_1d), PosEmbed2d (learned_2d, sincos_2d) or none
  std::vector<std::unique_ptr<TransformerBlock>> blocks_;
  std::unique_ptr<LayerNorm> norm_;
  std::unique_ptr<TokenSelect> select_;
  std::unique_ptr<Linear> head_;
  std::vector<Tensor> taps_;  // "patch_embed", "blocks.0", ...: (B, N+1, D) of the last forward
};

}  // namespace

std::unique_ptr<Model> make_vit(const ModelConfig& cfg) {
  return std::make_unique<VisionTransformer>(cfg);
}

}  // namespace vb
