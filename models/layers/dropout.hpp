// Dropout: in training each element is kept with probability 1-p and scaled by 1/(1-p), or zeroed. Masks come
// from the counter-based rng indexed by a call counter and the element's row-major index, so they do not
// depend on the layout, the thread count, or anything but (seed, step).
#pragma once

#include <string>

#include "models/layers/random_mask.hpp"

namespace vb {

// Config::prob is the probability of dropping an element. forward: src is (...) f32, any layout. Mode::train
// with p > 0: dst = src * mask in src's layout, where for the row-major index i, mask[i] = 1/(1-p) if
// rng::uniform(seed, step * numel + i) < 1-p else 0, then step += 1. Otherwise (eval, or p == 0) dst is src
// itself; a train-mode forward with p == 0 still advances step. backward: see RandomMask. mask() is plain,
// shape of src.
class Dropout : public RandomMask {
 public:
  Dropout(std::string name, Config cfg);

 private:
  // The mask has src's shape; it is reordered into src's layout so that the multiply is a same-layout binary.
  Layout layout(const dnnl::memory::desc& src_md) override;
  const dnnl::memory& mask_operand() override { return mask_to_src_(mask_.mem()); }

  Reorder mask_to_src_;  // mask -> src's layout (no-op if src is plain)
};

}  // namespace vb
