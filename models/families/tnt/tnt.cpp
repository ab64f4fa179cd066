// TNT (Transformer in Transformer, timm non-legacy = the official code): each P x P patch is cut into m = w*w
// "words" of c channels by a conv applied to the patch alone; an inner transformer runs on the words of every
// patch, and after it each block adds LN(Linear(LN(flatten(words)))) into the patch tokens, which an outer
// transformer then processes. Matches TNT in tests/parity/torch_models.py (order of ops, eps, biases).
#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <vector>

#include "models/blocks/transformer_block.hpp"
#include "models/core/geometry.hpp"
#include "models/core/input_reorder.hpp"
#include "models/core/tensor.hpp"
#include "models/families/families.hpp"
#include "models/init.hpp"
#include "models/layers/add.hpp"
#include "models/layers/cls_token.hpp"
#include "models/layers/conv2d.hpp"
#include "models/layers/flatten_tokens.hpp"
#include "models/layers/layernorm.hpp"
#include "models/layers/linear.hpp"
#include "models/layers/patch_unfold.hpp"
#include "models/layers/pos_embed.hpp"
#include "models/layers/token_add.hpp"
#include "models/layers/token_select.hpp"

namespace vb {

namespace {

// The `shape` view of plain tensor t's buffer, kept in `cache` and re-made only when the buffer or the shape
// changes (so the hot path allocates nothing).
const Tensor& view(Tensor& cache, const Tensor& t, const Dims& shape) {
  if (cache.empty() || cache.shape() != shape || cache.mem().get_data_handle() != t.mem().get_data_handle())
    cache = t.reshaped(shape);
  return cache;
}

// Stochastic-depth stream of block i's inner or outer transformer (TransformerBlock uses it and it + 1).
uint64_t drop_seed(uint64_t seed, int64_t i, bool inner) {
  return init::key_seed(seed, fmt::format("blocks.{}.{}.drop_path", i, inner ? "inner" : "outer"));
}

// timm's `dpr = linspace(0, drop_path, depth)`.
float drop_rate(const ModelConfig& cfg, int64_t i) {
  return cfg.depth < 2 ? 0.f : static_cast<float>(cfg.drop_path * static_cast<double>(i) / (cfg.depth - 1));
}

// Block i on TNT's two streams: inner transformer on the words (B*N, m, c); patch tokens 1..N +=
// norm2_proj(proj(norm1_proj(words viewed (B, N, m*c)))); outer transformer on the patch tokens (B, N+1, d).
// Shaped like the other blocks (Bottleneck, TransformerBlock: forward, backward and state side by side), with
// two inputs and two outputs instead of one, as Add and TokenAdd have their own signatures.
class TntBlock {
 public:
  // The two streams: words (B*N, m, c) and patch tokens (B, N+1, d); in backward their gradients, where null
  // means "not reached" (a backward from a tap below the loss).
  struct Streams {
    const Tensor* words = nullptr;
    const Tensor* patches = nullptr;
  };

