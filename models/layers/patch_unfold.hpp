// Cuts an image into non-overlapping P x P patches, one row per patch: (B, C, H, W) -> (B, L, C*P*P), exactly
// torch.nn.functional.unfold(x, P, stride=P).transpose(1, 2) (within a patch: channel, then row, then
// column). One oneDNN reorder between two strided 6-D views of the same numbers; backward is the inverse
// reorder (fold).
#pragma once

#include <string>

#include "models/core/input_reorder.hpp"
#include "models/core/layer.hpp"

namespace vb {

class PatchUnfold : public Layer {
 public:
  struct Config {
    int64_t patch = 0;  // P
  };

  PatchUnfold(std::string name, Config cfg);

  // src is (B, C, H, W) f32 (plain expected, any layout accepted), H and W divisible by P;
  // dst is (B, L, C*P*P) plain with L = (H/P)*(W/P), patches in row-major order of the patch grid.
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // diff_dst is (B, L, C*P*P), any layout; returns diff_src = fold(diff_dst) in src's layout.
  const Tensor& backward(const Tensor& diff_dst) override;

  const Config& config() const { return cfg_; }

 private:
  void build(const dnnl::memory::desc& src_md);

  Config cfg_;

  dnnl::memory::desc src_md_;  // the caller's src desc the steps were built for
  Reorder src_to_plain_;       // non-plain src -> (B, C, H, W) plain (usually not needed)
  Step unfold_;                // 6-D reorder: image view of plain src -> patch view of dst
  Tensor dst_;                 // (B, L, C*P*P) plain

  InputReorder diff_dst_to_plain_;  // -> (B, L, C*P*P) plain (usually not needed)
  Step fold_;                       // 6-D reorder: patch view of diff_dst -> image view of diff_src_plain_
  Tensor diff_src_plain_;           // (B, C, H, W) plain
  Reorder diff_src_to_src_;         // plain -> src's layout (usually not needed)
  Tensor diff_src_;                 // returned: diff_src_plain_ or its copy in src's layout

  bool saved_ = false;  // a train-mode forward ran since the last build
};

}  // namespace vb
