// Multi-head self-attention as timm's `Attention` (ViT) and tnt's `Attention` (TNT): (B, N, D) -> (B, N, D).
// The core between the projections runs oneDNN matmuls batched over (B, H), with a softmax primitive in
// between. Training first copies q, k and v from strided (B, H, N, dh) views of the projection outputs into
// dense per-head buffers (one reorder each; backward reads them): oneDNN 2.6 has only its slow gemm:jit
// matmul for the strided views, but brgemm (AMX for bf16) for dense ones: QK^T and PV measured 4-8x faster
// on TNT's 16-word inner attention, ~1.8x faster for bf16 QK^T at ViT-S. Inference reads the strided views
// directly: without the three copies a whole eval forward measured faster, f32 and bf16 (docs/models.md).
// bf16: the projections write bf16 q/k/v and read a bf16 context, the core matmuls read bf16 (f32
// accumulation), the scores and the softmax are f32 and the softmax writes bf16 probabilities for P V.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/core/layer.hpp"
#include "models/layers/linear.hpp"

namespace vb {

// How q, k, v are projected from the input.
//   fused:         qkv = Linear(D, 3D), last axis (3, H, dh) = q, k, v  (timm vision_transformer `Attention`)
//   separate_qk_v: qk = Linear(D, 2D), last axis (2, H, dh) = q, k;
//                  v = Linear(D, D)                                     (timm tnt `Attention`)
enum class QkvLayout { fused, separate_qk_v };

class Attention : public Layer {
 public:
  struct Config {
    int64_t dim = 0;    // D, model width
    int64_t heads = 0;  // H; head_dim dh = D / H, scale dh^-0.5
    bool qkv_bias = true;
    QkvLayout qkv = QkvLayout::fused;
    // bf16: projections and the QK^T / PV matmuls in bf16 (f32 accumulation, f32 scores and softmax, bf16
    // probabilities); src, dst, params and grads stay f32.
    DType dtype = DType::f32;
  };

  Attention(std::string name, Config cfg);

  // src is (B, N, D) f32 (plain expected); dst is (B, N, D) plain f32. Keeps the attention probabilities
  // (readable through probs()) in both modes.
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // Eval mode only: dst += attention(src), dst (B, N, D) plain f32 owned by the caller (the block's residual
  // stream): the output projection accumulates into it (Linear::forward_accumulate).
  void forward_accumulate(const Tensor& src, const Tensor& dst);
  // True when the last forward_accumulate fused the add into the projection's GEMM.
  bool residual_fused() const { return proj_->sum_fused(); }
  // diff_dst is (B, N, D); returns diff_src in the layout of src and writes every projection's grads.
  const Tensor& backward(const Tensor& diff_dst) override;
  // The projections' parameters, named relative to this layer so that the full state_dict key is
  // name() + "." + p->name, as for any layer:
  //   fused:         qkv.weight (3D, D), qkv.bias (3D) [if qkv_bias], proj.weight (D, D), proj.bias (D)
  //   separate_qk_v: qk.weight (2D, D), qk.bias (2D) [if qkv_bias], v.weight (D, D), v.bias (D) [if
  //                  qkv_bias], proj.weight, proj.bias
  // (The sub-layers themselves are named name() + ".qkv" etc., which is what their error messages say.)
  std::vector<Param*> params() override;

  // Attention probabilities of the last forward, (B, H, N queries, N keys), plain, rows sum to 1: f32, or
  // bf16 for a bf16 layer (read them with to_vector()).
  // Valid until the next forward; empty before the first one.
  const Tensor& probs() const { return probs_; }
  const Config& config() const { return cfg_; }

 private:
  void build(int64_t batch, int64_t tokens);         // forward core for (B, N)
  const Tensor& core(const Tensor& src, Mode mode);  // src (B, N, D) -> ctx_ (B, N, D): all but proj
  void build_backward();

  Config cfg_;
  int64_t head_dim_ = 0;
  float scale_ = 1.0f;
  std::unique_ptr<Linear> in_;    // qkv (D -> 3D) or qk (D -> 2D)
  std::unique_ptr<Linear> v_;     // v (D -> D), separate_qk_v only
  std::unique_ptr<Linear> proj_;  // D -> D
  int64_t in_stride_ = 0;         // last dim of in_'s dst: 3D or 2D
  int64_t v_stride_ = 0;          // last dim of the buffer holding v: 3D (fused) or D
  int64_t v_offset_ = 0;          // offset of v within a token's row: 2D (fused) or 0

  // Forward core, built for one (B, N).
  Dims shape_;                        // (B, N, D) the core is built for
  dnnl::memory in_dst_, v_dst_;       // in_'s dst (B, N, 3D | 2D) and the buffer holding v (same or v_'s dst)
  dnnl::memory q_, k_, v_view_;       // (B, H, N, dh) strided views into the projection outputs
  Tensor qkv_dense_;                  // (3, B, H, N, dh): q, k, v, each dense (compute dtype)
  dnnl::memory q_d_, k_d_, v_d_;      // (B, H, N, dh) dense views of its three parts
  dnnl::memory k_dt_;                 // (B, H, dh, N): k_d_ read transposed
  Step split_q_, split_k_, split_v_;  // strided view -> dense
  Tensor scores_;  // (B, H, N, N) f32: scaled logits (f32: probs_ itself, softmax in place)
  Tensor probs_;   // (B, H, N, N): softmax of scores_, in the compute dtype
  Tensor ctx_;     // (B, N, D) = (B, N, H, dh): P V with heads concatenated, proj's src
  Step qk_, softmax_, pv_;
  dnnl::memory k_t_;        // (B, H, dh, N): k_ read transposed, strided (eval)
  Step qk_eval_, pv_eval_;  // eval: QK^T and PV on the strided views, no copies
  dnnl::softmax_v2_forward::primitive_desc softmax_pd_;

  // Backward core, built on the first backward after a (re)build.
  bool bwd_built_ = false;
  dnnl::memory d_ctx_view_;  // (B, H, N, dh) view of proj's diff_src
  dnnl::memory v_t_;         // (B, H, dh, N): v_d_ read transposed
  Tensor d_probs_;           // (B, H, N, N): dP, then dS in place (compute dtype)
  Tensor d_in_;              // (B, N, 3D | 2D): diff of in_'s dst (compute dtype)
  Tensor d_v_;               // (B, N, D): diff of v_'s dst (separate_qk_v only)
  Step dp_, dv_, softmax_bwd_, dq_, dk_;
  Step sum_;  // diff_src = qk path + v path (separate_qk_v only)
  bool sum_built_ = false;
  Tensor diff_src_;  // (B, N, D), separate_qk_v only

  bool saved_ = false;  // a train-mode forward ran since the last build
};

}  // namespace vb