  TntBlock(const ModelConfig& cfg, int64_t i, int64_t words)
      : name_(fmt::format("blocks.{}", i)),
        m_(words),
        c_(cfg.inner_dim),
        token_add(fmt::format("blocks.{}.token_add", i), {cfg.embed_dim}),
        words_grad_sum(fmt::format("blocks.{}.words_grad_sum", i)) {
    const std::string& name = name_;
    const int64_t c = cfg.inner_dim, d = cfg.embed_dim;
    const float eps = cfg.ln_eps, p = drop_rate(cfg, i);
    // Both transformers: pre-norm, separate qk and v projections (no bias unless qkv_bias), LayerNorm eps.
    auto block = [&](int64_t dim, int64_t heads, double mlp_ratio, bool is_inner) {
      TransformerBlock::Names names{"norm_out", "attn_out", "norm_mlp", "mlp"};
      if (is_inner) names = {"norm_in", "attn_in", "norm_mlp_in", "mlp_in"};
      return std::make_unique<TransformerBlock>(
          name, TransformerBlock::Config{.dim = dim,
                                         .heads = heads,
                                         .qkv_bias = cfg.qkv_bias,
                                         .qkv = QkvLayout::separate_qk_v,
                                         .mlp_hidden = static_cast<int64_t>(dim * mlp_ratio),
                                         .ln_eps = eps,
                                         .drop_path = p,
                                         .seed = drop_seed(0, i, is_inner),
                                         .dtype = cfg.dtype,
                                         .names = names});
    };
    inner = block(c, cfg.inner_heads, cfg.inner_mlp_ratio, true);
    norm1_proj = std::make_unique<LayerNorm>(name + ".norm1_proj", LayerNorm::Config{words * c, eps});
    proj = std::make_unique<Linear>(name + ".proj", Linear::timm_init({words * c, d, false, cfg.dtype}));
    norm2_proj = std::make_unique<LayerNorm>(name + ".norm2_proj", LayerNorm::Config{d, eps});
    outer = block(d, cfg.num_heads, cfg.mlp_ratio, false);
  }

  const std::string& name() const { return name_; }

  // src: words (B*N, m, c), patch tokens (B, N+1, d) -> dst: the same shapes, owned by the block's layers.
  Streams forward(Streams src, Mode mode) {
    const Tensor& patches = *src.patches;
    const int64_t B = patches.dim(0), N = patches.dim(1) - 1;
    const Tensor& words = inner->forward(*src.words, mode);             // (B*N, m, c)
    const Tensor& wf = view(words_flat, words, {B, N, m_ * c_});        // (B, N, m*c)
    const Tensor& p0 = norm1_proj->forward(wf, mode);                   // (B, N, m*c)
    const Tensor& p1 = proj->forward(p0, mode);                         // (B, N, d)
    const Tensor& p2 = norm2_proj->forward(p1, mode);                   // (B, N, d)
    const Tensor& added = token_add.forward(patches, p2);               // (B, N+1, d)
    return {.words = &words, .patches = &outer->forward(added, mode)};  // (B*N, m, c), (B, N+1, d)
  }

  // diff_dst: gradients of the two outputs -> diff_src: gradients of the two inputs (patches null when
  // diff_dst's was). Writes every parameter's grad reached.
  Streams backward(Streams diff_dst) {
    const Tensor* d_words = diff_dst.words;      // (B*N, m, c) or null
    const Tensor* d_patches = diff_dst.patches;  // (B, N+1, d) or null
    if (d_patches) {
      const int64_t B = d_patches->dim(0), N = d_patches->dim(1) - 1;
      const Tensor& d_added = outer->backward(*d_patches);                   // (B, N+1, d)
      const Tensor& d_p2 = token_add.backward(d_added);                      // (B, N, d)
      d_patches = &token_add.diff_tokens();                                  // (B, N+1, d)
      const Tensor& d_p1 = norm2_proj->backward(d_p2);                       // (B, N, d)
      const Tensor& d_p0 = proj->backward(d_p1);                             // (B, N, m*c)
      const Tensor& d_wf = norm1_proj->backward(d_p0);                       // (B, N, m*c)
      const Tensor& d_branch = view(d_words_branch, d_wf, {B * N, m_, c_});  // (B*N, m, c)
      d_words = d_words ? &words_grad_sum.forward(*d_words, d_branch) : &d_branch;
    }
    return {.words = &inner->backward(*d_words), .patches = d_patches};  // (B*N, m, c), (B, N+1, d) or null
  }

  // Keys relative to the block, timm's order: the inner transformer's, norm1_proj, proj, norm2_proj, the
  // outer's.
  std::vector<StateEntry> state() {
    std::vector<StateEntry> s;
    append_state(s, "", *inner);
    append_state(s, "norm1_proj", *norm1_proj);
    append_state(s, "proj", *proj);
    append_state(s, "norm2_proj", *norm2_proj);
    append_state(s, "", *outer);
    return s;
  }

