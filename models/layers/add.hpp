// Residual add dst = a + b (oneDNN binary add), computed in a's layout: b is reordered into it when the
// layouts differ, so a blocked ResNet map and a plain (B, N, D) token tensor both stay in their own layout.
// Not a Layer (two inputs); backward hands the same gradient to both inputs.
#pragma once

#include <string>

#include "models/core/input_reorder.hpp"
#include "models/core/tensor.hpp"

namespace vb {

class Add {
 public:
  // dtype bf16: also accepts bf16 inputs (dst in a's desc, so a's dtype).
  explicit Add(std::string name, DType dtype = DType::f32) : name_(std::move(name)), dtype_(dtype) {}
  Add(const Add&) = delete;
  Add& operator=(const Add&) = delete;

  // a and b have the same shape, f32, any layouts; returns dst = a + b in a's layout, owned by the layer and
  // valid until its next forward. Primitives are rebuilt only when a's or b's desc changes.
  const Tensor& forward(const Tensor& a, const Tensor& b);
  // diff_dst is the shape of dst, any layout. Returns the gradient of both a and b: diff_dst itself when it
  // is already in a's layout, otherwise a copy reordered into a's layout. Note that b's gradient therefore
  // comes in a's layout too (the caller reorders it if b's producer needs another one).
  const Tensor& backward(const Tensor& diff_dst);

  const std::string& name() const { return name_; }

 private:
  void build(const dnnl::memory::desc& a_md, const dnnl::memory::desc& b_md);

  std::string name_;
  DType dtype_;
  dnnl::memory::desc a_md_, b_md_;  // descs the primitives were built for
  Reorder b_to_a_;                  // b -> a's layout (no-op when equal)
  Step add_;                        // binary add: src0 a, src1 b (a's layout), dst
  Tensor dst_;                      // a's desc

  InputReorder diff_dst_to_a_;  // diff_dst -> a's layout (diff_dst itself when it has a's desc)
  Tensor diff_;                 // returned by backward: diff_dst itself or its copy in a's layout
};

}  // namespace vb
