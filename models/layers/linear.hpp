// Linear (fully connected) layer y = x W^T + b over the last axis of a (M, in) or (B, N, in) tensor, as one
// oneDNN inner product on the (rows, in) view of the input: an inner product on a 3-D tensor would flatten
// (N, in) instead, so token tensors are viewed as 2-D matrices; backward is three matmuls. bf16 converts
// src/weights (f32 accumulation); dst is f32 unless dst_dtype asks for bf16 (when the next op reads bf16
// anyway: saves a conversion pass).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "models/core/input_reorder.hpp"
#include "models/core/layer.hpp"

namespace vb {

class Linear : public Layer {
 public:
  struct Config {
    int64_t in_features = 0;
    int64_t out_features = 0;
    bool bias = true;
    DType dtype = DType::f32;
    DType dst_dtype = DType::f32;  // bf16 only with dtype bf16
    // Eval-mode forward applies exact GELU to dst in the GEMM's epilogue (a oneDNN post-op): Mlp's fc1 then
    // skips its GELU pass in inference. Train mode is unchanged (GELU's backward needs fc1's output).
    bool fuse_gelu_eval = false;
    // forward_accumulate adds into its dst in the GEMM's epilogue (a oneDNN sum post-op); false runs the
    // fallback oneDNN needs where it has no such kernel (GEMM to the layer's own dst, then a binary add).
    bool fuse_sum_eval = true;
    // How weight and bias start (init(seed)); unset: PyTorch's nn.Linear default, U(+-1/sqrt(in_features)).
    std::optional<Init> weight_init = std::nullopt;
    std::optional<Init> bias_init = std::nullopt;
  };
  // `c` with timm's start for the nn.Linear layers of its ViT and TNT (_init_weights): weight
  // trunc_normal(std 0.02, +-2), bias 0.
  static Config timm_init(Config c);

  Linear(std::string name, Config cfg);

  // src is (M, in) or (B, N, in), f32 (or bf16 when dtype is bf16), any layout (plain expected); dst is
  // (M, out) or (B, N, out), plain, in dst_dtype.
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // Eval mode only: dst += src W^T + b in place, dst (M, out) or (B, N, out) plain in dst_dtype and owned by
  // the caller (a residual stream). The GEMM reads dst back in its epilogue (a oneDNN sum post-op, built on
  // the first call after a (re)build); where oneDNN has no such kernel it writes its own dst and a binary
  // add folds that in. Leaves nothing for backward.
  void forward_accumulate(const Tensor& src, const Tensor& dst);
  // diff_dst is the shape of dst, f32 (or bf16 when dtype is bf16), any layout; returns diff_src in the
  // layout and dtype of src; writes weight/bias grads (f32).
  const Tensor& backward(const Tensor& diff_dst) override;
  std::vector<Param*> params() override;

  const Config& config() const { return cfg_; }
  // True when an eval-mode forward returns GELU(x W^T + b) (fuse_gelu_eval, and oneDNN built the fused
  // kernel).
  bool gelu_fused_in_eval() const { return cfg_.fuse_gelu_eval && fused_ok_; }
  // True when forward_accumulate ran the GEMM with the sum post-op (false before its first call).
  bool sum_fused() const { return acc_built_ && sum_ok_; }
  Param& weight() { return weight_; }  // (out, in)
  // Weight conversions run so far (forward + backward): tests check each weight is converted once per change.
  int64_t weight_reorders() const { return weights_to_prim_.runs() + weights_to_compute_.runs(); }
  Param& bias() { return bias_; }  // (out); unused when cfg.bias is false

 private:
  void build(const dnnl::memory::desc& src_md);
  void build_backward();
  void build_accumulate();
  void check_src(const Tensor& src);             // refuses a bad src; (re)builds for a new desc
  void bind_src(const Tensor& src, Step& step);  // points step at src (reordered) and the weights

  Config cfg_;
  Param weight_;  // (out, in), PyTorch layout
  Param bias_;    // (out)

  // Set up for one input desc (shape + layout); rebuilt when it changes. Reorders are no-ops in the
  // common f32 plain case; their outputs are put into the argument maps on every call (no allocation).
  dnnl::memory::desc src_md_;  // the caller's src desc
  Dims src_shape_, dst_shape_;
  int64_t rows_ = 0;       // M = product of the leading dims
  Tensor src_;             // the caller's src, kept alive for backward
  Reorder src_to_plain_;   // non-plain caller src -> plain (..., in) f32 (usually not needed)
  dnnl::memory src_rows_;  // (M, in) plain f32 view of the plain src
  Reorder src_to_prim_;    // (M, in) plain f32 -> the pd's src desc (bf16 / blocked)
  Reorder
      weights_to_prim_;  // (out, in) plain f32 -> the pd's weights desc; redone only when the weight changed
  dnnl::inner_product_forward::primitive_desc fwd_pd_;
  Step fwd_;
  Step fwd_eval_gelu_;  // forward_inference with the GELU post-op, same src/weights descs as fwd_pd_
  bool fused_ok_ = false;
  Tensor dst_;             // (..., out) plain f32
  dnnl::memory dst_rows_;  // (M, out) view of dst_

  // forward_accumulate, built on its first call after a (re)build.
  bool acc_built_ = false;
  bool sum_ok_ = false;    // fwd_eval_sum_ exists; otherwise fwd_ then acc_add_
  dnnl::memory acc_rows_;  // (M, out) view of the caller's dst, bound per call
  Step fwd_eval_sum_;      // forward_inference, sum post-op (scale 1) into acc_rows_
  Step acc_add_;           // fallback: acc_rows_ += dst_rows_ (binary add, in place)

  // Backward, built on the first backward after a (re)build: three oneDNN matmuls on plain row-major views
  // (brgemm; measured ~1.4x faster than inner_product's backward kernels at ViT-S shapes, and they write the
  // gradient in PyTorch layout directly, with no reorder).
  bool bwd_built_ = false;
  InputReorder
      diff_dst_to_compute_;     // caller's diff_dst (any layout, f32/bf16) -> (..., out) plain, compute dtype
  dnnl::memory diff_dst_rows_;  // (M, out) view of that
  dnnl::memory diff_dst_t_;     // the same buffer read as (out, M): diff_dst^T
  Reorder weights_to_compute_;  // (out, in) f32 -> (out, in) plain in the compute dtype (cached likewise)
  Reorder src_to_compute_;      // the forward's src (pd layout) -> (M, in) plain in the compute dtype
  Step bwd_data_;               // diff_src (M, in) = diff_dst (M, out) x weights (out, in)
  Tensor diff_src_plain_;       // (..., in) plain, src's dtype
  Reorder diff_src_to_caller_;  // plain -> caller's src layout (usually not needed)
  Tensor diff_src_;             // returned: layout of the caller's src
  Step bwd_weights_;            // weight.grad (out, in) = diff_dst^T (out, M) x src (M, in), f32
  Tensor ones_;                 // (1, M) ones in the compute dtype
  Step bwd_bias_;               // bias.grad (1, out) = ones (1, M) x diff_dst (M, out), f32

  bool saved_ = false;  // a train-mode forward ran since the last build
};

}  // namespace vb
