// ReLU (PyTorch nn.ReLU) on oneDNN eltwise in the layout of its input. Backward uses the
// relu_use_dst_for_bwd algorithm, so it needs only the layer's own dst (not the upstream buffer).
#pragma once

#include <string>

#include "models/core/input_reorder.hpp"
#include "models/core/layer.hpp"

namespace vb {

class ReLU : public Layer {
 public:
  struct Config {
    DType dtype = DType::f32;  // bf16: also accepts bf16 src/diff_dst, computed in the dtype of src
  };

  explicit ReLU(std::string name);  // default Config (f32)
  ReLU(std::string name, Config cfg);

  // src is any shape, f32 (or bf16, see Config), any layout; dst has the same shape, layout and dtype.
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // diff_dst has the shape of dst, any layout; returns diff_src in the layout of src.
  const Tensor& backward(const Tensor& diff_dst) override;

 private:
  void setup(const dnnl::memory::desc& src_md);
  void setup_backward();

  Config cfg_;
  dnnl::memory::desc src_md_;
  dnnl::eltwise_forward::primitive_desc fwd_pd_;
  Step fwd_;
  Tensor dst_;
  bool saved_ = false;

  bool bwd_built_ = false;         // setup_backward() ran since the forward was set up
  InputReorder diff_dst_reorder_;  // incoming diff_dst -> layout of src
  Step bwd_;
  Tensor diff_src_;
};

}  // namespace vb
