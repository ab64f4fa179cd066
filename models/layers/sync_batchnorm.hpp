// SyncBatchNorm (PyTorch's nn.SyncBatchNorm): BatchNorm2d whose training statistics are those of the global
// batch over every rank of a data-parallel job, not of this rank's slice. Selected by BatchNorm2d::sync_stats
// (ResNet: model field sync_bn=true); this class is the cross-rank part BatchNorm2d calls in that mode.
//
// Forward (training), with n_r values per channel on rank r and N = sum_r n_r:
//   each rank's mean m_r and biased variance v_r (oneDNN's training forward, two-pass: accurate), turned into
//   the channel's sum n_r m_r and sum of squares n_r (v_r + m_r^2) in double, summed over ranks (one
//   allreduce of 2C + 1 doubles, the count included); mean = S1 / N, variance = S2 / N - mean^2 (biased, what
//   normalises); running_var takes the unbiased variance * N / (N - 1) with the *global* N, as
//   torch.nn.SyncBatchNorm. The layer then normalises with these statistics (oneDNN's forward with
//   use_global_stats).
// Backward, with x_hat = (x - mean) / sqrt(var + eps) and dy the rank's incoming gradient:
//   oneDNN's backward with the statistics as constants gives dx0 = gamma / sqrt(var + eps) * dy and this
//   rank's sums sum(dy), sum(dy x_hat) (= its diff_shift, diff_scale); one allreduce of those 2C doubles;
//   then dx = dx0 - gamma / sqrt(var + eps) * (sum_all(dy) / N + x_hat * sum_all(dy x_hat) / N)
//      = dx0 + k1 * (x - mean) + k2,  k1 = -gamma sum_all(dy x_hat) / (N (var + eps)),
//                                     k2 = -gamma sum_all(dy) / (N sqrt(var + eps)),
//   one oneDNN binary (x - mean per channel, post-ops: * k1, + k2, + dx0), in the layout of x.
//   weight and bias gradients stay this rank's own sums: the gradient reducer averages them over the ranks
//   like every other parameter (each rank's dy is that of its slice's mean loss, R times the global loss's).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "models/core/cross_rank.hpp"
#include "models/core/tensor.hpp"

namespace vb {

class BatchNormSync {
 public:
  // sum: the ranks' sum, or null for the process's (cross_rank_sum(), looked up at every call).
  BatchNormSync(std::string name, int64_t channels, float eps, float momentum, CrossRankSum* sum = nullptr);

  // mean, variance: (C) f32 plain, this rank's batch statistics over n values per channel, replaced by the
  // global batch's. running_mean, running_var: (C) f32 plain, updated from the global statistics. Returns N.
  int64_t global_statistics(Tensor& mean, Tensor& variance, int64_t n, Tensor& running_mean,
                            Tensor& running_var);
  // After the backward with the global statistics as constants: src is the forward's input (N, C, H, W),
  // dx0 = gamma / sqrt(var + eps) * dy in the layout of src, diff_scale / diff_shift (C) this rank's sums of
  // dy x_hat and dy. Returns the full diff_src (layout of src), owned here.
  const Tensor& diff_src(const dnnl::memory& src, const Tensor& dx0, const Tensor& mean,
                         const Tensor& variance, const Tensor& weight, const Tensor& diff_scale,
                         const Tensor& diff_shift);

 private:
  CrossRankSum& ranks() { return sum_ ? *sum_ : cross_rank_sum(); }
  void setup(const dnnl::memory::desc& src_md, const dnnl::memory::desc& dx0_md);

  std::string name_;
  int64_t channels_;
  float eps_, momentum_;
  CrossRankSum* sum_;
  int64_t count_ = 0;        // N of the last forward (all ranks)
  std::vector<double> buf_;  // what goes through the allreduce
  Tensor mean_, k1_, k2_;    // (1, C, 1, 1) plain f32: the binary's per-channel operands
  std::optional<dnnl::memory::desc> src_md_, dx0_md_;  // what the binary was built for
  Step correct_;                                       // diff_src = (src - mean) * k1 + k2 + dx0
  Tensor diff_src_;                                    // (N, C, H, W), layout of src
};

}  // namespace vb
