// Conv2d: convolution_forward / convolution_backward_data / convolution_backward_weights, built once per
// incoming src desc (and diff_dst desc), with format_tag::any for src, weights, dst and their diffs.
// Bias and diff_bias are given as plain (O) f32 so they bind straight to the Param tensors.
#include "models/layers/conv2d.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "models/core/cpu.hpp"

namespace vb {

using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;

namespace {

memory::desc any_desc(const Dims& dims, dt type) {
  return memory::desc(dims, type, tag::any);
}

}  // namespace

Conv2d::Conv2d(std::string name, Config cfg) : Layer(std::move(name)), cfg_(cfg) {
  check_arg(cfg_.in_channels > 0 && cfg_.out_channels > 0, name_,
            fmt::format("channels must be positive, given in_channels {} out_channels {}", cfg_.in_channels,
                        cfg_.out_channels));
  check_arg(cfg_.kernel > 0, name_, fmt::format("kernel must be positive, given {}", cfg_.kernel));
  check_arg(cfg_.stride > 0, name_, fmt::format("stride must be positive, given {}", cfg_.stride));
  check_arg(cfg_.padding >= 0, name_, fmt::format("padding must be >= 0, given {}", cfg_.padding));
  const Dims weight_dims{cfg_.out_channels, cfg_.in_channels, cfg_.kernel, cfg_.kernel};
  weight = Param{"weight", Tensor(weight_dims), Tensor(weight_dims), true};
  if (cfg_.bias) bias = Param{"bias", Tensor({cfg_.out_channels}), Tensor({cfg_.out_channels}), false};
  const double bound = 1.0 / std::sqrt(static_cast<double>(cfg_.in_channels * cfg_.kernel * cfg_.kernel));
  weight.init = cfg_.weight_init.value_or(Init::uniform(-bound, bound));
  bias.init = cfg_.bias_init.value_or(Init::uniform(-bound, bound));
  check_arg(cfg_.dst_dtype == DType::f32 || cfg_.dtype == DType::bf16, name_, "a bf16 dst needs dtype bf16");
}

std::vector<Param*> Conv2d::params() {
  if (cfg_.bias) return {&weight, &bias};
  return {&weight};
}

dnnl::memory::desc Conv2d::src_desc() const {
  if (in_md_ == memory::desc()) throw std::logic_error(fmt::format("{}: src_desc() before forward", name_));
  return fwd_pd_.src_desc();
}

void Conv2d::setup_forward(const memory::desc& src_md) {
  // src is (N, C, H, W); weights (O, C, k, k); dst (N, O, Ho, Wo)
  const Dims src_dims = src_md.dims();
  const Dims dst_dims{src_dims[0], cfg_.out_channels, out_size(src_dims[2]), out_size(src_dims[3])};
  const Dims strides{cfg_.stride, cfg_.stride}, padding{cfg_.padding, cfg_.padding};
  const dt compute = to_dnnl(cfg_.dtype);
  const auto src_any = any_desc(src_dims, compute);
  const auto weights_any = any_desc(weight.value.shape(), compute);
  const auto dst_any = any_desc(dst_dims, to_dnnl(cfg_.dst_dtype));
  require_dtype(cfg_.dtype, name_);
  const auto desc =
      cfg_.bias ? dnnl::convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct,
                                                  src_any, weights_any, plain_desc({cfg_.out_channels}),
                                                  dst_any, strides, padding, padding)
                : dnnl::convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct,
                                                  src_any, weights_any, dst_any, strides, padding, padding);
  fwd_pd_ = dnnl::convolution_forward::primitive_desc(desc, Runtime::engine());
  in_md_ = src_md;
  src_reorder_ = Reorder(src_md, fwd_pd_.src_desc());
  weights_reorder_ = Reorder(weight.value.desc(), fwd_pd_.weights_desc());
  dst_ = Tensor(fwd_pd_.dst_desc());
  fwd_ = Step{dnnl::convolution_forward(fwd_pd_), {{DNNL_ARG_DST, dst_.mem()}}};
  saved_ = false;
  bwd_built_ = false;
}

const Tensor& Conv2d::forward(const Tensor& src, Mode mode) {
  check_rank(name_, "src", 4, src);
  check_dtype(name_, "src", src, cfg_.dtype);
  check_shape(name_, "src", {src.dim(0), cfg_.in_channels, src.dim(2), src.dim(3)}, src.shape());
  check_arg(src.dim(2) + 2 * cfg_.padding >= cfg_.kernel && src.dim(3) + 2 * cfg_.padding >= cfg_.kernel,
            name_,
            fmt::format("src {} is smaller than the kernel {} with padding {}", to_string(src.shape()),
                        cfg_.kernel, cfg_.padding));
  if (src.desc() != in_md_) setup_forward(src.desc());
  src_used_ = src_reorder_(src.mem());
  fwd_.args[DNNL_ARG_SRC] = src_used_;
  fwd_weights_version_ = weight.value.version();
  fwd_.args[DNNL_ARG_WEIGHTS] = weights_reorder_.cached(weight.value);  // reordered once per change
  if (cfg_.bias) fwd_.args[DNNL_ARG_BIAS] = bias.value.mem();
  fwd_.run();
  saved_ = mode == Mode::train;
  return dst_;
}

