// The interface of a single-input, single-output layer: forward saves what backward needs, backward
// returns diff_src and writes every parameter's gradient (overwriting it: oneDNN's backward-weights
// primitives write, they do not accumulate; accumulation over micro-batches is the trainer's job).
// Layers with several inputs or outputs (residual add, cross-entropy) have their own signatures.
#pragma once

#include <string>
#include <vector>

#include "models/core/tensor.hpp"

namespace vb {

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
  const std::string& name() const { return name_; }

 protected:
  std::string name_;
};

}  // namespace vb
