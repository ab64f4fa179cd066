// GELU, the exact erf form y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) used by ViT/TNT MLPs (not the tanh
// approximation): oneDNN eltwise_gelu_erf, backward from src. Takes the layout of its input.
#pragma once

#include <string>

#include "models/core/input_reorder.hpp"
#include "models/core/layer.hpp"

namespace vb {

class GELU : public Layer {
 public:
  struct Config {
    DType dtype = DType::f32;  // bf16: also accepts bf16 src/diff_dst, computed in the dtype of src
  };

  explicit GELU(std::string name);  // default Config (f32)
  GELU(std::string name, Config cfg);

  // src is any shape (rank 1..6), f32 (or bf16, see Config), any layout; dst has the desc of src.
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // diff_dst is the shape of dst, f32, any layout; returns diff_src in the layout of src.
  const Tensor& backward(const Tensor& diff_dst) override;

 private:
  void build(const dnnl::memory::desc& src_md);

  Config cfg_;
  dnnl::memory::desc src_md_;  // shape + layout the primitives were built for
  dnnl::eltwise_forward::primitive_desc fwd_pd_;
  Step fwd_;
  Tensor src_;  // kept for backward (the erf GELU derivative needs src)
  Tensor dst_;  // desc of src

  bool bwd_built_ = false;
  InputReorder diff_dst_to_src_;  // caller's diff_dst -> layout of src
  Step bwd_;
  Tensor diff_src_;
  bool saved_ = false;
};

}  // namespace vb
