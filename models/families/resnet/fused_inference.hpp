// ResNet inference as a fused oneDNN graph (issue 13: ONNX Runtime and PyTorch's JIT do the same): every
// BatchNorm folded into the convolution before it, ReLU an eltwise post-op of that convolution, and each
// bottleneck's residual add a sum post-op of its conv3 (then ReLU), accumulating into the shortcut's buffer -
// in place into the block's input when the shortcut is the identity. One primitive per convolution, none for
// BatchNorm, ReLU or the add: the memory-bound passes over the feature maps are gone.
//
// Folding (per output channel o, with the BatchNorm's running statistics, eps as in BatchNorm2d):
//   s_o = gamma_o / sqrt(var_o + eps);   w'[o] = w[o] * s_o;   b'_o = beta_o - mean_o * s_o
// Each forward checks the buffers and versions (Tensor::version) of the weights and running statistics a conv
// folds and refolds it when one changed: after an optimizer step, a training forward (new running averages)
// or a checkpoint load - never stale, and an eval over many batches folds once. Results equal Mode::eval's up
// to rounding (tests/models/test_resnet_fused.cpp; the parity fixtures check it against PyTorch).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/config.hpp"
#include "models/core/tensor.hpp"
#include "models/model.hpp"

namespace vb {

class FusedResNetInference {
 public:
  explicit FusedResNetInference(const ModelConfig& cfg);
  ~FusedResNetInference();
  // images (B, in_chans, H, W) plain f32 -> logits (B, num_classes) plain f32, with the weights and running
  // statistics of `state` (the model's state_dict entries, torchvision keys).
  const Tensor& forward(const Tensor& images, const std::vector<StateEntry>& state);
  // Convolutions folded so far (tests: unchanged weights are not folded again).
  int64_t folds() const { return folds_; }

 private:
  struct Conv;
  enum class After { none, relu, sum_relu };  // after the convolution; sum_relu: dst = relu(conv(src) + dst)
  void build(const dnnl::memory::desc& images_md);
  // Adds one fused conv reading `src`; dst is a new buffer in the layout the primitive picks, or `*into` (a
  // sum_relu conv accumulates into it). Returns dst.
  dnnl::memory add_conv(const std::string& conv_key, const std::string& norm_key, const dnnl::memory& src,
                        int64_t out, int64_t kernel, int64_t stride, int64_t padding, After after,
                        const dnnl::memory* into);
  dnnl::memory add_pool(const dnnl::memory& src, dnnl::algorithm alg, int64_t kernel_h, int64_t kernel_w,
                        int64_t stride, int64_t padding, const dnnl::memory::desc& dst_any);
  dnnl::memory add_bottleneck(const std::string& name, const dnnl::memory& x, int64_t width, int64_t stride,
                              bool downsample);
  void add_head(const dnnl::memory& x);
  ModelConfig cfg_;
  dnnl::memory::desc in_md_;  // the image desc the graph was built for
  std::vector<std::unique_ptr<Conv>> convs_;
  std::vector<Step> steps_;  // the whole graph in execution order
  Reorder image_reorder_;
  dnnl::memory image_;
  dnnl::memory fc_weights_, fc_bias_;
  Tensor logits_;
  int64_t folds_ = 0;
};

}  // namespace vb
