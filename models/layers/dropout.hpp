// Dropout: in training each element is kept with probability 1-p and scaled by 1/(1-p), or zeroed. Masks come
// from the counter-based rng indexed by a call counter and the element's row-major index, so they do not
// depend on the layout, the thread count, or anything but (seed, step).
#pragma once

#include <cstdint>
#include <string>

#include "models/core/layer.hpp"

namespace vb {

class Dropout : public Layer {
 public:
  struct Config {
    float prob = 0.f;  // p in [0, 1): probability of dropping an element
    uint64_t seed = 0;
  };

  Dropout(std::string name, Config cfg);

  // src is (...) f32, any layout. Mode::train with p > 0: dst = src * mask in src's layout, where for the
  // row-major index i, mask[i] = 1/(1-p) if rng::uniform(seed, step * numel + i) < 1-p else 0, then step
  // += 1. Otherwise (eval, or p == 0) dst is src itself; a train-mode forward with p == 0 still advances
  // step.
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // diff_dst is the shape of src, any layout; returns diff_src = diff_dst * mask (the last forward's mask)
  // in src's layout.
  const Tensor& backward(const Tensor& diff_dst) override;

  const Config& config() const { return cfg_; }
  // Number of train-mode forwards so far: the counter the next mask is drawn with. A resumed run sets it.
  int64_t step() const { return step_; }
  void set_step(int64_t step);
  // Shape of src, plain: the factors (0 or 1/(1-p)) of the last masked forward; zeros before one.
  const Tensor& mask() const { return mask_; }

 private:
  void build(const dnnl::memory::desc& src_md);

  Config cfg_;
  int64_t step_ = 0;

  dnnl::memory::desc src_md_;  // the caller's src desc the steps were built for
  Tensor mask_;                // plain, shape of src
  Reorder
      mask_to_src_;  // mask -> src's layout, so that the multiply is a same-layout binary (no-op if plain)
  Step fwd_, bwd_;   // binary multiply by the mask; src0 (and src1) bound on every call
  Tensor dst_;       // src's desc
  Tensor out_;       // returned by forward: dst_ or src itself

  dnnl::memory::desc diff_dst_md_;  // the caller's diff_dst desc diff_dst_to_src_ was built for
  Reorder diff_dst_to_src_;
  Tensor diff_src_;  // src's desc
  Tensor diff_out_;  // returned by backward: diff_src_ or diff_dst itself (identity)

  enum class Saved { none, identity, masked } saved_ = Saved::none;
};

}  // namespace vb
