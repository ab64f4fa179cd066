// Linear layer: inner product forward / backward_data / backward_weights on the (rows, in) view of src.
#include "models/layers/linear.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace vb {

using pk = dnnl::prop_kind;

namespace {
// A (rows, cols) plain memory of dtype d sharing `handle` (may be null until set).
dnnl::memory rows_view(int64_t rows, int64_t cols, void* handle, DType d = DType::f32) {
  return dnnl::memory(plain_desc({rows, cols}, d), Runtime::engine(), handle);
}
DType dtype_of(const dnnl::memory::desc& md) { return md.data_type() == dt::bf16 ? DType::bf16 : DType::f32; }
}  // namespace

Linear::Linear(std::string name, Config cfg) : Layer(std::move(name)), cfg_(cfg) {
  check_arg(cfg_.in_features > 0 && cfg_.out_features > 0, name_,
            fmt::format("in_features and out_features must be positive, given {} and {}", cfg_.in_features,
                        cfg_.out_features));
  weight_ = Param{"weight", Tensor({cfg_.out_features, cfg_.in_features}),
                  Tensor({cfg_.out_features, cfg_.in_features}), true};
  if (cfg_.bias) bias_ = Param{"bias", Tensor({cfg_.out_features}), Tensor({cfg_.out_features}), false};
  check_arg(cfg_.dst_dtype == DType::f32 || cfg_.dtype == DType::bf16, name_, "a bf16 dst needs dtype bf16");
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
  saved_ = false;
  diff_dst_md_ = {};

  // src (M, in) and weights (out, in) in the compute dtype, layout of oneDNN's choice; dst (M, out) plain in
  // dst_dtype (AMX writes bf16 from its f32 accumulators).
  if (cfg_.dtype == DType::bf16 && !bf16_supported()) throw std::invalid_argument(bf16_unsupported(name_));
  const dt cdt = to_dnnl(cfg_.dtype);
  const DType src_dt = dtype_of(src_md);
  const dnnl::memory::desc src_any({rows_, in}, cdt, tag::any), weights_any({out, in}, cdt, tag::any);
  const dnnl::memory::desc bias_md = plain_desc({out}), dst_md = plain_desc({rows_, out}, cfg_.dst_dtype);
  try {
    const auto d = cfg_.bias ? dnnl::inner_product_forward::desc(pk::forward_training, src_any, weights_any, bias_md, dst_md)
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
}

const Tensor& Linear::forward(const Tensor& src, Mode mode) {
  check_arg(!src.empty(), name_, "src is empty");
  check_arg(src.shape().size() == 2 || src.shape().size() == 3, name_,
            fmt::format("src has shape {}, expected (M, {}) or (B, N, {})", to_string(src.shape()),
                        cfg_.in_features, cfg_.in_features));
  check_arg(src.dim(-1) == cfg_.in_features, name_,
            fmt::format("src has shape {}, expected last dim in_features = {}", to_string(src.shape()),
                        cfg_.in_features));
  check_dtype(name_, "src", src, cfg_.dtype);
  if (src.desc() != src_md_) build(src.desc());

  src_ = src;
  src_rows_.set_data_handle(src_to_plain_(src.mem()).get_data_handle());
  fwd_.args[DNNL_ARG_SRC] = src_to_prim_(src_rows_);
  fwd_.args[DNNL_ARG_WEIGHTS] = weights_to_prim_(weight_.value.mem());
  fwd_.run();
  saved_ = mode == Mode::train;
  return dst_;
}

void Linear::build_backward() {
  const auto& eng = Runtime::engine();
  const int64_t in = cfg_.in_features, out = cfg_.out_features;
  const dt cdt = to_dnnl(cfg_.dtype);
  const dnnl::memory::desc diff_dst_any({rows_, out}, cdt, tag::any), weights_any({out, in}, cdt, tag::any);
  const dnnl::memory::desc src_any({rows_, in}, cdt, tag::any), diff_weights_any({out, in}, dt::f32, tag::any);
  const DType src_dt = dtype_of(src_md_);
  const dnnl::memory::desc diff_src_plain = plain_desc({rows_, in}, src_dt);  // diff_src in src's dtype

  dnnl::inner_product_backward_data::primitive_desc data_pd;
  dnnl::inner_product_backward_weights::primitive_desc weights_pd;
  try {
    // diff_src straight into the plain result (src's dtype) when oneDNN allows it (it does for f32; for bf16
    // too with the brgemm kernels), otherwise in the compute dtype and reordered.
    try {
      data_pd = {{diff_src_plain, weights_any, diff_dst_any}, eng, fwd_pd_};
    } catch (const dnnl::error&) {
      data_pd = {{dnnl::memory::desc({rows_, in}, cdt, tag::any), weights_any, diff_dst_any}, eng, fwd_pd_};
    }
    const dnnl::memory::desc diff_bias_md = plain_desc({out});
    weights_pd = cfg_.bias ? dnnl::inner_product_backward_weights::primitive_desc(
                                 {src_any, diff_weights_any, diff_bias_md, diff_dst_any}, eng, fwd_pd_)
                           : dnnl::inner_product_backward_weights::primitive_desc(
                                 {src_any, diff_weights_any, diff_dst_any}, eng, fwd_pd_);
  } catch (const dnnl::error& e) {
    throw std::invalid_argument(fmt::format("{}: no {} inner product backward for src {} ({})", name_,
                                            to_string(cfg_.dtype), to_string(src_shape_), e.what()));
  }

  data_diff_dst_md_ = data_pd.diff_dst_desc();
  weights_diff_dst_md_ = weights_pd.diff_dst_desc();
  share_diff_dst_ = data_diff_dst_md_ == weights_diff_dst_md_;
  weights_to_data_ = Reorder(weight_.value.desc(), data_pd.weights_desc());

  // diff_src: primitive output -> (M, in) plain rows -> caller's src layout.
  diff_src_plain_ = Tensor(src_shape_, src_dt);
  diff_src_rows_ = rows_view(rows_, in, diff_src_plain_.mem().get_data_handle(), src_dt);
  diff_src_to_rows_ = Reorder(data_pd.diff_src_desc(), diff_src_plain);
  diff_src_prim_ = diff_src_to_rows_.needed() ? dnnl::memory(data_pd.diff_src_desc(), eng) : diff_src_rows_;
  diff_src_to_caller_ = Reorder(diff_src_plain_.desc(), src_md_);
  diff_src_ = diff_src_to_caller_.needed() ? Tensor(src_md_) : diff_src_plain_;
  bwd_data_ = Step{dnnl::inner_product_backward_data(data_pd), {{DNNL_ARG_DIFF_SRC, diff_src_prim_}}};

  // diff_weights (layout of oneDNN's choice) -> weight.grad (out, in); diff_bias straight into bias.grad.
  src_to_weights_ = Reorder(fwd_pd_.src_desc(), weights_pd.src_desc());
  diff_weights_to_grad_ = Reorder(weights_pd.diff_weights_desc(), weight_.grad.desc());
  diff_weights_prim_ =
      diff_weights_to_grad_.needed() ? dnnl::memory(weights_pd.diff_weights_desc(), eng) : weight_.grad.mem();
  bwd_weights_ = Step{dnnl::inner_product_backward_weights(weights_pd), {{DNNL_ARG_DIFF_WEIGHTS, diff_weights_prim_}}};
  if (cfg_.bias) bwd_weights_.args[DNNL_ARG_DIFF_BIAS] = bias_.grad.mem();
  bwd_built_ = true;
}

const Tensor& Linear::backward(const Tensor& diff_dst) {
  if (!saved_) throw std::logic_error(name_ + ": backward called without a train-mode forward");
  check_arg(!diff_dst.empty(), name_, "diff_dst is empty");
  check_shape(name_, "diff_dst", dst_shape_, diff_dst.shape());
  check_dtype(name_, "diff_dst", diff_dst, cfg_.dtype);
  if (!bwd_built_) build_backward();
  if (diff_dst.desc() != diff_dst_md_) {
    // diff_dst -> plain in its own dtype -> (M, out) rows -> what each backward primitive wants.
    const DType d = diff_dst.dtype();
    diff_dst_to_plain_ = Reorder(diff_dst.desc(), plain_desc(dst_shape_, d));
    diff_dst_rows_ = rows_view(rows_, cfg_.out_features, nullptr, d);
    diff_dst_to_data_ = Reorder(diff_dst_rows_.get_desc(), data_diff_dst_md_);
    diff_dst_to_weights_ = Reorder(diff_dst_rows_.get_desc(), weights_diff_dst_md_);
    diff_dst_md_ = diff_dst.desc();
  }
  diff_dst_rows_.set_data_handle(diff_dst_to_plain_(diff_dst.mem()).get_data_handle());

  // diff_src (M, in) = diff_dst (M, out) x weights (out, in)
  bwd_data_.args[DNNL_ARG_DIFF_DST] = diff_dst_to_data_(diff_dst_rows_);
  bwd_data_.args[DNNL_ARG_WEIGHTS] = weights_to_data_(weight_.value.mem());
  bwd_data_.run();
  if (diff_src_to_rows_.needed()) diff_src_to_rows_.into(diff_src_prim_, diff_src_rows_);
  if (diff_src_to_caller_.needed()) diff_src_to_caller_.into(diff_src_plain_.mem(), diff_src_.mem());

  // diff_weights (out, in) = diff_dst^T (out, M) x src (M, in); diff_bias (out) = column sums of diff_dst
  bwd_weights_.args[DNNL_ARG_SRC] = src_to_weights_(fwd_.args.at(DNNL_ARG_SRC));
  bwd_weights_.args[DNNL_ARG_DIFF_DST] =
      share_diff_dst_ ? bwd_data_.args.at(DNNL_ARG_DIFF_DST) : diff_dst_to_weights_(diff_dst_rows_);
  bwd_weights_.run();
  if (diff_weights_to_grad_.needed()) diff_weights_to_grad_.into(diff_weights_prim_, weight_.grad.mem());
  return diff_src_;
}

}  // namespace vb
