// Feature map to token sequence, timm's `x.flatten(2).transpose(1, 2)`: (B, C, H, W) in any layout ->
// (B, H*W, C) plain, tokens row-major over (h, w). One oneDNN reorder into dst viewed as a strided
// (B, C, H, W) desc (strides (H*W*C, 1, W*C, C)); backward is the inverse reorder into src's layout.
#pragma once

#include <string>

#include "models/core/input_reorder.hpp"
#include "models/core/layer.hpp"

namespace vb {

class FlattenTokens : public Layer {
 public:
  struct Config {};  // nothing to set

  explicit FlattenTokens(std::string name, Config cfg = {});

  // src is (B, C, H, W) f32, any layout; dst is (B, H*W, C) plain f32, dst[b, h*W + w, c] = src[b, c, h, w].
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // diff_dst is (B, H*W, C), any layout; returns diff_src (B, C, H, W) in the layout of src.
  const Tensor& backward(const Tensor& diff_dst) override;

 private:
  void build(const dnnl::memory::desc& src_md);
  void build_backward();

  dnnl::memory::desc src_md_;  // the caller's src desc the steps were built for
  Tensor dst_;                 // (B, H*W, C) plain
  Step fwd_;                   // reorder src -> dst viewed as (B, C, H, W) with strides (HWC, 1, WC, C)

  bool bwd_built_ = false;          // build_backward() ran since the last build
  InputReorder diff_dst_to_plain_;  // -> (B, H*W, C) plain (no-op in the usual case)
  Step bwd_;                        // reorder the strided (B, C, H, W) view -> diff_src (src's layout)
  Tensor diff_src_;                 // (B, C, H, W) in src's layout
  bool saved_ = false;              // a train-mode forward ran since the last build
};

}  // namespace vb
