// Prepends a learned class token to a token sequence: (B, N, D) -> (B, N+1, D), token at position 0 (ViT,
// TNT). Forward is two reorders into views of dst (the token broadcast over the batch with a zero batch
// stride, and src shifted by one row); backward reorders diff_dst[:, 1:, :] out and sums diff_dst[:, 0, :]
// over the batch.
#pragma once

#include <string>
#include <vector>

#include "models/core/input_reorder.hpp"
#include "models/core/layer.hpp"

namespace vb {

class ClsToken : public Layer {
 public:
  struct Config {
    int64_t dim = 0;  // D
  };

  // Parameter `cls_token` (1, 1, D), no weight decay, initially zero. timm keeps it at the model root, so the
  // layer is usually named "": the state_dict key is name.empty() ? p.name : name + "." + p.name.
  ClsToken(std::string name, Config cfg);

  // src is (B, N, D) f32, any layout; dst is (B, N+1, D) plain f32 with dst[:, 0, :] = cls_token.
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // diff_dst is (B, N+1, D), any layout. Returns diff_src = diff_dst[:, 1:, :] in src's layout; writes
  // cls_token.grad = sum over the batch of diff_dst[:, 0, :].
  const Tensor& backward(const Tensor& diff_dst) override;
  std::vector<Param*> params() override { return {&cls_token_}; }

  const Config& config() const { return cfg_; }
  Param& cls_token() { return cls_token_; }

 private:
  void build(const dnnl::memory::desc& src_md);
  void build_backward();

  Config cfg_;
  Param cls_token_;  // (1, 1, D)

  dnnl::memory::desc src_md_;  // the caller's src desc the steps were built for
  int64_t batch_ = 0, tokens_ = 0;
  Tensor dst_;                // (B, N+1, D) plain
  dnnl::memory token_bcast_;  // (B, 1, D) view of cls_token.value with batch stride 0
  Step token_to_dst_;         // reorder token_bcast_ -> dst[:, 0:1, :]
  Step src_to_dst_;           // reorder src -> dst[:, 1:, :]

  bool bwd_built_ = false;          // build_backward() ran since the last build
  InputReorder diff_dst_to_plain_;  // -> (B, N+1, D) plain (no-op in the usual plain case)
  Step diff_dst_to_diff_src_;       // reorder diff_dst[:, 1:, :] -> diff_src (src's layout)
  Tensor diff_src_;                 // (B, N, D) in src's layout

  bool saved_ = false;  // a train-mode forward ran since the last build
};

}  // namespace vb
