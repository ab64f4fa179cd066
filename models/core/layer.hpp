// The interface of a single-input, single-output layer: forward saves what backward needs, backward
// returns diff_src and writes every parameter's gradient (overwriting it: oneDNN's backward-weights
// primitives write, they do not accumulate; accumulation over micro-batches is the trainer's job).
// Layers with several inputs or outputs (residual add, cross-entropy) have their own signatures.
// A layer also lists its state: trainable params() and non-trainable buffers(), which models collect into
// their PyTorch state_dict (checkpoints, the broadcast of buffers in data-parallel training) without naming
// them.
#pragma once

#include <string>
#include <vector>

#include "models/core/tensor.hpp"

namespace vb {

// One state_dict entry: a trainable parameter, a float buffer (BatchNorm's running statistics) or an integer
// counter (num_batches_tracked). A layer's keys are relative to it ("running_mean"); a model's are PyTorch's.
struct StateEntry {
  std::string key;
  Param* param = nullptr;      // trainable (value + grad)
  Tensor* buffer = nullptr;    // non-trainable float tensor
  int64_t* counter = nullptr;  // int64 scalar
  Init init = {};      // how init(seed) sets a buffer (a Param carries its own; a counter starts at 0)
  Dims shape() const;  // PyTorch shape ({} for a counter)
};

class Layer {
 public:
  explicit Layer(std::string name) : name_(std::move(name)) {}
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  // Returns dst, owned by the layer and valid until its next forward. Primitives are (re)built only when
  // the input's shape or layout changes.
  virtual const Tensor& forward(const Tensor& src, Mode mode) = 0;
  // Takes diff_dst (shape of dst, any layout), returns diff_src (layout of src), fills param grads.
  virtual const Tensor& backward(const Tensor& diff_dst) = 0;
  virtual std::vector<Param*> params() { return {}; }
  // Named non-trainable state (BatchNorm's running_mean, running_var, num_batches_tracked), keys relative to
  // the layer; empty for most layers.
  virtual std::vector<StateEntry> buffers() { return {}; }
  // Every state_dict entry of the layer in PyTorch's order, keys relative to the layer: params() then
  // buffers(), as a PyTorch module lists its own tensors. A block whose sub-layers hold buffers overrides it
  // so that each sub-layer's entries stay together (torchvision's Bottleneck: conv1, bn1 and its statistics,
  // ...).
  virtual std::vector<StateEntry> state() {
    std::vector<StateEntry> out;
    for (Param* p : params()) out.push_back({.key = p->name, .param = p});
    for (StateEntry& b : buffers()) out.push_back(std::move(b));
    return out;
  }
  const std::string& name() const { return name_; }

 protected:
  std::string name_;
};

// Appends layer.state() to `out` with keys prefix + "." + key (the key alone for an empty prefix: timm keeps
// cls_token and the position tables at the root). How models and blocks collect their state: no entry by
// hand.
inline void append_state(std::vector<StateEntry>& out, const std::string& prefix,
                         std::vector<StateEntry> entries) {
  for (StateEntry& e : entries) {
    if (!prefix.empty()) e.key = prefix + "." + e.key;
    out.push_back(std::move(e));
  }
}
inline void append_state(std::vector<StateEntry>& out, const std::string& prefix, Layer& layer) {
  append_state(out, prefix, layer.state());
}

}  // namespace vb