void Conv2d::setup_backward() {
  const Dims src_dims = in_md_.dims();
  const Dims dst_dims = dst_.shape();
  const Dims strides{cfg_.stride, cfg_.stride}, padding{cfg_.padding, cfg_.padding};
  const dt compute = to_dnnl(cfg_.dtype);
  const auto diff_dst_any = any_desc(dst_dims, compute);

  // diff_src = conv_backward_data(diff_dst, weights). With few input channels (the RGB stem) `any` picks a
  // 16-channel blocked diff_src that is mostly padding; asking for src's own layout instead selects a
  // gemm kernel that measured 2x faster for 3 -> 64 7x7 at 224 (f32), and saves the reorder back.
  // bf16 stems compute this in f32 too: the AMX kernel for 3 input channels took 53% of a ViT-S bf16 training
  // step (ViT-S patch embedding 3 -> 384, 16x16 stride 16: 1776 ms of 3366 at batch 8, vs ~30 ms in f32).
  const bool small_in = cfg_.in_channels < 16 && in_md_.data_type() == dt::f32;
  const dt data_compute = small_in ? dt::f32 : compute;
  const auto data_weights_any = any_desc(weight.value.shape(), data_compute);
  const auto data_diff_dst_any = any_desc(dst_dims, data_compute);
  const dnnl::convolution_backward_data::desc data_desc(
      algorithm::convolution_direct, small_in ? in_md_ : any_desc(src_dims, in_md_.data_type()),
      data_weights_any, data_diff_dst_any, strides, padding, padding);
  // The hint is a forward pd of the same dtypes: the training one, or an f32 one for a bf16 stem.
  dnnl::convolution_forward::primitive_desc hint = fwd_pd_;
  if (data_compute != compute)
    hint = dnnl::convolution_forward::primitive_desc(
        dnnl::convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, in_md_,
                                        data_weights_any, data_diff_dst_any, strides, padding, padding),
        Runtime::engine());
  const dnnl::convolution_backward_data::primitive_desc data_pd(data_desc, Runtime::engine(), hint);
  // diff_weights, diff_bias = conv_backward_weights(src, diff_dst)
  const auto src_any = any_desc(src_dims, compute);
  const auto diff_weights_any = any_desc(weight.value.shape(), dt::f32);
  const auto weights_desc =
      cfg_.bias
          ? dnnl::convolution_backward_weights::desc(algorithm::convolution_direct, src_any, diff_weights_any,
                                                     plain_desc({cfg_.out_channels}), diff_dst_any, strides,
                                                     padding, padding)
          : dnnl::convolution_backward_weights::desc(algorithm::convolution_direct, src_any, diff_weights_any,
                                                     diff_dst_any, strides, padding, padding);
  const dnnl::convolution_backward_weights::primitive_desc weights_pd(weights_desc, Runtime::engine(),
                                                                      fwd_pd_);

  bwd_built_ = true;
  diff_dst_reorder_data_ = InputReorder(data_pd.diff_dst_desc());
  share_diff_dst_ = weights_pd.diff_dst_desc() == data_pd.diff_dst_desc();
  diff_dst_reorder_weights_ = share_diff_dst_ ? InputReorder() : InputReorder(weights_pd.diff_dst_desc());
  weights_to_bwd_ = Reorder(fwd_pd_.weights_desc(), data_pd.weights_desc());
  src_to_bwd_ = Reorder(fwd_pd_.src_desc(), weights_pd.src_desc());

  diff_src_ = Tensor(in_md_);
  diff_src_reorder_ = Reorder(data_pd.diff_src_desc(), in_md_);
  diff_src_scratch_ =
      diff_src_reorder_.needed() ? memory(data_pd.diff_src_desc(), Runtime::engine()) : memory();
  bwd_data_ = Step{dnnl::convolution_backward_data(data_pd),
                   {{DNNL_ARG_DIFF_SRC, diff_src_reorder_.needed() ? diff_src_scratch_ : diff_src_.mem()}}};

  diff_weights_reorder_ = Reorder(weights_pd.diff_weights_desc(), weight.grad.desc());
  diff_weights_scratch_ =
      diff_weights_reorder_.needed() ? memory(weights_pd.diff_weights_desc(), Runtime::engine()) : memory();
  bwd_weights_ = Step{dnnl::convolution_backward_weights(weights_pd), {}};
}

const Tensor& Conv2d::backward(const Tensor& diff_dst) {
  if (!saved_)
    throw std::logic_error(fmt::format("{}: backward needs a forward in Mode::train first", name_));
  check_rank(name_, "diff_dst", 4, diff_dst);
  check_dtype(name_, "diff_dst", diff_dst, cfg_.dtype);
  check_shape(name_, "diff_dst", dst_.shape(), diff_dst.shape());
  if (!bwd_built_) setup_backward();

  const memory& diff_dst_data = diff_dst_reorder_data_(diff_dst.mem());
  bwd_data_.args[DNNL_ARG_DIFF_DST] = diff_dst_data;
  bwd_data_.args[DNNL_ARG_WEIGHTS] =
      weights_to_bwd_.cached(fwd_.args.at(DNNL_ARG_WEIGHTS), fwd_weights_version_);
  bwd_data_.run();
  if (diff_src_reorder_.needed()) diff_src_reorder_.into(diff_src_scratch_, diff_src_.mem());

  bwd_weights_.args[DNNL_ARG_SRC] = src_to_bwd_(src_used_);
  bwd_weights_.args[DNNL_ARG_DIFF_DST] =
      share_diff_dst_ ? diff_dst_data : diff_dst_reorder_weights_(diff_dst.mem());
  bwd_weights_.args[DNNL_ARG_DIFF_WEIGHTS] =
      diff_weights_reorder_.needed() ? diff_weights_scratch_ : weight.grad.mem();
  if (cfg_.bias) bwd_weights_.args[DNNL_ARG_DIFF_BIAS] = bias.grad.mem();
  bwd_weights_.run();
  if (diff_weights_reorder_.needed()) diff_weights_reorder_.into(diff_weights_scratch_, weight.grad.mem());
  return diff_src_;
}

}  // namespace vb
