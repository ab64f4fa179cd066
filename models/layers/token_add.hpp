// TokenAdd: adds x (B, N, D) into tokens 1..N of a (B, N+1, D) sequence, leaving token 0 (the cls token)
// alone: TNT's `patch[:, 1:] += proj(words)`. Out of place (the incoming tokens may be another layer's saved
// output or a measurement tap): one host loop writes dst (why not a oneDNN binary: see token_add.cpp).
// Not a Layer (two inputs); backward gives diff_dst to the tokens and diff_dst[:, 1:, :] to x.
#pragma once

#include <string>

#include "models/core/input_reorder.hpp"
#include "models/core/tensor.hpp"

namespace vb {

class TokenAdd {
 public:
  struct Config {
    int64_t dim = 0;  // D
  };

  TokenAdd(std::string name, Config cfg);
  TokenAdd(const TokenAdd&) = delete;
  TokenAdd& operator=(const TokenAdd&) = delete;

  // tokens is (B, N+1, D), x is (B, N, D), both f32 in any layout (plain expected). Returns dst (B, N+1, D)
  // plain: dst[:, 0, :] = tokens[:, 0, :], dst[:, 1:, :] = tokens[:, 1:, :] + x. Owned by the layer, valid
  // until its next forward; primitives are rebuilt only when the tokens' or x's desc changes.
  const Tensor& forward(const Tensor& tokens, const Tensor& x);
  // diff_dst is (B, N+1, D), any layout. Returns diff_x = diff_dst[:, 1:, :] in x's layout; the tokens'
  // gradient (diff_dst in the tokens' layout: diff_dst itself when it already is) is diff_tokens().
  const Tensor& backward(const Tensor& diff_dst);
  const Tensor& diff_tokens() const { return diff_tokens_; }

  const std::string& name() const { return name_; }
  const Config& config() const { return cfg_; }

 private:
  void build(const dnnl::memory::desc& tokens_md, const dnnl::memory::desc& x_md);
  void build_backward();

  std::string name_;
  Config cfg_;

  dnnl::memory::desc tokens_md_, x_md_;  // the caller's descs the steps were built for
  int64_t batch_ = 0, tokens_ = 0;       // B, N (x's token count)
  Reorder tokens_to_plain_;              // -> (B, N+1, D) plain (no-op in the usual case)
  Reorder x_to_plain_;                   // -> (B, N, D) plain (no-op in the usual case)
  Tensor dst_;                           // (B, N+1, D) plain

  bool bwd_built_ = false;           // build_backward() ran since the last build
  InputReorder diff_dst_to_plain_;   // -> (B, N+1, D) plain (no-op in the usual case)
  Step diff_dst_to_diff_x_;          // reorder diff_dst[:, 1:, :] -> diff_x (x's layout)
  Tensor diff_x_;                    // (B, N, D) in x's layout
  InputReorder diff_dst_to_tokens_;  // diff_dst -> tokens' layout (no-op in the usual case)
  Tensor diff_tokens_;               // diff_dst itself or its copy in the tokens' layout
};

}  // namespace vb
