// LayerNorm: layer_normalization forward (training / inference) and backward with diff scale and shift.
#include "models/layers/layernorm.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <cmath>
#include <stdexcept>

namespace vb {

using pk = dnnl::prop_kind;
using lnorm_fwd = dnnl::layer_normalization_forward;
using lnorm_bwd = dnnl::layer_normalization_backward;
const auto scale_shift = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;

namespace {
std::vector<float> filled(int64_t n, float v) {
  return std::vector<float>(n, v);
}
}  // namespace

LayerNorm::LayerNorm(std::string name, Config cfg) : Layer(std::move(name)), cfg_(cfg) {
  check_arg(cfg_.dim > 0, name_, fmt::format("dim must be positive, given {}", cfg_.dim));
  check_arg(cfg_.eps >= 0 && std::isfinite(cfg_.eps), name_,
            fmt::format("eps must be >= 0, given {}", cfg_.eps));
  check_arg(cfg_.dtype == DType::f32, name_, "bf16 is not supported yet");
  weight_ = Param{"weight", Tensor::from({cfg_.dim}, filled(cfg_.dim, 1.0f)), Tensor({cfg_.dim}), false};
  bias_ = Param{"bias", Tensor({cfg_.dim}), Tensor({cfg_.dim}), false};
  weight_.init = Init::constant(1.0);  // PyTorch's start: the identity affine map
  bias_.init = Init::constant(0.0);
}

void LayerNorm::build(const dnnl::memory::desc& src_md) {
  const auto& eng = Runtime::engine();
  src_md_ = src_md;
  bwd_built_ = false;
  host_bwd_ = cfg_.dim <= kHostBackwardMaxDim && is_plain(src_md);
  saved_ = false;
  diff_dst_to_src_ = InputReorder(src_md);
  try {
    train_pd_ = lnorm_fwd::primitive_desc({pk::forward_training, src_md, cfg_.eps, scale_shift}, eng);
    const lnorm_fwd::primitive_desc infer_pd({pk::forward_inference, src_md, cfg_.eps, scale_shift}, eng);
    dst_ = Tensor(train_pd_.dst_desc());
    mean_ = dnnl::memory(train_pd_.mean_desc(), eng);
    variance_ = dnnl::memory(train_pd_.variance_desc(), eng);
    const std::unordered_map<int, dnnl::memory> common{{DNNL_ARG_DST, dst_.mem()},
                                                       {DNNL_ARG_SCALE, weight_.value.mem()},
                                                       {DNNL_ARG_SHIFT, bias_.value.mem()}};
    train_ = Step{lnorm_fwd(train_pd_), common};
    train_.args[DNNL_ARG_MEAN] = mean_;
    train_.args[DNNL_ARG_VARIANCE] = variance_;
    infer_ = Step{lnorm_fwd(infer_pd), common};
  } catch (const dnnl::error& e) {
    throw std::invalid_argument(
        fmt::format("{}: no layer normalization for src {} ({})", name_, to_string(src_md.dims()), e.what()));
  }
}

const Tensor& LayerNorm::forward(const Tensor& src, Mode mode) {
  check_arg(!src.empty(), name_, "src is empty");
  const size_t rank = src.shape().size();
  check_arg(rank >= 2 && rank <= 4, name_,
            fmt::format("src has shape {} (rank {}), expected rank 2..4", to_string(src.shape()), rank));
  check_arg(src.dim(-1) == cfg_.dim, name_,
            fmt::format("src has shape {}, expected last dim {}", to_string(src.shape()), cfg_.dim));
  check_f32(name_, "src", src);
  if (src.desc() != src_md_) build(src.desc());

  // dst (..., dim) = (src - mean) / sqrt(variance + eps) * weight + bias, statistics over the last axis
  Step& step = mode == Mode::train ? train_ : infer_;
  step.args[DNNL_ARG_SRC] = src.mem();
  step.run();
  src_ = src;
  saved_ = mode == Mode::train;
  return dst_;
}

void LayerNorm::build_backward() {
  const auto& eng = Runtime::engine();
  if (host_bwd_) {
    diff_src_ = Tensor(src_md_);
    bwd_built_ = true;
    return;
  }
  try {
    const lnorm_bwd::primitive_desc pd({pk::backward, src_md_, src_md_, cfg_.eps, scale_shift}, eng,
                                       train_pd_);
    diff_src_ = Tensor(pd.diff_src_desc());
    bwd_ = Step{lnorm_bwd(pd),
                {{DNNL_ARG_MEAN, mean_},
                 {DNNL_ARG_VARIANCE, variance_},
                 {DNNL_ARG_SCALE, weight_.value.mem()},
                 {DNNL_ARG_SHIFT, bias_.value.mem()},  // unused, but oneDNN 2.6 requires it with use_shift
                 {DNNL_ARG_DIFF_SRC, diff_src_.mem()},
                 {DNNL_ARG_DIFF_SCALE, weight_.grad.mem()},
                 {DNNL_ARG_DIFF_SHIFT, bias_.grad.mem()}}};
  } catch (const dnnl::error& e) {
    throw std::invalid_argument(fmt::format("{}: no layer normalization backward for src {} ({})", name_,
                                            to_string(src_md_.dims()), e.what()));
  }
  bwd_built_ = true;
}

const Tensor& LayerNorm::backward(const Tensor& diff_dst) {
  if (!saved_) throw std::logic_error(name_ + ": backward called without a train-mode forward");
  check_arg(!diff_dst.empty(), name_, "diff_dst is empty");
  check_shape(name_, "diff_dst", src_md_.dims(), diff_dst.shape());
  check_f32(name_, "diff_dst", diff_dst);
  if (!bwd_built_) build_backward();
  if (host_bwd_) {
    backward_host(static_cast<const float*>(src_.mem().get_data_handle()),
                  static_cast<const float*>(diff_dst_to_src_(diff_dst.mem()).get_data_handle()));
    return diff_src_;
  }
  // diff_src, diff_weight = sum over rows of diff_dst * x_hat, diff_bias = sum over rows of diff_dst
  bwd_.args[DNNL_ARG_SRC] = src_.mem();
  bwd_.args[DNNL_ARG_DIFF_DST] = diff_dst_to_src_(diff_dst.mem());
  bwd_.run();
  return diff_src_;
}

// x, dy: (rows, C) plain. With x_hat = (x - mean) * rstd and g = weight * dy (per row):
//   diff_src = rstd * (g - mean_C(g) - x_hat * mean_C(g * x_hat)),
//   diff_weight = sum_rows dy * x_hat, diff_bias = sum_rows dy.
// Each thread sums its own contiguous block of rows (in double), then the blocks are added in thread order:
// the same result for the same thread count, as oneDNN's reductions.
void LayerNorm::backward_host(const float* x, const float* dy) {
  const int64_t C = cfg_.dim, rows = src_.numel() / C;
  const float* mean = static_cast<const float*>(mean_.get_data_handle());
  const float* var = static_cast<const float*>(variance_.get_data_handle());
  const float* w = static_cast<const float*>(weight_.value.mem().get_data_handle());
  float* dx = static_cast<float*>(diff_src_.mem().get_data_handle());
  const int max_threads = omp_get_max_threads();
  partial_.assign(static_cast<size_t>(max_threads) * 2 * C, 0.0);
  int used = 1;
#pragma omp parallel num_threads(max_threads)
  {
    const int t = omp_get_thread_num(), n = omp_get_num_threads();
#pragma omp single
    used = n;
    double* dw = partial_.data() + static_cast<size_t>(t) * 2 * C;
    double* db = dw + C;
    const int64_t r0 = rows * t / n, r1 = rows * (t + 1) / n;
    std::vector<float> xhat(C), g(C);
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * C;
      const float* dyr = dy + r * C;
      const float rstd = 1.0f / std::sqrt(var[r] + cfg_.eps);
      float sum_g = 0.0f, sum_gx = 0.0f;
      for (int64_t c = 0; c < C; ++c) {
        xhat[c] = (xr[c] - mean[r]) * rstd;
        g[c] = w[c] * dyr[c];
        sum_g += g[c];
        sum_gx += g[c] * xhat[c];
        dw[c] += static_cast<double>(dyr[c]) * xhat[c];
        db[c] += dyr[c];
      }
      const float mg = sum_g / C, mgx = sum_gx / C;
      float* dxr = dx + r * C;
      for (int64_t c = 0; c < C; ++c) dxr[c] = rstd * (g[c] - mg - xhat[c] * mgx);
    }
  }
  float* gw = static_cast<float*>(weight_.grad.mem().get_data_handle());
  float* gb = static_cast<float*>(bias_.grad.mem().get_data_handle());
  for (int64_t c = 0; c < C; ++c) {
    double sw = 0.0, sb = 0.0;
    for (int t = 0; t < used; ++t) {
      sw += partial_[static_cast<size_t>(t) * 2 * C + c];
      sb += partial_[static_cast<size_t>(t) * 2 * C + C + c];
    }
    gw[c] = static_cast<float>(sw);
    gb[c] = static_cast<float>(sb);
  }
}

}  // namespace vb
