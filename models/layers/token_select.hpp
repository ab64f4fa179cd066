// Picks one token of a sequence: (B, N, D) -> (B, D), timm's `x[:, 0]` (the class token fed to the head).
// Forward is one reorder out of a sub-memory of src; backward writes diff_dst into that row of a
// zero-filled diff_src (the other rows stay zero).
#pragma once

#include <string>

#include "models/core/input_reorder.hpp"
#include "models/core/layer.hpp"

namespace vb {

class TokenSelect : public Layer {
 public:
  struct Config {
    int64_t token = 0;  // index along N
  };

  explicit TokenSelect(std::string name) : TokenSelect(std::move(name), Config()) {}
  TokenSelect(std::string name, Config cfg);

  // src is (B, N, D) f32, any layout, N > token; dst is (B, D) plain f32 = src[:, token, :].
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // diff_dst is (B, D), any layout; returns diff_src (B, N, D) in src's layout, zero except row `token`.
  const Tensor& backward(const Tensor& diff_dst) override;

  const Config& config() const { return cfg_; }

 private:
  void build(const dnnl::memory::desc& src_md);
  void build_backward();

  Config cfg_;
  dnnl::memory::desc src_md_;  // the caller's src desc the steps were built for
  Reorder src_to_plain_;       // -> (B, N, D) plain (no-op in the usual case)
  Step fwd_;                   // reorder plain src[:, token:token+1, :] -> dst viewed as (B, 1, D)
  Tensor dst_;                 // (B, D) plain

  bool bwd_built_ = false;          // build_backward() ran since the last build
  InputReorder diff_dst_to_plain_;  // -> (B, D) plain (no-op in the usual case)
  Step bwd_;                        // reorder diff_dst viewed as (B, 1, D) -> diff_plain_[:, token, :]
  Tensor diff_plain_;               // (B, N, D) plain, zero outside row `token` (zeroed at build)
  Reorder diff_plain_to_src_;       // -> src's layout (no-op in the usual case)
  Tensor diff_src_owned_;           // src's layout, when that is not plain
  Tensor diff_src_;                 // returned: diff_plain_ or diff_src_owned_
  bool saved_ = false;              // a train-mode forward ran since the last build
};

}  // namespace vb
