// MaxPool2d (PyTorch nn.MaxPool2d: square window, floor output size, padding acts as -inf) on oneDNN
// pooling_max in the layout of its input. Training keeps the primitive's workspace (argmax) for backward.
#pragma once

#include <optional>
#include <string>

#include "models/core/geometry.hpp"
#include "models/core/input_reorder.hpp"
#include "models/core/layer.hpp"

namespace vb {

class MaxPool2d : public Layer {
 public:
  struct Config {
    int64_t kernel = 0;        // must be set
    int64_t stride = 0;        // must be set (PyTorch's default is the kernel size)
    int64_t padding = 0;       // at most kernel / 2, as PyTorch requires
    DType dtype = DType::f32;  // bf16: also accepts bf16 src/diff_dst, pooled in the dtype of src
  };

  MaxPool2d(std::string name, Config cfg);

  // src is (N, C, H, W) f32 in any layout; dst is (N, C, Ho, Wo) in the same layout family.
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // diff_dst is (N, C, Ho, Wo) in any layout; returns diff_src in the layout of src.
  const Tensor& backward(const Tensor& diff_dst) override;

  const Config& config() const { return cfg_; }
  int64_t out_size(int64_t in) const { return conv_out(in, cfg_.kernel, cfg_.stride, cfg_.padding); }

 private:
  void setup(const dnnl::memory::desc& src_md);
  void setup_backward();

  Config cfg_;
  dnnl::memory::desc src_md_;
  dnnl::pooling_forward::primitive_desc train_pd_;
  Step train_;                // dst and workspace
  std::optional<Step> eval_;  // dst only, built on the first eval forward
  Tensor dst_;
  dnnl::memory workspace_;
  bool saved_ = false;

  bool bwd_built_ = false;         // setup_backward() ran since the forward was set up
  InputReorder diff_dst_reorder_;  // incoming diff_dst -> layout of dst
  Step bwd_;
  Tensor diff_src_;
};

}  // namespace vb
