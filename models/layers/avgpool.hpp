// GlobalAvgPool (PyTorch AdaptiveAvgPool2d(1) followed by flatten): (N, C, H, W) in any layout -> (N, C)
// plain f32, the head input of ResNet. oneDNN pooling_avg over the whole map, then a reorder to plain.
#pragma once

#include <string>

#include "models/core/input_reorder.hpp"
#include "models/core/layer.hpp"

namespace vb {

class GlobalAvgPool : public Layer {
 public:
  struct Config {
    DType dtype = DType::f32;  // bf16: also accepts bf16 src/diff_dst; dst and diff_src in the dtype of src
  };

  explicit GlobalAvgPool(std::string name);  // default Config (f32)
  GlobalAvgPool(std::string name, Config cfg);

  // src is (N, C, H, W) f32 (or bf16, see Config) in any layout; dst is (N, C) plain, dtype of src.
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // diff_dst is (N, C) in any layout; returns diff_src (N, C, H, W) in the layout of src.
  const Tensor& backward(const Tensor& diff_dst) override;

 private:
  void setup(const dnnl::memory::desc& src_md);
  void setup_backward();

  Config cfg_;
  dnnl::memory::desc src_md_;
  dnnl::pooling_forward::primitive_desc fwd_pd_;
  Step fwd_;
  Tensor dst_;           // (N, C) plain
  dnnl::memory dst_4d_;  // (N, C, 1, 1) plain view of dst_'s buffer
  dnnl::memory pooled_;  // (N, C, 1, 1) in the pooling's layout, when that is not plain
  Reorder pooled_to_plain_;
  bool saved_ = false;

  bool bwd_built_ = false;          // setup_backward() ran since the forward was set up
  InputReorder diff_dst_to_plain_;  // incoming (N, C) -> plain (N, C)
  dnnl::memory diff_dst_4d_;        // (N, C, 1, 1) plain view of the plain diff_dst
  Reorder diff_dst_to_pool_;        // plain (N, C, 1, 1) -> pooling's diff_dst layout
  Step bwd_;
  Tensor diff_src_;
};

}  // namespace vb
