// SyncBatchNorm's cross-rank part (see sync_batchnorm.hpp): two allreduces of per-channel doubles through
// CrossRankSum, the statistics and running averages on the host (C values), and one oneDNN binary with
// post-ops for the terms of diff_src that flow through the global statistics.
#include "models/layers/sync_batchnorm.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace vb {

using dnnl::algorithm;
using dnnl::memory;

BatchNormSync::BatchNormSync(std::string name, int64_t channels, float eps, float momentum, CrossRankSum* sum)
    : name_(std::move(name)), channels_(channels), eps_(eps), momentum_(momentum), sum_(sum) {
  const Dims pc{1, channels_, 1, 1};
  mean_ = Tensor(pc), k1_ = Tensor(pc), k2_ = Tensor(pc);
}

int64_t BatchNormSync::global_statistics(Tensor& mean, Tensor& variance, int64_t n, Tensor& running_mean,
                                         Tensor& running_var) {
  const int64_t C = channels_;
  Runtime::wait();
  float *m = mean.data(), *v = variance.data();
  // [count, C sums, C sums of squares]: exact moments of this rank's slice, summed over the ranks.
  buf_.assign(static_cast<size_t>(2 * C + 1), 0.0);
  buf_[0] = static_cast<double>(n);
  for (int64_t c = 0; c < C; ++c) {
    buf_[1 + c] = n * static_cast<double>(m[c]);
    buf_[1 + C + c] = n * (static_cast<double>(v[c]) + static_cast<double>(m[c]) * m[c]);
  }
  ranks().sum(buf_.data(), static_cast<int64_t>(buf_.size()));
  const double N = buf_[0];
  count_ = static_cast<int64_t>(N);
  check_arg(count_ > 1, name_,
            fmt::format("training needs more than 1 value per channel over all ranks, given {}", count_));
  float *rm = running_mean.data(), *rv = running_var.data();
  const double mom = momentum_;
  for (int64_t c = 0; c < C; ++c) {
    const double mu = buf_[1 + c] / N;
    const double var = std::max(0.0, buf_[1 + C + c] / N - mu * mu);  // biased: what normalises
    m[c] = static_cast<float>(mu);
    v[c] = static_cast<float>(var);
    rm[c] = static_cast<float>((1 - mom) * rm[c] + mom * mu);
    rv[c] = static_cast<float>((1 - mom) * rv[c] + mom * var * N / (N - 1));  // unbiased, global N
  }
  return count_;
}

void BatchNormSync::setup(const memory::desc& src_md, const memory::desc& dx0_md) {
  // diff_src (layout and dtype of dx0) = ((src - mean) * k1 + k2) + dx0; mean, k1, k2 broadcast per channel.
  const memory::desc pc = mean_.desc();
  const dnnl::binary::desc desc(algorithm::binary_sub, src_md, pc, dx0_md);
  dnnl::post_ops ops;
  ops.append_binary(algorithm::binary_mul, pc);
  ops.append_binary(algorithm::binary_add, pc);
  ops.append_binary(algorithm::binary_add, dx0_md);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  const dnnl::binary::primitive_desc pd(desc, attr, Runtime::engine());
  diff_src_ = Tensor(pd.dst_desc());
  correct_ = Step{dnnl::binary(pd),
                  {{DNNL_ARG_SRC_1, mean_.mem()},
                   {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, k1_.mem()},
                   {DNNL_ARG_ATTR_MULTIPLE_POST_OP(1) | DNNL_ARG_SRC_1, k2_.mem()},
                   {DNNL_ARG_DST, diff_src_.mem()}}};
  src_md_ = src_md, dx0_md_ = dx0_md;
}

const Tensor& BatchNormSync::diff_src(const memory& src, const Tensor& dx0, const Tensor& mean,
                                      const Tensor& variance, const Tensor& weight, const Tensor& diff_scale,
                                      const Tensor& diff_shift) {
  if (count_ < 2)
    throw std::logic_error(fmt::format("{}: SyncBatchNorm backward needs a training forward first", name_));
  const int64_t C = channels_;
  Runtime::wait();
  const float *dg = diff_scale.data(), *db = diff_shift.data();
  buf_.assign(static_cast<size_t>(2 * C), 0.0);
  for (int64_t c = 0; c < C; ++c) buf_[c] = db[c], buf_[C + c] = dg[c];
  ranks().sum(buf_.data(), static_cast<int64_t>(buf_.size()));
  const double N = static_cast<double>(count_);
  const float *m = mean.data(), *v = variance.data(), *g = weight.data();
  float *mu = mean_.data(), *k1 = k1_.data(), *k2 = k2_.data();
  for (int64_t c = 0; c < C; ++c) {
    const double var_eps = static_cast<double>(v[c]) + eps_;
    mu[c] = m[c];
    k1[c] = static_cast<float>(-g[c] * buf_[C + c] / (N * var_eps));
    k2[c] = static_cast<float>(-g[c] * buf_[c] / (N * std::sqrt(var_eps)));
  }
  if (!src_md_ || *src_md_ != src.get_desc() || *dx0_md_ != dx0.desc()) setup(src.get_desc(), dx0.desc());
  correct_.args[DNNL_ARG_SRC_0] = src;
  correct_.args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(2) | DNNL_ARG_SRC_1] = dx0.mem();
  correct_.run();
  return diff_src_;
}

}  // namespace vb
