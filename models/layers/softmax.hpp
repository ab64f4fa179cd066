// Softmax over the last axis (attention scores (B, heads, N, N) in ViT/TNT): oneDNN softmax forward /
// backward; backward uses dst, which forward keeps. Takes the layout of its input.
#pragma once

#include <string>

#include "models/core/input_reorder.hpp"
#include "models/core/layer.hpp"

namespace vb {

class Softmax : public Layer {
 public:
  struct Config {};  // always the last axis

  explicit Softmax(std::string name, Config cfg = {});

  // src is (..., L) of rank 1..6, f32, any layout; dst has the desc of src.
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // diff_dst is the shape of dst, f32, any layout; returns diff_src in the layout of src.
  const Tensor& backward(const Tensor& diff_dst) override;

 private:
  void build(const dnnl::memory::desc& src_md);

  dnnl::memory::desc src_md_;  // shape + layout the primitives were built for
  int axis_ = 0;
  dnnl::softmax_forward::primitive_desc fwd_pd_;
  Step fwd_;
  Tensor dst_;  // desc of src; also what backward reads

  bool bwd_built_ = false;
  InputReorder diff_dst_to_dst_;  // caller's diff_dst -> layout of dst
  Step bwd_;
  Tensor diff_src_;
  bool saved_ = false;
};

}  // namespace vb
