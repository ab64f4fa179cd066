// Learned additive position table broadcast over the batch: dst = src + table, table (1, ...) (ViT's
// pos_embed (1, N+1, D), TNT's patch_pos and pixel_pos (1, c, 4, 4)). oneDNN binary add with broadcast of the
// table; backward passes diff_dst through and sums it over the batch for the table's gradient.
#pragma once

#include <string>
#include <vector>

#include "models/core/input_reorder.hpp"
#include "models/core/layer.hpp"

namespace vb {

class LearnedPosEmbed : public Layer {
 public:
  struct Config {
    Dims table_shape;                      // (1, ...), e.g. (1, N+1, D) or (1, c, 4, 4)
    std::string param_name = "pos_embed";  // state_dict key suffix: pos_embed, patch_pos, pixel_pos
  };

  // Parameter `param_name` of shape table_shape, no weight decay, initially zero.
  LearnedPosEmbed(std::string name, Config cfg);

  // src is (B, table_shape[1:]...) f32, any layout; dst = src + table in src's layout.
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // diff_dst is the shape of dst, any layout. Returns diff_src = diff_dst (itself when already in src's
  // layout, else reordered into it); writes table.grad = sum over the batch of diff_dst.
  const Tensor& backward(const Tensor& diff_dst) override;
  std::vector<Param*> params() override { return {&table_}; }

  const Config& config() const { return cfg_; }
  Param& table() { return table_; }

 private:
  void build(const dnnl::memory::desc& src_md);

  Config cfg_;
  Param table_;  // table_shape, plain

  dnnl::memory::desc src_md_;  // the caller's src desc the steps were built for
  Step add_;                   // binary add: src0 src, src1 table (broadcast over dim 0), dst
  Tensor dst_;                 // src's desc

  InputReorder diff_dst_to_src_;    // diff_dst -> src's layout (no-op in the usual case)
  Tensor diff_src_;                 // returned: diff_dst itself or its copy in src's layout
  InputReorder diff_dst_to_plain_;  // for the batch sum (no-op in the usual case)

  bool saved_ = false;  // a train-mode forward ran since the last build
};

}  // namespace vb