 private:
  std::string name_;
  int64_t m_, c_;  // words per patch, inner dim

 public:  // the sub-layers, in forward order (the model reseeds and reads them)
  std::unique_ptr<TransformerBlock> inner;  // norm_in, attn_in, norm_mlp_in, mlp_in
  std::unique_ptr<LayerNorm> norm1_proj;    // over m*c
  std::unique_ptr<Linear> proj;             // m*c -> d, no bias
  std::unique_ptr<LayerNorm> norm2_proj;    // over d
  TokenAdd token_add;                       // patch tokens 1..N += the projected words
  std::unique_ptr<TransformerBlock> outer;  // norm_out, attn_out, norm_mlp, mlp
  Add words_grad_sum;  // backward: words' gradient from the next inner block + from the projection branch
  Tensor words_flat, d_words_branch;  // views: (B, N, m*c) of the words, (B*N, m, c) of the branch's gradient
};

class Tnt : public Model {
 public:
  explicit Tnt(const ModelConfig& cfg);

  const Tensor& forward(const Tensor& images, Mode mode) override;
  const Tensor& backward(const Tensor& diff_logits) override;
  std::vector<StateEntry> state() override;
  std::vector<std::string> taps() const override;
  const Tensor& tap(size_t i) const override;
  const Tensor& backward_from(size_t i, const Tensor& diff_tap) override;
  std::vector<std::pair<std::string, const Tensor*>> attention_probs() const override;
  rf::TapInfo tap_info() const override;
  // patch_pos (1, N+1, d): the cls row, then the patch grid; pixel_pos (1, c, w, w): the word grid of a
  // patch.
  std::vector<PosTable> pos_tables() const override;
  void init(uint64_t seed) override;
  void set_random_step(int64_t step) override;

 private:
  // Backward from the gradients of block `top`'s outputs (patch tokens and/or words; null = not reached)
  // down through the blocks and the embeddings; returns diff_images.
  const Tensor& backward_blocks(int64_t top, const Tensor* d_patches, const Tensor* d_words);
  // Backward through the patch and pixel embeddings from the gradients of the tokens entering block 0.
  const Tensor& backward_embed(const Tensor* d_patches, const Tensor* d_words);
  // The word conv's dst (B*N, c, w, w) in plain layout (a reorder when oneDNN chose a blocked one).
  const Tensor& plain_conv(const Tensor& conv);

  int64_t grid_ = 0, N_ = 0, w_ = 0, m_ = 0;  // patches per side, patches, words per side, words per patch
  int64_t batch_ = 0;                         // B of the last forward
  bool saved_ = false;                        // the last forward was in train mode

  // Pixel (word) embedding.
  std::unique_ptr<PatchUnfold> unfold_;     // (B, C, H, W) -> (B, N, C*P*P)
  std::unique_ptr<Conv2d> pixel_proj_;      // pixel_embed.proj: (B*N, C, P, P) -> (B*N, c, w, w)
  std::unique_ptr<Layer> pixel_pos_;        // LearnedPosEmbed (1, c, w, w), tnt_pos inner/both
  std::unique_ptr<FlattenTokens> flatten_;  // (B*N, c, w, w) -> (B*N, m, c)
  // Patch embedding.
  std::unique_ptr<LayerNorm> norm1_proj_;             // over m*c
  std::unique_ptr<Linear> proj_;                      // m*c -> d, with bias
  std::unique_ptr<LayerNorm> norm2_proj_;             // over d
  std::unique_ptr<ClsToken> cls_token_;               // (B, N, d) -> (B, N+1, d)
  std::unique_ptr<Layer> patch_pos_;                  // LearnedPosEmbed (1, N+1, d), tnt_pos outer/both
  Add words_grad_sum_{"pixel_embed.words_grad_sum"};  // backward: words' gradient from block 0 + from proj
  // Blocks and head.
  std::vector<std::unique_ptr<TntBlock>> blocks_;
  std::unique_ptr<LayerNorm> norm_;
  std::unique_ptr<TokenSelect> select_;  // (B, N+1, d) -> (B, d), the cls token
  std::unique_ptr<Linear> head_;         // d -> classes

