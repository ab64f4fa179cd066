// Stochastic depth on a residual branch (timm drop_path): in training each sample of the batch is kept with
// probability 1-p and scaled by 1/(1-p), or zeroed. Masks come from the counter-based rng, indexed by a call
// counter, so a rerun with the same seed (or a resumed run after set_step) draws the same masks.
#pragma once

#include <string>

#include "models/layers/random_mask.hpp"

namespace vb {

// Config::prob is the probability of dropping a sample. forward: src is (B, ...) f32, any layout. Mode::train
// with p > 0: dst[b] = src[b] * mask[b] in src's layout, where mask[b] = 1/(1-p) if rng::uniform(seed, step *
// B + b) < 1-p else 0, then step += 1. Otherwise (eval, or p == 0) dst is src itself; a train-mode forward
// with p == 0 still advances step. backward: see RandomMask. mask() is (B) plain: the per-sample factors.
class DropPath : public RandomMask {
 public:
  DropPath(std::string name, Config cfg);

 private:
  // The mask (B) broadcast over all but dim 0. When every sample is a dense block of `sample_stride`
  // elements (plain or nChw16c), tensors are viewed as (1, B, S) and the mask as (1, B, 1), a per-channel
  // broadcast oneDNN has a jit kernel for; otherwise the mask is (B, 1, ...) against src's desc.
  Layout layout(const dnnl::memory::desc& src_md) override;
  const dnnl::memory& mask_operand() override { return mask_view_; }

  dnnl::memory mask_view_;  // mask_'s buffer seen as Layout::mask
};

}  // namespace vb
