// ResNet (torchvision v1.5 ResNet-50 generalised by ModelConfig: stage depths, base width, stem). Declared
// here, not only in resnet.cpp, so tests and measurements can look at the layers (e.g. their layouts).
// Feature maps stay in oneDNN's blocked layout from the stem conv to the global pool; with dtype bf16 they
// are bf16 too (convs write bf16, BN/ReLU/add/pools run on bf16: half the memory traffic, no conversions),
// and so are the gradients between layers in backward. Params, BN statistics and grads stay f32.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/families/resnet/fused_inference.hpp"
#include "models/layers/add.hpp"
#include "models/layers/avgpool.hpp"
#include "models/layers/batchnorm2d.hpp"
#include "models/layers/conv2d.hpp"
#include "models/layers/linear.hpp"
#include "models/layers/maxpool2d.hpp"
#include "models/layers/relu.hpp"
#include "models/model.hpp"

namespace vb {

// torchvision's Bottleneck (v1.5: the stride sits on the 3x3 conv): conv1 1x1 -> bn1 -> relu -> conv2 3x3
// (stride) -> bn2 -> relu -> conv3 1x1 (4x width) -> bn3, plus the shortcut (identity, or downsample.0 1x1
// conv with the stride + downsample.1 BN when the stride or the channel count changes), then relu.
// bn1 and bn2 carry their ReLU (BatchNorm2d::Config::fuse_relu: one oneDNN primitive each way, the ReLU mask
// kept as its workspace); bn3 cannot (the add sits between it and relu3; oneDNN 2.6 has no norm+add+relu).
// A Layer, as TransformerBlock: forward, backward and its state side by side.
class Bottleneck : public Layer {
 public:
  static constexpr int64_t expansion = 4;
  // name is the module path ("layer2.0"); src has in_channels, dst width * 4.
  // dtype: compute dtype of the convolutions (ModelConfig::dtype).
  Bottleneck(const std::string& name, int64_t in_channels, int64_t width, int64_t stride,
             DType dtype = DType::f32);

  // src is (B, Cin, H, W) any layout -> dst (B, 4 width, H / stride, W / stride) in the convs' layout.
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // diff_dst (shape of dst) -> diff_src (B, Cin, H, W) in the layout of src; writes every grad.
  const Tensor& backward(const Tensor& diff_dst) override;
  // conv1.weight, bn1.weight, bn1.bias, conv2.weight, ... (keys relative to the block).
  std::vector<Param*> params() override;
  // bn1.running_mean, bn1.running_var, bn1.num_batches_tracked, ..., downsample.1.num_batches_tracked.
  std::vector<StateEntry> buffers() override;
  // torchvision's order: each sub-layer's parameters, then its buffers (conv1, bn1, conv2, ...).
  std::vector<StateEntry> state() override;
  bool has_downsample() const { return downsample_conv != nullptr; }

  Conv2d conv1;
  BatchNorm2d bn1;  // + relu (fuse_relu)
  Conv2d conv2;
  BatchNorm2d bn2;  // + relu (fuse_relu)
  Conv2d conv3;
  BatchNorm2d bn3;
  std::unique_ptr<Conv2d> downsample_conv;     // downsample.0, or null for the identity shortcut
  std::unique_ptr<BatchNorm2d> downsample_bn;  // downsample.1
  Add add;                                     // bn3 + shortcut
  ReLU relu3;                                  // the block's output
  Add grad_sum;                 // backward only: diff_src = main-branch gradient + shortcut gradient
  const Tensor* dst = nullptr;  // relu3's output of the last forward (a tap)

 private:
  std::vector<Layer*> stateful();  // the sub-layers with state, in torchvision's order
};

class ResNet : public Model {
 public:
  explicit ResNet(const ModelConfig& cfg);

  const Tensor& forward(const Tensor& images, Mode mode) override;
  // The fused graph (fused_inference.hpp); VITBENCH_FUSED_INFERENCE=0 runs forward(images, Mode::eval)
  // instead (an A/B switch for measurements).
  const Tensor& infer(const Tensor& images) override;
  const Tensor& backward(const Tensor& diff_logits) override;
  std::vector<StateEntry> state() override;
  // "conv1" (the stem's ReLU output; "maxpool" with the imagenet stem), then "layer1.0", ... one per block.
  std::vector<std::string> taps() const override;
  const Tensor& tap(size_t i) const override;
  const Tensor& backward_from(size_t i, const Tensor& diff_tap) override;
  void init(uint64_t seed) override;
  // Every BatchNorm2d normalises with its running statistics in Mode::train too, and backward treats them as
  // constants (BatchNorm2d::freeze_stats): the eval-mode network with a backward, for receptive fields.
  void freeze_norm_stats(bool on) override;
  // Read from the built layers (kernel, stride, padding of every conv and pool), so it cannot drift from the
  // model; the 1x1 shortcut never widens a block's field: the block's field is the wider of its two paths.
  rf::TapInfo tap_info() const override;

  // The layers, in forward order (read-only use by tests and measurements).
  const Conv2d& stem_conv() const { return conv1_; }
  const MaxPool2d* stem_pool() const { return maxpool_.get(); }  // null with the cifar stem
  const std::vector<std::unique_ptr<Bottleneck>>& blocks() const { return blocks_; }
  const GlobalAvgPool& pool() const { return avgpool_; }
  // The fused inference graph, once infer() has built it (null before).
  const FusedResNetInference* fused_inference() const { return fused_.get(); }

 private:
  void check_images(const Tensor& images, Mode mode) const;

  Conv2d conv1_;
  BatchNorm2d bn1_;                     // + the stem's relu (fuse_relu)
  std::unique_ptr<MaxPool2d> maxpool_;  // imagenet stem only
  std::vector<std::unique_ptr<Bottleneck>> blocks_;
  GlobalAvgPool avgpool_;
  Linear fc_;
  const Tensor* stem_out_ = nullptr;             // the stem's output of the last forward (tap 0)
  bool trained_ = false;                         // the last forward was Mode::train (backward allowed)
  std::unique_ptr<FusedResNetInference> fused_;  // built at the first infer()
};

}  // namespace vb
