// Linear layer: inner product forward; backward as matmuls (data, weights, bias) on the (rows, in) view of
// src.
#include "models/layers/linear.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "models/core/cpu.hpp"

namespace vb {

using pk = dnnl::prop_kind;

namespace {
// A (rows, cols) plain memory of dtype d sharing `handle` (may be null until set).
dnnl::memory rows_view(int64_t rows, int64_t cols, void* handle, DType d = DType::f32) {
  return dnnl::memory(plain_desc({rows, cols}, d), Runtime::engine(), handle);
}
DType dtype_of(const dnnl::memory::desc& md) {
  return md.data_type() == dt::bf16 ? DType::bf16 : DType::f32;
}
}  // namespace

Linear::Linear(std::string name, Config cfg) : Layer(std::move(name)), cfg_(cfg) {
  check_arg(cfg_.in_features > 0 && cfg_.out_features > 0, name_,
            fmt::format("in_features and out_features must be positive, given {} and {}", cfg_.in_features,
                        cfg_.out_features));
  weight_ = Param{"weight", Tensor({cfg_.out_features, cfg_.in_features}),
                  Tensor({cfg_.out_features, cfg_.in_features}), true};
  if (cfg_.bias) bias_ = Param{"bias", Tensor({cfg_.out_features}), Tensor({cfg_.out_features}), false};
  const double bound = 1.0 / std::sqrt(static_cast<double>(cfg_.in_features));
  weight_.init = cfg_.weight_init.value_or(Init::uniform(-bound, bound));
  bias_.init = cfg_.bias_init.value_or(Init::uniform(-bound, bound));
  check_arg(cfg_.dst_dtype == DType::f32 || cfg_.dtype == DType::bf16, name_, "a bf16 dst needs dtype bf16");
}

Linear::Config Linear::timm_init(Config c) {
  c.weight_init = Init::trunc_normal(0.02, -2.0, 2.0);
  c.bias_init = Init::constant(0.0);
  return c;
}

std::vector<Param*> Linear::params() {
  if (cfg_.bias) return {&weight_, &bias_};
  return {&weight_};
}

void Linear::build(const dnnl::memory::desc& src_md) {
  const auto& eng = Runtime::engine();
  const int64_t in = cfg_.in_features, out = cfg_.out_features;
  src_md_ = src_md;
  src_shape_ = src_md.dims();
  dst_shape_ = src_shape_;
  dst_shape_.back() = out;
  rows_ = product(src_shape_) / in;
  bwd_built_ = false;
  acc_built_ = false;
  saved_ = false;

  // src (M, in) and weights (out, in) in the compute dtype, layout of oneDNN's choice; dst (M, out) plain in
  // dst_dtype (AMX writes bf16 from its f32 accumulators).
  require_dtype(cfg_.dtype, name_);
  const dt cdt = to_dnnl(cfg_.dtype);
  const DType src_dt = dtype_of(src_md);
  const dnnl::memory::desc src_any({rows_, in}, cdt, tag::any), weights_any({out, in}, cdt, tag::any);
  const dnnl::memory::desc bias_md = plain_desc({out}), dst_md = plain_desc({rows_, out}, cfg_.dst_dtype);
  try {
    const auto d =
        cfg_.bias
            ? dnnl::inner_product_forward::desc(pk::forward_training, src_any, weights_any, bias_md, dst_md)
            : dnnl::inner_product_forward::desc(pk::forward_training, src_any, weights_any, dst_md);
    fwd_pd_ = dnnl::inner_product_forward::primitive_desc(d, eng);
  } catch (const dnnl::error& e) {
    throw std::invalid_argument(fmt::format("{}: no {} inner product for src {} ({})", name_,
                                            to_string(cfg_.dtype), to_string(src_shape_), e.what()));
  }
  src_to_plain_ = Reorder(src_md, plain_desc(src_shape_, src_dt));
  src_rows_ = rows_view(rows_, in, nullptr, src_dt);
  src_to_prim_ = Reorder(src_rows_.get_desc(), fwd_pd_.src_desc());
  weights_to_prim_ = Reorder(weight_.value.desc(), fwd_pd_.weights_desc());
  dst_ = Tensor(dst_shape_, cfg_.dst_dtype);
  dst_rows_ = rows_view(rows_, out, dst_.mem().get_data_handle(), cfg_.dst_dtype);
  fwd_ = Step{dnnl::inner_product_forward(fwd_pd_), {{DNNL_ARG_DST, dst_rows_}}};
  if (cfg_.bias) fwd_.args[DNNL_ARG_BIAS] = bias_.value.mem();
  fused_ok_ = false;
  if (cfg_.fuse_gelu_eval) {
    // The same src/weights descs as the training pd, so the reorders above serve both.
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    try {
      const auto d = cfg_.bias ? dnnl::inner_product_forward::desc(pk::forward_inference, fwd_pd_.src_desc(),
                                                                   fwd_pd_.weights_desc(), bias_md, dst_md)
                               : dnnl::inner_product_forward::desc(pk::forward_inference, fwd_pd_.src_desc(),
                                                                   fwd_pd_.weights_desc(), dst_md);
      fwd_eval_gelu_ = Step{dnnl::inner_product_forward({d, attr, eng}), fwd_.args};
      fused_ok_ = true;
    } catch (const dnnl::error&) {  // no fused kernel for this shape/dtype: Mlp runs GELU separately
    }
  }
}

void Linear::check_src(const Tensor& src) {
  check_arg(!src.empty(), name_, "src is empty");
  check_arg(src.shape().size() == 2 || src.shape().size() == 3, name_,
            fmt::format("src has shape {}, expected (M, {}) or (B, N, {})", to_string(src.shape()),
                        cfg_.in_features, cfg_.in_features));
  check_arg(src.dim(-1) == cfg_.in_features, name_,
            fmt::format("src has shape {}, expected last dim in_features = {}", to_string(src.shape()),
                        cfg_.in_features));
  check_dtype(name_, "src", src, cfg_.dtype);
  if (src.desc() != src_md_) build(src.desc());
}

void Linear::bind_src(const Tensor& src, Step& step) {
  src_ = src;
  src_rows_.set_data_handle(src_to_plain_(src.mem()).get_data_handle());
  step.args[DNNL_ARG_SRC] = src_to_prim_(src_rows_);
  step.args[DNNL_ARG_WEIGHTS] = weights_to_prim_.cached(weight_.value);  // reordered once per change
}

const Tensor& Linear::forward(const Tensor& src, Mode mode) {
  check_src(src);
  Step& step = mode == Mode::eval && gelu_fused_in_eval() ? fwd_eval_gelu_ : fwd_;
  bind_src(src, step);
  step.run();
  saved_ = mode == Mode::train;
  return dst_;
}

void Linear::build_accumulate() {
  const auto& eng = Runtime::engine();
  const int64_t out = cfg_.out_features;
  const dnnl::memory::desc dst_md = plain_desc({rows_, out}, cfg_.dst_dtype);
  acc_rows_ = rows_view(rows_, out, nullptr, cfg_.dst_dtype);
  // The training pd's src/weights descs, so the forward's reorders and cached weights serve this one too.
  dnnl::post_ops ops;
  ops.append_sum(1.0f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  sum_ok_ = false;
  if (cfg_.fuse_sum_eval) {
    try {
      const auto d =
          cfg_.bias ? dnnl::inner_product_forward::desc(pk::forward_inference, fwd_pd_.src_desc(),
                                                        fwd_pd_.weights_desc(), plain_desc({out}), dst_md)
                    : dnnl::inner_product_forward::desc(pk::forward_inference, fwd_pd_.src_desc(),
                                                        fwd_pd_.weights_desc(), dst_md);
      fwd_eval_sum_ = Step{dnnl::inner_product_forward({d, attr, eng}), {{DNNL_ARG_DST, acc_rows_}}};
      if (cfg_.bias) fwd_eval_sum_.args[DNNL_ARG_BIAS] = bias_.value.mem();
      sum_ok_ = true;
    } catch (const dnnl::error&) {  // no fused kernel for this shape/dtype: a separate add below
    }
  }
  if (!sum_ok_) {
    const dnnl::binary::primitive_desc pd({dnnl::algorithm::binary_add, dst_md, dst_md, dst_md}, eng);
    acc_add_ = Step{dnnl::binary(pd),
                    {{DNNL_ARG_SRC_0, acc_rows_}, {DNNL_ARG_SRC_1, dst_rows_}, {DNNL_ARG_DST, acc_rows_}}};
  }
  acc_built_ = true;
}

void Linear::forward_accumulate(const Tensor& src, const Tensor& dst) {
  check_src(src);
  check_arg(!dst.empty() && dst.plain(), name_, "the accumulation dst is empty or not plain row-major");
  check_shape(name_, "accumulation dst", dst_shape_, dst.shape());
  check_dtype(name_, "accumulation dst", dst, cfg_.dst_dtype);
  if (!acc_built_) build_accumulate();
  acc_rows_.set_data_handle(dst.mem().get_data_handle());
  Step& step = sum_ok_ ? fwd_eval_sum_ : fwd_;
  bind_src(src, step);
  step.run();
  if (!sum_ok_) acc_add_.run();
  saved_ = false;
}

void Linear::build_backward() {
  const int64_t in = cfg_.in_features, out = cfg_.out_features, M = rows_;
  const DType cd = cfg_.dtype, src_dt = dtype_of(src_md_);
  auto plain = [](int64_t r, int64_t c, DType d) { return plain_desc({r, c}, d); };
  auto mm = [&](const dnnl::memory::desc& a, const dnnl::memory::desc& b, const dnnl::memory::desc& c) {
    try {
      return dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), Runtime::engine()));
    } catch (const dnnl::error& e) {
      throw std::invalid_argument(fmt::format("{}: no {} matmul for the backward of src {} ({})", name_,
                                              to_string(cd), to_string(src_shape_), e.what()));
    }
  };

  // diff_dst^T: the (M, out) compute-dtype buffer read as (out, M) (strides 1, out); handle bound per call.
  diff_dst_t_ = dnnl::memory(dnnl::memory::desc({out, M}, to_dnnl(cd), tag::ba), Runtime::engine(), nullptr);
  diff_dst_to_compute_ = InputReorder(plain_desc(dst_shape_, cd));
  diff_dst_rows_ = rows_view(M, out, nullptr, cd);
  weights_to_compute_ = Reorder(weight_.value.desc(), plain(out, in, cd));
  src_to_compute_ = Reorder(fwd_pd_.src_desc(), plain(M, in, cd));

  // diff_src (M, in) = diff_dst (M, out) x weights (out, in), written plain in src's dtype.
  diff_src_plain_ = Tensor(src_shape_, src_dt);
  bwd_data_ = Step{mm(plain(M, out, cd), plain(out, in, cd), plain(M, in, src_dt)),
                   {{DNNL_ARG_DST, rows_view(M, in, diff_src_plain_.mem().get_data_handle(), src_dt)}}};
  diff_src_to_caller_ = Reorder(diff_src_plain_.desc(), src_md_);
  diff_src_ = diff_src_to_caller_.needed() ? Tensor(src_md_) : diff_src_plain_;

  // weight.grad (out, in) = diff_dst^T (out, M) x src (M, in): f32 accumulation, PyTorch layout.
  bwd_weights_ = Step{mm(diff_dst_t_.get_desc(), plain(M, in, cd), weight_.grad.desc()),
                      {{DNNL_ARG_SRC, diff_dst_t_}, {DNNL_ARG_DST, weight_.grad.mem()}}};
  if (cfg_.bias) {
    // bias.grad (1, out) = ones (1, M) x diff_dst (M, out): the column sums as one more GEMM.
    ones_ = Tensor::from({1, M}, std::vector<float>(M, 1.0f));
    if (cd != DType::f32) {
      Tensor ones_c({1, M}, cd);
      Reorder(ones_.desc(), ones_c.desc()).into(ones_.mem(), ones_c.mem());
      ones_ = ones_c;
    }
    bwd_bias_ = Step{
        mm(ones_.desc(), plain(M, out, cd), plain(1, out, DType::f32)),
        {{DNNL_ARG_SRC, ones_.mem()}, {DNNL_ARG_DST, rows_view(1, out, bias_.grad.mem().get_data_handle())}}};
  }
  bwd_built_ = true;
}

