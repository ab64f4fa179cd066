// RandomMask: the common part of DropPath and Dropout, dst = src * mask with a host-drawn mask of factors
// 0 or 1/(1-p), applied by a oneDNN binary multiply. It owns the config, the step counter, the draw, the
// identity paths and the whole backward; subclasses only say how the mask is shaped and laid out.
#pragma once

#include <cstdint>
#include <string>

#include "models/core/input_reorder.hpp"
#include "models/core/layer.hpp"

namespace vb {

class RandomMask : public Layer {
 public:
  struct Config {
    float prob = 0.f;  // p in [0, 1): probability of dropping a mask entry (a sample or an element)
    uint64_t seed = 0;
  };

  // src is f32, any layout. Mode::train with p > 0: draws mask[i] = 1/(1-p) if rng::uniform(seed, step * n
  // + i) < 1-p else 0 for the n entries of the mask (row-major), returns dst = src * mask in src's layout,
  // then step += 1. Otherwise (eval, or p == 0) dst is src itself; a train-mode forward with p == 0 still
  // advances step.
  const Tensor& forward(const Tensor& src, Mode mode) final;
  // diff_dst is the shape of src, any layout; returns diff_src = diff_dst * mask (the last forward's mask)
  // in src's layout.
  const Tensor& backward(const Tensor& diff_dst) final;

  const Config& config() const { return cfg_; }
  // Number of train-mode forwards so far: the counter the next mask is drawn with. A resumed run sets it.
  int64_t step() const { return step_; }
  void set_step(int64_t step);
  // Plain: the factors (0 or 1/(1-p)) of the last masked forward; zeros before one.
  const Tensor& mask() const { return mask_; }

  // Data parallelism (one rank per process, so one setting per process): this process's batch is samples
  // [offset, offset + local) of a global batch of `global` samples. Masks are then drawn as for the global
  // batch (mask entry i of sample k is draw step * n_global + (offset + k) * per_sample + i), so they do not
  // depend on how the batch is split across ranks. A mask whose dim 0 is a multiple m of `local` (samples x
  // tokens, sample-major) scales the three by m. Default (global = 0): the local batch is the whole batch.
  static void set_batch_slice(int64_t offset, int64_t local, int64_t global);

 protected:
  RandomMask(std::string name, Config cfg);

  // The descs the multiply sees: `data` for src0 and dst (src's desc or a view of the same buffer), `mask`
  // for src1 (broadcast against data).
  struct Layout {
    dnnl::memory::desc data, mask;
  };
  // Called when src's desc changes: allocates mask_ (plain, zeros) for src_md and returns the layout.
  virtual Layout layout(const dnnl::memory::desc& src_md) = 0;
  // Called after each draw into mask_: the mask as the multiply's src1 (desc Layout::mask).
  virtual const dnnl::memory& mask_operand() = 0;

  Tensor mask_;  // plain; drawn on the host

 private:
  void build(const dnnl::memory::desc& src_md);

  Config cfg_;
  int64_t step_ = 0;

  dnnl::memory::desc src_md_;  // the caller's src desc the steps were built for
  Step fwd_, bwd_;             // same binary multiply; src0 handle set on every call, src1 after every draw
  Tensor dst_;                 // src's desc
  Tensor out_;                 // returned by forward: dst_ or src itself

  InputReorder diff_dst_to_src_;  // caller's diff_dst -> src's layout
  Tensor diff_src_;               // src's desc
  Tensor diff_out_;               // returned by backward: diff_src_ or diff_dst itself (identity)

  enum class Saved { none, identity, masked } saved_ = Saved::none;
};

}  // namespace vb
