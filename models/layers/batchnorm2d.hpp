// BatchNorm2d (PyTorch nn.BatchNorm2d, affine, track_running_stats) on oneDNN batch_normalization in the
// layout of its input. Training uses batch statistics and updates the running averages as PyTorch does (the
// running variance takes the *unbiased* batch variance); eval normalises with the running statistics.
// Config::fuse_relu makes it BatchNorm2d followed by ReLU in one primitive (oneDNN's fuse_norm_relu).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "models/core/input_reorder.hpp"
#include "models/core/layer.hpp"
#include "models/layers/relu.hpp"
#include "models/layers/sync_batchnorm.hpp"

namespace vb {

class BatchNorm2d : public Layer {
 public:
  struct Config {
    int64_t channels = 0;
    float eps = 1e-5f;
    float momentum = 0.1f;  // running = (1 - momentum) * running + momentum * batch
    // bf16: also accepts bf16 src (and diff_dst) and then normalises in bf16 (dst and diff_src bf16);
    // statistics, scale/shift, running averages and grads stay f32.
    DType dtype = DType::f32;
    // dst = max(0, bn(src)): the ReLU after the norm in the same pass (oneDNN fuse_norm_relu), in every mode
    // (training, frozen and synced statistics, eval). The training forward also writes a bit mask of the
    // positive outputs (oneDNN's workspace) and backward zeroes diff_dst where the output was clipped.
    // Where oneDNN has only its reference implementation of the fused primitive but a JIT one of the plain
    // norm (SSE4.1 at 16/32/64 channels), the layer runs the plain norm and a ReLU instead: same function,
    // faster (relu_fused() says which).
    bool fuse_relu = false;
  };

  BatchNorm2d(std::string name, Config cfg);

  // src is (N, C, H, W) f32 (or bf16, see Config::dtype) in any layout; dst has the same shape, layout,
  // dtype (and is >= 0 with Config::fuse_relu).
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // diff_dst is (N, C, H, W) in any layout (with fuse_relu: the gradient of the ReLU's output); returns
  // diff_src in the layout of src. Train forward only.
  const Tensor& backward(const Tensor& diff_dst) override;
  std::vector<Param*> params() override { return {&weight, &bias}; }
  // Non-trainable state for checkpoints and buffer broadcasts: running_mean, running_var,
  // num_batches_tracked.
  std::vector<StateEntry> buffers() override;

  const Config& config() const { return cfg_; }
  // Config::fuse_relu in one oneDNN primitive (true), or as the norm and a separate ReLU (the fallback above;
  // decided when the forward is set up for a src layout).
  bool relu_fused() const { return fused_; }
  // Frozen statistics: a Mode::train forward normalises with the running statistics (and leaves them as they
  // are), and backward treats them as constants: the eval-mode function, with a backward (as PyTorch's
  // eval-mode BatchNorm under autograd). Used by receptive-field measurements, where batch statistics would
  // make every pixel (and every image of the batch) influence every unit.
  void freeze_stats(bool on);
  bool stats_frozen() const { return frozen_; }
  // SyncBatchNorm (models/layers/sync_batchnorm.hpp): training statistics of the global batch over every rank
  // of a data-parallel job, summed through `sum` (null: the process's cross_rank_sum()). Off by default
  // (per-rank statistics, as PyTorch DDP). Frozen statistics take precedence.
  void sync_stats(bool on, CrossRankSum* sum = nullptr);
  bool stats_synced() const { return sync_ != nullptr; }

  Param weight;                     // (C), gamma, initially 1
  Param bias;                       // (C), beta, initially 0
  Tensor running_mean;              // (C), initially 0
  Tensor running_var;               // (C), initially 1
  int64_t num_batches_tracked = 0;  // training forwards so far

 private:
  void setup(const dnnl::memory::desc& src_md);
  void setup_eval();
  void setup_frozen();
  void setup_backward();
  dnnl::normalization_flags flags(bool global_stats) const;  // affine (+ fuse_norm_relu, use_global_stats)

  Config cfg_;
  bool fused_ = false;          // Config::fuse_relu as fuse_norm_relu in the primitives
  std::unique_ptr<ReLU> relu_;  // Config::fuse_relu without a JIT fused primitive: the ReLU after the norm
  dnnl::memory::desc src_md_;   // the src desc everything below was built for
  dnnl::batch_normalization_forward::primitive_desc train_pd_;
  Step train_;              // dst, batch mean and (biased) variance (and workspace_)
  dnnl::memory workspace_;  // fuse_relu: train_'s ReLU mask (oneDNN's workspace; empty without)
  // running_mean = keep_ running_mean + mean_weight_ mean; running_var = keep_ running_var + var_weight_
  // variance (keep_ = 1 - m, mean_weight_ = m, var_weight_ = m n/(n-1): PyTorch's running_var takes the
  // unbiased variance)
  float keep_ = 0.9f, mean_weight_ = 0.1f, var_weight_ = 0.1f;
  std::optional<Step> eval_;  // dst from the running statistics, built on the first eval forward
  bool frozen_ = false;
  std::unique_ptr<BatchNormSync> sync_;  // set: SyncBatchNorm
  dnnl::batch_normalization_forward::primitive_desc
      frozen_pd_;                    // training, use_global_stats (backward's hint)
  std::optional<Step> frozen_step_;  // dst from the running statistics (and frozen_workspace_)
  dnnl::memory frozen_workspace_;    // fuse_relu: frozen_step_'s ReLU mask
  Tensor dst_;                       // (N, C, H, W), layout of src
  Tensor mean_, variance_;           // (C), statistics of the last training batch
  dnnl::memory src_saved_;           // src of the last training forward
  bool saved_ = false;

  bool bwd_built_ = false;         // setup_backward() ran since the forward was set up
  InputReorder diff_dst_reorder_;  // incoming diff_dst -> layout of src
  Step bwd_;
  Tensor diff_src_;  // (N, C, H, W), layout of src
};

}  // namespace vb