  // The word conv's dst in its blocked layout -> plain for pixel_pos: oneDNN 2.6 has only its reference
  // binary for a blocked src with a plain broadcast table (27 ms per 2 images), the plain one is jit.
  InputReorder conv_to_plain_;         // -> (B*N, c, w, w) plain, rebuilt when B changes
  Tensor conv_plain_;                  // conv itself or its plain copy
  Tensor pixels_, words_flat_;         // views (B*N, C, P, P) and (B, N, m*c)
  Tensor d_words_branch_, d_patches_;  // views (B*N, m, c) and (B, N, C*P*P)
  std::vector<const Tensor*> taps_;    // patch_embed, blocks.0.inner, blocks.0, blocks.1.inner, ...
};

Tnt::Tnt(const ModelConfig& cfg) : Model(cfg) {
  const std::string& n = cfg_.name;
  auto need = [&](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(fmt::format("{}: {}", n, what));
  };
  need(cfg_.img_size > 0 && cfg_.in_chans > 0 && cfg_.num_classes > 0,
       fmt::format("img_size {}, in_chans {} and num_classes {} must be positive", cfg_.img_size,
                   cfg_.in_chans, cfg_.num_classes));
  need(cfg_.patch_size > 0 && cfg_.img_size % cfg_.patch_size == 0,
       fmt::format("img_size {} is not divisible by patch_size {}", cfg_.img_size, cfg_.patch_size));
  need(cfg_.depth > 0, fmt::format("depth must be positive, given {}", cfg_.depth));
  need(cfg_.embed_dim > 0 && cfg_.num_heads > 0 && cfg_.embed_dim % cfg_.num_heads == 0,
       fmt::format("embed_dim {} is not divisible by num_heads {}", cfg_.embed_dim, cfg_.num_heads));
  need(cfg_.inner_dim > 0 && cfg_.inner_heads > 0 && cfg_.inner_dim % cfg_.inner_heads == 0,
       fmt::format("inner_dim {} is not divisible by inner_heads {}", cfg_.inner_dim, cfg_.inner_heads));
  need(static_cast<int64_t>(cfg_.embed_dim * cfg_.mlp_ratio) > 0,
       fmt::format("mlp_ratio {} leaves no hidden units", cfg_.mlp_ratio));
  need(static_cast<int64_t>(cfg_.inner_dim * cfg_.inner_mlp_ratio) > 0,
       fmt::format("inner_mlp_ratio {} leaves no hidden units", cfg_.inner_mlp_ratio));
  need(cfg_.word_kernel > 0 && cfg_.word_stride > 0 && cfg_.word_padding >= 0 &&
           cfg_.patch_size + 2 * cfg_.word_padding >= cfg_.word_kernel,
       fmt::format("word_kernel {} (stride {}, padding {}) does not fit a patch of {}", cfg_.word_kernel,
                   cfg_.word_stride, cfg_.word_padding, cfg_.patch_size));
  need(cfg_.drop_path >= 0 && cfg_.drop_path < 1,
       fmt::format("drop_path {} is not in [0, 1)", cfg_.drop_path));

  const int64_t C = cfg_.in_chans, P = cfg_.patch_size, c = cfg_.inner_dim, d = cfg_.embed_dim;
  const float eps = cfg_.ln_eps;
  grid_ = cfg_.img_size / P;
  N_ = grid_ * grid_;
  w_ = conv_out(P, cfg_.word_kernel, cfg_.word_stride, cfg_.word_padding);
  m_ = w_ * w_;
  // tnt_pos names where a table is added: inner (the words) -> pixel_pos, outer (the patch tokens) ->
  // patch_pos.
  const bool with_pixel_pos = cfg_.tnt_pos == TntPos::inner || cfg_.tnt_pos == TntPos::both;
  const bool with_patch_pos = cfg_.tnt_pos == TntPos::outer || cfg_.tnt_pos == TntPos::both;

  unfold_ = std::make_unique<PatchUnfold>("pixel_embed.unfold", PatchUnfold::Config{P});
  // timm's start: the word conv as a linear layer, normal with std 1/sqrt(fan_in), zero bias; every other
  // parameter as its layer declares it (timm's trunc-normal 0.02 for Linear weights, cls_token and the
  // position tables; zero biases; LayerNorm 1 / 0).
  const int64_t K = cfg_.word_kernel;
  pixel_proj_ = std::make_unique<Conv2d>(
      "pixel_embed.proj",
      Conv2d::Config{
          .in_channels = C,
          .out_channels = c,
          .kernel = K,
          .stride = cfg_.word_stride,
          .padding = cfg_.word_padding,
          .bias = true,
          .dtype = cfg_.dtype,
          .weight_init = Init::normal(1.0 / std::sqrt(static_cast<double>(init::fan_in({c, C, K, K})))),
          .bias_init = Init::constant(0.0)});
  if (with_pixel_pos)
    pixel_pos_ =
        std::make_unique<LearnedPosEmbed>("pixel_pos", LearnedPosEmbed::Config{{1, c, w_, w_}, "pixel_pos"});
  flatten_ = std::make_unique<FlattenTokens>("pixel_embed.flatten");
  norm1_proj_ = std::make_unique<LayerNorm>("norm1_proj", LayerNorm::Config{m_ * c, eps});
  proj_ = std::make_unique<Linear>("proj", Linear::timm_init({m_ * c, d, true, cfg_.dtype}));
  norm2_proj_ = std::make_unique<LayerNorm>("norm2_proj", LayerNorm::Config{d, eps});
  cls_token_ = std::make_unique<ClsToken>("cls_token", ClsToken::Config{d});
  if (with_patch_pos)
    patch_pos_ =
        std::make_unique<LearnedPosEmbed>("patch_pos", LearnedPosEmbed::Config{{1, N_ + 1, d}, "patch_pos"});
  for (int64_t i = 0; i < cfg_.depth; ++i) blocks_.push_back(std::make_unique<TntBlock>(cfg_, i, m_));
  norm_ = std::make_unique<LayerNorm>("norm", LayerNorm::Config{d, eps});
  select_ = std::make_unique<TokenSelect>("select");
  head_ = std::make_unique<Linear>("head", Linear::timm_init({d, cfg_.num_classes, true, cfg_.dtype}));
  taps_.assign(1 + 2 * cfg_.depth, nullptr);
}

const Tensor& Tnt::forward(const Tensor& images, Mode mode) {
  const int64_t C = cfg_.in_chans, S = cfg_.img_size, P = cfg_.patch_size, c = cfg_.inner_dim;
  if (images.empty() || images.shape().size() != 4 || images.dim(1) != C || images.dim(2) != S ||
      images.dim(3) != S)
    throw std::invalid_argument(fmt::format("{}: images have shape {}, expected (B, {}, {}, {})", cfg_.name,
                                            images.empty() ? "[]" : to_string(images.shape()), C, S, S));
  check_f32(cfg_.name, "images", images);
  const int64_t B = images.dim(0), N = N_;
  batch_ = B;
  saved_ = false;  // set again at the end: a failed forward leaves nothing to differentiate

  // Pixel embedding: images (B, C, H, W) -> words (B*N, m, c).
  const Tensor& patches = unfold_->forward(images, mode);                               // (B, N, C*P*P)
  const Tensor& pixels = view(pixels_, patches, {B * N, C, P, P});                      // (B*N, C, P, P)
  const Tensor& conv = pixel_proj_->forward(pixels, mode);                              // (B*N, c, w, w)
  const Tensor& pix = pixel_pos_ ? pixel_pos_->forward(plain_conv(conv), mode) : conv;  // (B*N, c, w, w)
  const Tensor* words = &flatten_->forward(pix, mode);                                  // (B*N, m, c)
  // Patch embedding: words (B, N, m*c) -> patch tokens (B, N+1, d).
  const Tensor& flat = view(words_flat_, *words, {B, N, m_ * c});                             // (B, N, m*c)
  const Tensor& h0 = norm1_proj_->forward(flat, mode);                                        // (B, N, m*c)
  const Tensor& h1 = proj_->forward(h0, mode);                                                // (B, N, d)
  const Tensor& h2 = norm2_proj_->forward(h1, mode);                                          // (B, N, d)
  const Tensor& with_cls = cls_token_->forward(h2, mode);                                     // (B, N+1, d)
  const Tensor* patches_tok = patch_pos_ ? &patch_pos_->forward(with_cls, mode) : &with_cls;  // (B, N+1, d)
  taps_[0] = patches_tok;

  for (size_t i = 0; i < blocks_.size(); ++i) {
    const TntBlock::Streams out = blocks_[i]->forward({.words = words, .patches = patches_tok}, mode);
    words = out.words;          // (B*N, m, c)
    patches_tok = out.patches;  // (B, N+1, d)
    taps_[1 + 2 * i] = words;
    taps_[2 + 2 * i] = patches_tok;
  }

  const Tensor& normed = norm_->forward(*patches_tok, mode);  // (B, N+1, d)
  const Tensor& cls = select_->forward(normed, mode);         // (B, d)
  const Tensor& logits = head_->forward(cls, mode);           // (B, classes)
  saved_ = mode == Mode::train;
  return logits;
}

const Tensor& Tnt::plain_conv(const Tensor& conv) {
  if (conv_to_plain_.to().dims() != conv.shape()) conv_to_plain_ = InputReorder(plain_desc(conv.shape()));
  conv_plain_ = conv_to_plain_.tensor(conv);
  return conv_plain_;
}

const Tensor& Tnt::backward(const Tensor& diff_logits) {
  if (!saved_) throw std::logic_error(cfg_.name + ": backward needs a train-mode forward first");
  check_rank(cfg_.name, "diff_logits", 2, diff_logits);
  check_shape(cfg_.name, "diff_logits", {batch_, cfg_.num_classes}, diff_logits.shape());
  const Tensor& d_cls = head_->backward(diff_logits);   // (B, d)
  const Tensor& d_normed = select_->backward(d_cls);    // (B, N+1, d)
  const Tensor& d_patches = norm_->backward(d_normed);  // (B, N+1, d)
  return backward_blocks(cfg_.depth - 1, &d_patches, nullptr);
}

const Tensor& Tnt::backward_blocks(int64_t top, const Tensor* d_patches, const Tensor* d_words) {
  // d_patches is (B, N+1, d), d_words is (B*N, m, c): gradients of block `top`'s outputs.
  TntBlock::Streams d{.words = d_words, .patches = d_patches};
  for (int64_t i = top; i >= 0; --i) d = blocks_[i]->backward(d);  // (B*N, m, c), (B, N+1, d) or null
  return backward_embed(d.patches, d.words);
}

const Tensor& Tnt::backward_embed(const Tensor* d_patches, const Tensor* d_words) {
  // d_patches is (B, N+1, d), d_words is (B*N, m, c): gradients of the tokens entering block 0.
  const int64_t B = batch_, N = N_, C = cfg_.in_chans, P = cfg_.patch_size, c = cfg_.inner_dim;
  if (d_patches) {
    const Tensor& d_with_cls = patch_pos_ ? patch_pos_->backward(*d_patches) : *d_patches;  // (B, N+1, d)
    const Tensor& d_h2 = cls_token_->backward(d_with_cls);                                  // (B, N, d)
    const Tensor& d_h1 = norm2_proj_->backward(d_h2);                                       // (B, N, d)
    const Tensor& d_h0 = proj_->backward(d_h1);                                             // (B, N, m*c)
    const Tensor& d_flat = norm1_proj_->backward(d_h0);                                     // (B, N, m*c)
    const Tensor& d_branch = view(d_words_branch_, d_flat, {B * N, m_, c});                 // (B*N, m, c)
    d_words = d_words ? &words_grad_sum_.forward(*d_words, d_branch) : &d_branch;
  }
  const Tensor& d_pix = flatten_->backward(*d_words);                            // (B*N, c, w, w)
  const Tensor& d_conv = pixel_pos_ ? pixel_pos_->backward(d_pix) : d_pix;       // (B*N, c, w, w)
  const Tensor& d_pixels = pixel_proj_->backward(d_conv);                        // (B*N, C, P, P)
  const Tensor& d_patches_flat = view(d_patches_, d_pixels, {B, N, C * P * P});  // (B, N, C*P*P)
  return unfold_->backward(d_patches_flat);                                      // (B, C, H, W)
}

std::vector<StateEntry> Tnt::state() {
  std::vector<StateEntry> s;
  append_state(s, "", *cls_token_);  // timm keeps cls_token, patch_pos and pixel_pos at the root
  if (patch_pos_) append_state(s, "", *patch_pos_);
  if (pixel_pos_) append_state(s, "", *pixel_pos_);
  append_state(s, "pixel_embed.proj", *pixel_proj_);
  append_state(s, "norm1_proj", *norm1_proj_);
  append_state(s, "proj", *proj_);
  append_state(s, "norm2_proj", *norm2_proj_);
  for (auto& b : blocks_) append_state(s, b->name(), b->state());
  append_state(s, "norm", *norm_);
  append_state(s, "head", *head_);
  return s;
}

std::vector<std::string> Tnt::taps() const {
  std::vector<std::string> names{"patch_embed"};
  for (int64_t i = 0; i < cfg_.depth; ++i) {
    names.push_back(fmt::format("blocks.{}.inner", i));
    names.push_back(fmt::format("blocks.{}", i));
  }
  return names;
}

const Tensor& Tnt::tap(size_t i) const {
  if (i >= taps_.size())
    throw std::invalid_argument(
        fmt::format("{}: tap {} out of range (there are {})", cfg_.name, i, taps_.size()));
  if (!taps_[i]) throw std::logic_error(fmt::format("{}: tap {} needs a forward first", cfg_.name, i));
  return *taps_[i];
}

const Tensor& Tnt::backward_from(size_t i, const Tensor& diff_tap) {
  if (!saved_) throw std::logic_error(cfg_.name + ": backward_from needs a train-mode forward first");
  const Tensor& t = tap(i);
  if (diff_tap.empty() || diff_tap.shape() != t.shape())
    throw std::invalid_argument(fmt::format("{}: diff for tap {} has shape {}, expected {}", cfg_.name,
                                            taps()[i], diff_tap.empty() ? "[]" : to_string(diff_tap.shape()),
                                            to_string(t.shape())));
  check_f32(cfg_.name, "diff_tap", diff_tap);
  // Parameters the tap does not depend on get a zero gradient (the layers reached overwrite theirs).
  zero_grads();
  if (i == 0) return backward_embed(&diff_tap, nullptr);
  const int64_t block = static_cast<int64_t>(i - 1) / 2;
  return i % 2 == 1 ? backward_blocks(block, nullptr, &diff_tap) : backward_blocks(block, &diff_tap, nullptr);
}

std::vector<std::pair<std::string, const Tensor*>> Tnt::attention_probs() const {
  std::vector<std::pair<std::string, const Tensor*>> out;
  if (!taps_.empty() && !taps_[0]) return out;  // no forward yet
  for (size_t i = 0; i < blocks_.size(); ++i) {
    out.emplace_back(fmt::format("blocks.{}.attn_in", i), &blocks_[i]->inner->attn().probs());
    out.emplace_back(fmt::format("blocks.{}.attn_out", i), &blocks_[i]->outer->attn().probs());
  }
  return out;
}

std::vector<PosTable> Tnt::pos_tables() const {
  std::vector<PosTable> tables;
  if (patch_pos_) tables.push_back({.key = "patch_pos", .prefix = 1, .grid_h = grid_, .grid_w = grid_});
  if (pixel_pos_) tables.push_back({.key = "pixel_pos", .channels_first = true, .grid_h = w_, .grid_w = w_});
  return tables;
}

// timm TNT's start, as the layers declared it at construction (see the constructor).
void Tnt::init(uint64_t seed) {
  init::apply(state(), seed);
  // Stochastic depth: every block's own streams, derived from the seed.
  for (size_t i = 0; i < blocks_.size(); ++i) {
    blocks_[i]->inner->reseed(drop_seed(seed, i, true));
    blocks_[i]->outer->reseed(drop_seed(seed, i, false));
  }
}

void Tnt::set_random_step(int64_t step) {
  for (auto& b : blocks_) {
    b->inner->set_random_step(step);
    b->outer->set_random_step(step);
  }
}

}  // namespace

std::unique_ptr<Model> make_tnt(const ModelConfig& cfg) {
  if (cfg.family != Family::tnt) throw std::invalid_argument(cfg.name + ": make_tnt needs family tnt");
  return std::make_unique<Tnt>(cfg);
}

// Each P x P patch is cut out (a window of P, stride P) and the word conv runs inside it with its own zero
// padding; the patch token flattens its words (the patch). Inner attention mixes only the words of one patch,
// and nothing flows from the patch tokens back into the words: a word sees its patch at every depth. Outer
// attention reaches every patch.
rf::TapInfo Tnt::tap_info() const {
  using rf::TapLayout;
  rf::TapInfo r;
  const int64_t P = cfg_.patch_size, G = cfg_.img_size / P;
  const rf::Window word_window{
      .kernel = cfg_.word_kernel, .stride = cfg_.word_stride, .padding = cfg_.word_padding};
  const rf::Field word_local = rf::through(rf::image_field(P), word_window);  // inside one patch
  // Words of all patches on one axis: patch g's word j is centred at g P + word_local.centre(j).
  const double word_centre = static_cast<double>((G / 2) * P) + word_local.centre(word_local.extent / 2);
  rf::Field words = word_local;
  words.extent = G * word_local.extent;
  r.layers.push_back({"pixel_embed.proj", "embed", word_window, words});
  const rf::Field patch = rf::through(rf::image_field(cfg_.img_size), {.kernel = P, .stride = P});
  r.layers.push_back({"proj", "embed", {.kernel = P, .stride = P}, patch});
  r.taps.push_back(rf::tap_at_centre("patch_embed", TapLayout::tokens_with_cls, patch));
  rf::Field word_sees_patch = words;
  word_sees_patch.size = P;
  rf::Field all = patch;
  all.size = cfg_.img_size;
  for (int64_t i = 0; i < cfg_.depth; ++i) {
    const std::string name = fmt::format("blocks.{}", i);
    r.layers.push_back({name + ".attn_in", "attention", {.kernel = 0}, word_sees_patch});
    r.taps.push_back({name + ".inner", TapLayout::words, word_sees_patch, false, word_centre});
    r.layers.push_back({name + ".attn_out", "attention", {.kernel = 0}, all});
    r.taps.push_back({name, TapLayout::tokens_with_cls, all, true, patch.centre(patch.extent / 2)});
    r.attention.push_back(
        {name + ".attn_in", word_local.extent, static_cast<double>(cfg_.word_stride), 0, true});
    r.attention.push_back({name + ".attn_out", G, static_cast<double>(P), 1, false});
  }
  return r;
}

}  // namespace vb
