// timm's `Mlp` as one layer: fc1 Linear(D, hidden) -> exact GELU -> fc2 Linear(hidden, D) over the last axis
// of (B, N, D) tokens (ViT blocks, TNT inner and outer blocks). Parameters are named relative to the block
// (fc1.weight, fc1.bias, fc2.weight, fc2.bias) so the state_dict key is name() + "." + p->name.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/core/layer.hpp"
#include "models/layers/gelu.hpp"
#include "models/layers/linear.hpp"

namespace vb {

class Mlp : public Layer {
 public:
  struct Config {
    int64_t dim = 0;           // D, in and out features
    int64_t hidden = 0;        // fc1's out features (ViT mlp_dim, TNT int(dim * mlp_ratio))
    DType dtype = DType::f32;  // bf16: fc1, GELU and fc2 in bf16 (hidden activations bf16), dst f32
  };

  Mlp(std::string name, Config cfg);

  // src is (B, N, D) or (M, D) f32 (plain expected); dst has the shape of src, plain f32.
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // Eval mode only: dst += mlp(src), dst (B, N, D) plain f32 owned by the caller (the block's residual
  // stream): fc2 accumulates into it (Linear::forward_accumulate).
  void forward_accumulate(const Tensor& src, const Tensor& dst);
  // True when the last forward_accumulate fused the add into fc2's GEMM.
  bool residual_fused() const { return fc2_->sum_fused(); }
  // diff_dst is the shape of dst; returns diff_src in the layout of src; writes fc1 and fc2 grads.
  const Tensor& backward(const Tensor& diff_dst) override;
  std::vector<Param*> params()
      override;  // fc1.weight (hidden, D), fc1.bias, fc2.weight (D, hidden), fc2.bias

  const Config& config() const { return cfg_; }

 private:
  const Tensor& activations(const Tensor& src, Mode mode);  // src (B, N, D) -> GELU(fc1(src)) (B, N, hidden)

  Config cfg_;
  std::unique_ptr<Linear> fc1_;  // name() + ".fc1"
  std::unique_ptr<GELU> act_;    // name() + ".act"
  std::unique_ptr<Linear> fc2_;  // name() + ".fc2"
};

}  // namespace vb