const Tensor& Linear::backward(const Tensor& diff_dst) {
  if (!saved_) throw std::logic_error(name_ + ": backward called without a train-mode forward");
  check_arg(!diff_dst.empty(), name_, "diff_dst is empty");
  check_shape(name_, "diff_dst", dst_shape_, diff_dst.shape());
  check_dtype(name_, "diff_dst", diff_dst, cfg_.dtype);
  if (!bwd_built_) build_backward();
  diff_dst_rows_.set_data_handle(diff_dst_to_compute_(diff_dst.mem()).get_data_handle());
  const dnnl::memory& dy = diff_dst_rows_;  // (M, out), compute dtype
  diff_dst_t_.set_data_handle(dy.get_data_handle());

  bwd_data_.args[DNNL_ARG_SRC] = dy;
  bwd_data_.args[DNNL_ARG_WEIGHTS] = weights_to_compute_.cached(weight_.value);
  bwd_data_.run();
  if (diff_src_to_caller_.needed()) diff_src_to_caller_.into(diff_src_plain_.mem(), diff_src_.mem());

  bwd_weights_.args[DNNL_ARG_WEIGHTS] = src_to_compute_(fwd_.args.at(DNNL_ARG_SRC));
  bwd_weights_.run();
  if (cfg_.bias) {
    bwd_bias_.args[DNNL_ARG_WEIGHTS] = dy;
    bwd_bias_.run();
  }
  return diff_src_;
}

}  // namespace vb
