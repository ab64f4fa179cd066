// timm's pre-norm transformer `Block` on (B, N, D) tokens:
//   x = x + drop_path1(attn(norm1(x)));  x = x + drop_path2(mlp(norm2(x)))
// used by ViT (`blocks.i`) and by TNT's inner and outer transformers, whose sub-layers have other names
// (Names). Parameters are named relative to the block in PyTorch state_dict order.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/blocks/mlp.hpp"
#include "models/core/layer.hpp"
#include "models/layers/add.hpp"
#include "models/layers/attention.hpp"
#include "models/layers/drop_path.hpp"
#include "models/layers/layernorm.hpp"

namespace vb {

class TransformerBlock : public Layer {
 public:
  // Sub-layer names (state_dict key segments). Defaults are ViT's; TNT inner: {"norm_in", "attn_in",
  // "norm_mlp_in", "mlp_in"}, TNT outer: {"norm_out", "attn_out", "norm_mlp", "mlp"}.
  struct Names {
    std::string norm1 = "norm1", attn = "attn", norm2 = "norm2", mlp = "mlp";
  };
  struct Config {
    int64_t dim = 0;    // D
    int64_t heads = 0;  // D % heads == 0
    bool qkv_bias = true;
    QkvLayout qkv = QkvLayout::fused;
    int64_t mlp_hidden = 0;
    float ln_eps = 1e-6f;  // ViT 1e-6, TNT 1e-5
    // Stochastic depth on both residual branches: drop_path1 draws its masks from stream `seed`,
    // drop_path2 from stream `seed + 1` (DropPath's rule). 0 = identity.
    float drop_path = 0.f;
    uint64_t seed = 0;
    DType dtype = DType::f32;  // attention and MLP; the LayerNorms stay f32
    Names names = {};
    // Eval mode: the residual adds run in the GEMM epilogues (oneDNN sum post-ops of attention's proj and of
    // fc2) instead of two binary adds; false runs the adds separately, as training always does.
    bool fuse_residual_eval = true;
  };

  TransformerBlock(std::string name, Config cfg);

  // src is (B, N, D) f32 (plain expected); dst is (B, N, D) plain f32.
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // diff_dst is (B, N, D); returns diff_src (B, N, D) and writes every parameter's grad.
  const Tensor& backward(const Tensor& diff_dst) override;
  // norm1.weight, norm1.bias, attn.qkv.weight, attn.qkv.bias, attn.proj.weight, attn.proj.bias,
  // norm2.weight, norm2.bias, mlp.fc1.weight, mlp.fc1.bias, mlp.fc2.weight, mlp.fc2.bias (with the
  // configured names; attention keys as Attention::params()).
  std::vector<Param*> params() override;

  const Config& config() const { return cfg_; }
  Attention& attn() { return *attn_; }  // attn().probs(): (B, H, N, N) of the last forward
  const Attention& attn() const { return *attn_; }
  DropPath& drop_path1() { return *drop_path1_; }
  DropPath& drop_path2() { return *drop_path2_; }
  // New stochastic-depth streams (seed, seed + 1), steps back to 0 (a model's init(seed) calls this).
  void reseed(uint64_t seed);
  void set_random_step(int64_t step);  // both drop paths' counters (resume)
  // True when the last eval forward ran both residual adds as sum post-ops (oneDNN had the kernels).
  bool residual_fused() const { return fused_ran_ && attn_->residual_fused() && mlp_->residual_fused(); }

 private:
  const Tensor& forward_eval_fused(const Tensor& x);

  Config cfg_;
  std::unique_ptr<LayerNorm> norm1_;
  std::unique_ptr<Attention> attn_;
  std::unique_ptr<DropPath> drop_path1_;
  Add add1_;  // x1 = x + drop_path1(attn(norm1(x)))
  std::unique_ptr<LayerNorm> norm2_;
  std::unique_ptr<Mlp> mlp_;
  std::unique_ptr<DropPath> drop_path2_;
  Add add2_;  // dst = x1 + drop_path2(mlp(norm2(x1)))
  // Backward: the residual gradient plus the branch's gradient (Add's forward used as a sum).
  Add sum2_, sum1_;

  // Fused eval forward: stream_ (B, N, D) plain f32 starts as a copy of x; attention's proj adds into it
  // (x1), then fc2 adds into it in place (dst), since x1 is not needed once norm2 has read it.
  dnnl::memory::desc x_md_;  // the desc copy_x_ was built for
  Step copy_x_;              // x -> stream_ (a oneDNN reorder: multi-threaded, any layout)
  Tensor stream_;
  bool fused_ran_ = false;
};

}  // namespace vb
