// The interface every model family implements, and the factory that builds one from a preset.
// State is exposed as PyTorch state_dict entries (key -> tensor in PyTorch layout), so checkpoints are
// interchangeable with torchvision/timm weights.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/config.hpp"
#include "models/core/layer.hpp"
#include "models/core/receptive_field.hpp"
#include "models/core/tensor.hpp"

namespace vb {

// A learned position table of a model and how its rows lie on the token grid, so that a checkpoint trained at
// another grid can be resampled (harness/pos_resample.hpp) without guessing from the key.
struct PosTable {
  std::string key;  // state_dict key (timm's): pos_embed, pos_embed_x, pos_embed_y, patch_pos, pixel_pos
  bool channels_first = false;  // (1, C, h, w); otherwise rows (1, prefix + h*w, C), the grid row-major
  int64_t prefix = 0;           // rows before the grid: 1 for a cls token's row, else 0
  int64_t grid_h = 0,
          grid_w = 0;  // the model's grid; grid_h 1: one axis of the grid (pos_embed_x, pos_embed_y)
};

class Model {
 public:
  explicit Model(ModelConfig cfg) : cfg_(std::move(cfg)) {}
  virtual ~Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const { return cfg_; }
  // images (B, in_chans, img, img) plain f32 -> logits (B, num_classes) plain f32.
  virtual const Tensor& forward(const Tensor& images, Mode mode) = 0;
  // diff_logits (B, num_classes) -> diff_images; writes every parameter's grad.
  virtual const Tensor& backward(const Tensor& diff_logits) = 0;
  // Every state_dict entry in PyTorch's order.
  virtual std::vector<StateEntry> state() = 0;

  // Inference: the logits of forward(images, Mode::eval) up to rounding, possibly from a faster graph (ResNet
  // folds its BatchNorms into the convolutions: models/families/resnet/fused_inference.hpp). Reads the
  // current parameters on every call. No taps, attention maps or backward after it.
  virtual const Tensor& infer(const Tensor& images) { return forward(images, Mode::eval); }

  // Measurement taps: named intermediate outputs of the last forward, in depth order ("conv1", "layer1.0",
  // ..., "layer4.2" for ResNet; "patch_embed", "blocks.0", ... for ViT; TNT adds the inner (word) outputs
  // "blocks.i.inner"). ResNet taps are (B, C, H, W) maps (any layout), transformer taps (B, tokens, D).
  virtual std::vector<std::string> taps() const = 0;
  virtual const Tensor& tap(size_t i) const = 0;
  // Backward from tap i alone: diff_tap has the tap's shape; layers above it are ignored. Returns diff_images
  // and writes the grads of the parameters below the tap. Needs a Mode::train forward first.
  virtual const Tensor& backward_from(size_t i, const Tensor& diff_tap) = 0;
  // Attention probabilities (B, H, N, N) of every attention layer of the last forward, in depth order,
  // with a name ("blocks.3.attn", "blocks.3.attn_in"); empty for CNNs.
  virtual std::vector<std::pair<std::string, const Tensor*>> attention_probs() const { return {}; }
  // The geometry of the taps and attention layers above (same order), for receptive-field measurements: each
  // family computes it from its own layers or config, so measurements never ask which family a model is.
  // Empty for a model without taps (test doubles); the registry test checks every preset's against its taps.
  virtual rf::TapInfo tap_info() const { return {}; }
  // The learned position tables among state()'s entries (none for CNNs and fixed tables).
  virtual std::vector<PosTable> pos_tables() const { return {}; }
  // BatchNorm with its running statistics in Mode::train too, backward treating them as constants: the
  // eval-mode network with a backward, for receptive fields. A no-op for models without BatchNorm.
  virtual void freeze_norm_stats(bool on) { (void)on; }

  // Reference initialisation (REFERENCE.md): timm's for ViT/TNT, torchvision's for ResNet. Deterministic in
  // `seed` (counter-based, independent of thread count).
  virtual void init(uint64_t seed) = 0;
  // Sets the counter of every random layer (stochastic depth) to `step` train-mode forwards, as after that
  // many training steps since init(seed): a resumed run draws the masks the uninterrupted run drew.
  virtual void set_random_step(int64_t step) { (void)step; }
  std::vector<Param*> params();
  int64_t num_params();

  // Moves every trainable parameter's value and grad into two flat f32 buffers, keeping their contents: each
  // parameter at a 64-byte aligned offset in params() order, the gaps zero; Param::value and grad then view
  // them (same shapes, PyTorch layout). create_model does it once, before the first forward (layers bind a
  // parameter's buffer when they build their primitives). So the optimizer and the gradient helpers make one
  // pass over contiguous memory, and zero_grads() is one memset.
  void pack_params();
  bool packed() const { return flat_size_ > 0; }
  float* flat_values() const { return flat_values_.get(); }
  float* flat_grads() const { return flat_grads_.get(); }
  int64_t flat_size() const { return flat_size_; }  // floats, gaps included
  // Every parameter's gradient set to zero (one memset of the flat buffer when packed).
  void zero_grads();

 protected:
  ModelConfig cfg_;

 private:
  std::shared_ptr<float> flat_values_, flat_grads_;
  int64_t flat_size_ = 0;
};

std::unique_ptr<Model> create_model(const ModelConfig& cfg);

}  // namespace vb
