// Conv2d: 2-D convolution with a square kernel and groups = 1 (PyTorch nn.Conv2d), on oneDNN's convolution
// forward / backward_data / backward_weights. src, weights and dst use format_tag::any so oneDNN picks its
// blocked layouts; dst stays in that layout for the next layer, and src is reordered only when it differs.
// bf16: src, weights and diff_dst are converted to bf16 for the primitives (AMX, f32 accumulation); dst is
// f32 unless dst_dtype asks for bf16 (a bf16 ResNet keeps its feature maps bf16); grads stay f32.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "models/core/geometry.hpp"
#include "models/core/input_reorder.hpp"
#include "models/core/layer.hpp"

namespace vb {

class Conv2d : public Layer {
 public:
  struct Config {
    int64_t in_channels = 0;
    int64_t out_channels = 0;
    int64_t kernel = 0;  // must be set
    int64_t stride = 1;
    int64_t padding = 0;  // zero padding on every side
    bool bias = false;
    DType dtype = DType::f32;
    DType dst_dtype = DType::f32;  // bf16 only with dtype bf16
    // How weight and bias start (init(seed)); unset: PyTorch's nn.Conv2d default, U(+-1/sqrt(fan_in)).
    std::optional<Init> weight_init = std::nullopt;
    std::optional<Init> bias_init = std::nullopt;
  };

  Conv2d(std::string name, Config cfg);

  // src is (N, C, H, W) f32 (or bf16 when dtype is bf16) in any layout; dst is (N, O, Ho, Wo) in dst_dtype
  // and the layout oneDNN chose.
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // diff_dst is (N, O, Ho, Wo) in any layout; returns diff_src (N, C, H, W) in the layout and dtype of src.
  const Tensor& backward(const Tensor& diff_dst) override;
  std::vector<Param*> params() override;

  const Config& config() const { return cfg_; }
  // Output size along one spatial dimension of extent `in` (floor, as PyTorch).
  int64_t out_size(int64_t in) const { return conv_out(in, cfg_.kernel, cfg_.stride, cfg_.padding); }
  // The src layout the forward primitive wants (after the first forward): an input already in this
  // layout (f32) is used without a reorder.
  dnnl::memory::desc src_desc() const;
  bool reorders_src() const { return src_reorder_.needed(); }
  // Weight conversions run so far (forward + backward): tests check each weight is converted once per change.
  int64_t weight_reorders() const { return weights_reorder_.runs() + weights_to_bwd_.runs(); }

  Param weight;  // (O, C, k, k)
  Param bias;    // (O), empty unless cfg.bias

 private:
  void setup_forward(const dnnl::memory::desc& src_md);
  void setup_backward();

  Config cfg_;

  // Forward, built for one incoming src desc (shape + layout).
  dnnl::memory::desc in_md_;  // incoming src desc the forward was built for
  dnnl::convolution_forward::primitive_desc fwd_pd_;
  Reorder src_reorder_;               // incoming src -> fwd src (layout and, for bf16, dtype)
  Reorder weights_reorder_;           // plain f32 weight -> fwd weights; redone only when the weight changed
  uint64_t fwd_weights_version_ = 0;  // the weight's version the forward read (its copy is cached on it)
  Step fwd_;
  Tensor dst_;             // (N, O, Ho, Wo), fwd dst layout
  dnnl::memory src_used_;  // the src the forward read (fwd layout), kept for backward_weights
  bool saved_ = false;     // a train forward has run since the last setup

  // Backward, built on the first backward after each forward setup; any incoming diff_dst layout is adapted.
  bool bwd_built_ = false;                 // setup_backward() ran since the forward was set up
  InputReorder diff_dst_reorder_data_;     // incoming diff_dst -> bwd_data diff_dst
  InputReorder diff_dst_reorder_weights_;  // incoming diff_dst -> bwd_weights diff_dst (when it differs)
  bool share_diff_dst_ = false;            // bwd_weights reads bwd_data's diff_dst
  Reorder weights_to_bwd_;                 // fwd weights -> bwd_data weights (cached likewise)
  Reorder src_to_bwd_;                     // fwd src -> bwd_weights src
  Step bwd_data_;
  Step bwd_weights_;
  Tensor diff_src_;           // (N, C, H, W) in the incoming src layout
  Reorder diff_src_reorder_;  // bwd_data diff_src -> diff_src_ (when it differs)
  dnnl::memory diff_src_scratch_;
  Reorder diff_weights_reorder_;  // bwd diff_weights -> plain weight.grad (when it differs)
  dnnl::memory diff_weights_scratch_;
};

}  // namespace vb
