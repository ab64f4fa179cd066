// Stochastic depth on a residual branch (timm drop_path): in training each sample of the batch is kept with
// probability 1-p and scaled by 1/(1-p), or zeroed. Masks come from the counter-based rng, indexed by a call
// counter, so a rerun with the same seed (or a resumed run after set_step) draws the same masks.
#pragma once

#include <cstdint>
#include <string>

#include "models/core/layer.hpp"

namespace vb {

class DropPath : public Layer {
 public:
  struct Config {
    float prob = 0.f;  // p in [0, 1): probability of dropping a sample
    uint64_t seed = 0;
  };

  DropPath(std::string name, Config cfg);

  // src is (B, ...) f32, any layout. Mode::train with p > 0: dst[b] = src[b] * mask[b] in src's layout, where
  // mask[b] = 1/(1-p) if rng::uniform(seed, step * B + b) < 1-p else 0, then step += 1. Otherwise (eval, or
  // p == 0) dst is src itself; a train-mode forward with p == 0 still advances step.
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // diff_dst is the shape of src, any layout; returns diff_src = diff_dst * mask (the last forward's mask)
  // in src's layout.
  const Tensor& backward(const Tensor& diff_dst) override;

  const Config& config() const { return cfg_; }
  // Number of train-mode forwards so far: the counter the next mask is drawn with. A resumed run sets it.
  int64_t step() const { return step_; }
  void set_step(int64_t step);
  // (B) plain: the per-sample factors (0 or 1/(1-p)) of the last masked forward; zeros before one.
  const Tensor& mask() const { return mask_; }

 private:
  void build(const dnnl::memory::desc& src_md);

  Config cfg_;
  int64_t step_ = 0;

  dnnl::memory::desc src_md_;  // the caller's src desc the steps were built for
  int64_t batch_ = 0;
  Tensor mask_;  // (B) plain
  // Binary multiply of a tensor in src's layout by the mask broadcast over all but dim 0. When every sample
  // is a dense block of `sample_stride` elements (plain or nChw16c), tensors are viewed as (1, B, S) and the
  // mask as (1, B, 1), a per-channel broadcast oneDNN has a jit kernel for; otherwise the mask is (B, 1,
  // ...).
  dnnl::memory::desc data_md_;  // the view (or src_md) the binary primitive uses for src0 and dst
  Step fwd_, bwd_;              // same primitive; src0/dst handles set on every call
  Tensor dst_;                  // src's desc
  Tensor out_;                  // returned by forward: dst_ or src itself

  dnnl::memory::desc diff_dst_md_;  // the caller's diff_dst desc diff_dst_to_src_ was built for
  Reorder diff_dst_to_src_;
  Tensor diff_src_;  // src's desc
  Tensor diff_out_;  // returned by backward: diff_src_ or diff_dst itself (identity)

  enum class Saved { none, identity, masked } saved_ = Saved::none;
};

}  // namespace vb
