// Multi-head self-attention: projections by Linear sub-layers, core by oneDNN matmul + softmax primitives.
// Training splits heads by one reorder per q/k/v from strided views into dense buffers (brgemm needs them;
// inference reads the views in place) and merges them by strides (PV writes straight into the (B, N, H, dh)
// context); backward writes strided diffs.
#include "models/layers/attention.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace vb {

namespace {

using md = dnnl::memory::desc;

// Head h's (N, dh) block of every batch inside a (B, N, row_stride) buffer, as a (B, H, N, dh) desc.
md heads_md(int64_t B, int64_t H, int64_t N, int64_t dh, int64_t row_stride, dt t = dt::f32) {
  return md({B, H, N, dh}, t, Dims{N * row_stride, dh, row_stride, 1});
}
// A (B, H, N, N) plain buffer read transposed in its last two axes.
md square_t_md(int64_t B, int64_t H, int64_t N, dt t = dt::f32) {
  return md({B, H, N, N}, t, Dims{H * N * N, N * N, 1, N});
}

// Element `offset` of base's buffer (elements of base's dtype: 4 bytes f32, 2 bytes bf16).
void* at(const dnnl::memory& base, int64_t offset) {
  const int64_t size = base.get_desc().data_type() == dt::bf16 ? 2 : 4;
  return static_cast<char*>(base.get_data_handle()) + offset * size;
}

// Points `view` at base + offset (elements); cheap, and a no-op when it already does.
void bind(dnnl::memory& view, const dnnl::memory& base, int64_t offset) {
  void* p = at(base, offset);
  if (view.get_data_handle() != p) view.set_data_handle(p);
}

dnnl::matmul matmul(const std::string& layer, const md& src, const md& weights, const md& dst, float scale) {
  dnnl::primitive_attr attr;
  if (scale != 1.0f) attr.set_output_scales(0, {scale});
  try {
    return dnnl::matmul(
        dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, dst), attr, Runtime::engine()));
  } catch (const dnnl::error& e) {
    throw std::invalid_argument(fmt::format("{}: no matmul for src {} weights {} ({})", layer,
                                            to_string(src.dims()), to_string(weights.dims()), e.what()));
  }
}

}  // namespace

Attention::Attention(std::string name, Config cfg) : Layer(std::move(name)), cfg_(cfg) {
  check_arg(cfg_.dim > 0 && cfg_.heads > 0, name_,
            fmt::format("dim and heads must be positive, given dim {} heads {}", cfg_.dim, cfg_.heads));
  check_arg(cfg_.dim % cfg_.heads == 0, name_,
            fmt::format("dim {} is not divisible by heads {}", cfg_.dim, cfg_.heads));
  const int64_t D = cfg_.dim;
  head_dim_ = D / cfg_.heads;
  scale_ = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim_)));
  if (cfg_.qkv == QkvLayout::fused) {
    in_ = std::make_unique<Linear>(name_ + ".qkv",
                                   Linear::timm_init({D, 3 * D, cfg_.qkv_bias, cfg_.dtype, cfg_.dtype}));
    in_stride_ = v_stride_ = 3 * D;
    v_offset_ = 2 * D;
  } else {
    in_ = std::make_unique<Linear>(name_ + ".qk",
                                   Linear::timm_init({D, 2 * D, cfg_.qkv_bias, cfg_.dtype, cfg_.dtype}));
    v_ = std::make_unique<Linear>(name_ + ".v",
                                  Linear::timm_init({D, D, cfg_.qkv_bias, cfg_.dtype, cfg_.dtype}));
    in_stride_ = 2 * D;
    v_stride_ = D;
    v_offset_ = 0;
  }
  proj_ = std::make_unique<Linear>(name_ + ".proj", Linear::timm_init({D, D, true, cfg_.dtype}));
  // Param names relative to this layer (see params()).
  const std::string in_prefix = cfg_.qkv == QkvLayout::fused ? "qkv." : "qk.";
  for (Param* p : in_->params()) p->name = in_prefix + p->name;
  if (v_)
    for (Param* p : v_->params()) p->name = "v." + p->name;
  for (Param* p : proj_->params()) p->name = "proj." + p->name;
}

std::vector<Param*> Attention::params() {
  std::vector<Param*> ps = in_->params();
  if (v_)
    for (Param* p : v_->params()) ps.push_back(p);
  for (Param* p : proj_->params()) ps.push_back(p);
  return ps;
}

void Attention::build(int64_t B, int64_t N) {
  const auto& eng = Runtime::engine();
  const int64_t D = cfg_.dim, H = cfg_.heads, dh = head_dim_;
  const dt c = to_dnnl(cfg_.dtype);  // q, k, v, probabilities and context in the compute dtype
  shape_ = {B, N, D};
  bwd_built_ = false;
  sum_built_ = false;
  saved_ = false;
  // The views below assume the Linears hand back plain row-major buffers.
  if (!is_plain(in_dst_.get_desc()) || !is_plain(v_dst_.get_desc()))
    throw std::logic_error(name_ + ": projection dst is not plain row-major");

  // S = scale Q K^T: q (B, H, N, dh) and k^T (B, H, dh, N) read in place from in_'s dst; S (B, H, N, N).
  // q, k, v: strided views of the projection outputs -> dense (B, H, N, dh) buffers.
  q_ = dnnl::memory(heads_md(B, H, N, dh, in_stride_, c), eng, at(in_dst_, 0));
  k_ = dnnl::memory(heads_md(B, H, N, dh, in_stride_, c), eng, at(in_dst_, D));
  v_view_ = dnnl::memory(heads_md(B, H, N, dh, v_stride_, c), eng, at(v_dst_, v_offset_));
  const int64_t part = B * H * N * dh;
  qkv_dense_ = Tensor({3, B, H, N, dh}, cfg_.dtype);
  const md dense_md({B, H, N, dh}, c, tag::abcd);
  q_d_ = dnnl::memory(dense_md, eng, at(qkv_dense_.mem(), 0));
  k_d_ = dnnl::memory(dense_md, eng, at(qkv_dense_.mem(), part));
  v_d_ = dnnl::memory(dense_md, eng, at(qkv_dense_.mem(), 2 * part));
  k_dt_ = dnnl::memory(md({B, H, dh, N}, c, tag::abdc), eng, k_d_.get_data_handle());
  auto split = [](const dnnl::memory& from, const dnnl::memory& to) {
    return Step{dnnl::reorder(from, to), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}}};
  };
  split_q_ = split(q_, q_d_);
  split_k_ = split(k_, k_d_);
  split_v_ = split(v_view_, v_d_);

  probs_ = Tensor({B, H, N, N}, cfg_.dtype);
  scores_ = cfg_.dtype == DType::f32 ? probs_ : Tensor({B, H, N, N});  // f32 logits
  qk_ = Step{matmul(name_, q_d_.get_desc(), k_dt_.get_desc(), scores_.desc(), scale_),
             {{DNNL_ARG_SRC, q_d_}, {DNNL_ARG_WEIGHTS, k_dt_}, {DNNL_ARG_DST, scores_.mem()}}};

  // P = softmax(S) over keys: in place (f32), or f32 scores -> bf16 probabilities.
  try {
    softmax_pd_ = dnnl::softmax_v2_forward::primitive_desc(
        {dnnl::prop_kind::forward_training, dnnl::algorithm::softmax_accurate, scores_.desc(), probs_.desc(),
         3},
        eng);
  } catch (const dnnl::error& e) {
    throw std::invalid_argument(
        fmt::format("{}: no softmax for {} ({})", name_, to_string(probs_.shape()), e.what()));
  }
  softmax_ = Step{dnnl::softmax_v2_forward(softmax_pd_),
                  {{DNNL_ARG_SRC, scores_.mem()}, {DNNL_ARG_DST, probs_.mem()}}};

  // O = P V: v (B, H, N, dh) dense; O written straight into ctx (B, N, H, dh) = (B, N, D), heads merged.
  ctx_ = Tensor({B, N, D}, cfg_.dtype);
  const dnnl::memory ctx_heads(heads_md(B, H, N, dh, D, c), eng, ctx_.mem().get_data_handle());
  pv_ = Step{matmul(name_, probs_.desc(), v_d_.get_desc(), ctx_heads.get_desc(), 1.0f),
             {{DNNL_ARG_SRC, probs_.mem()}, {DNNL_ARG_WEIGHTS, v_d_}, {DNNL_ARG_DST, ctx_heads}}};

  // Inference: QK^T and PV read q, k^T (B, H, dh, N) and v straight from the strided views, no head-split
  // copies (training keeps the dense copies: its backward reads them). Measured faster end to end in eval
  // despite the slower strided matmul kernel (docs/models.md).
  k_t_ = dnnl::memory(md({B, H, dh, N}, c, Dims{N * in_stride_, dh, 1, in_stride_}), eng, at(in_dst_, D));
  qk_eval_ = Step{matmul(name_, q_.get_desc(), k_t_.get_desc(), scores_.desc(), scale_),
                  {{DNNL_ARG_SRC, q_}, {DNNL_ARG_WEIGHTS, k_t_}, {DNNL_ARG_DST, scores_.mem()}}};
  pv_eval_ = Step{matmul(name_, probs_.desc(), v_view_.get_desc(), ctx_heads.get_desc(), 1.0f),
                  {{DNNL_ARG_SRC, probs_.mem()}, {DNNL_ARG_WEIGHTS, v_view_}, {DNNL_ARG_DST, ctx_heads}}};
}

const Tensor& Attention::core(const Tensor& src, Mode mode) {
  check_rank(name_, "src", 3, src);
  check_f32(name_, "src", src);  // f32 residual stream in both dtypes
  if (src.dim(2) != cfg_.dim) check_shape(name_, "src", {src.dim(0), src.dim(1), cfg_.dim}, src.shape());

  // src (B, N, D) -> in_dst (B, N, 3D | 2D) [, v_dst (B, N, D)]
  const Tensor& in_dst = in_->forward(src, mode);
  const Tensor& v_dst = v_ ? v_->forward(src, mode) : in_dst;
  in_dst_ = in_dst.mem();
  v_dst_ = v_dst.mem();
  if (src.shape() != shape_) build(src.dim(0), src.dim(1));
  // The Linears own these buffers; they only move when a Linear rebuilds, but rebinding is free.
  bind(q_, in_dst_, 0);
  bind(k_, in_dst_, cfg_.dim);
  bind(v_view_, v_dst_, v_offset_);
  bind(k_t_, in_dst_, cfg_.dim);
  if (mode == Mode::eval) {  // (B, H, N, dh) strided views -> S (B, H, N, N) -> P -> ctx (B, N, D)
    qk_eval_.run();
    softmax_.run();
    pv_eval_.run();
    return ctx_;
  }

  split_q_.run();
  split_k_.run();
  split_v_.run();
  qk_.run();
  softmax_.run();
  pv_.run();
  return ctx_;
}

const Tensor& Attention::forward(const Tensor& src, Mode mode) {
  const Tensor& dst = proj_->forward(core(src, mode), mode);  // (B, N, D)
  saved_ = mode == Mode::train;
  return dst;
}

void Attention::forward_accumulate(const Tensor& src, const Tensor& dst) {
  proj_->forward_accumulate(core(src, Mode::eval), dst);  // dst (B, N, D) += proj(ctx)
  saved_ = false;
}

void Attention::build_backward() {
  const auto& eng = Runtime::engine();
  const int64_t B = shape_[0], N = shape_[1], D = cfg_.dim, H = cfg_.heads, dh = head_dim_;
  // Every tensor of the backward core is in the compute dtype (bf16: matmuls accumulate in f32, write bf16).
  const dt c = to_dnnl(cfg_.dtype);
  d_ctx_view_ = dnnl::memory(heads_md(B, H, N, dh, D, c), eng, nullptr);  // bound to proj's diff_src per call
  v_t_ = dnnl::memory(md({B, H, dh, N}, c, tag::abdc), eng, v_d_.get_data_handle());  // forward's dense v
  d_probs_ = Tensor({B, H, N, N}, cfg_.dtype);
  d_in_ = Tensor({B, N, in_stride_}, cfg_.dtype);
  if (v_) d_v_ = Tensor({B, N, D}, cfg_.dtype);
  const dnnl::memory& d_v_base = v_ ? d_v_.mem() : d_in_.mem();
  const dnnl::memory d_q(heads_md(B, H, N, dh, in_stride_, c), eng, at(d_in_.mem(), 0));
  const dnnl::memory d_k(heads_md(B, H, N, dh, in_stride_, c), eng, at(d_in_.mem(), D));
  const dnnl::memory d_v(heads_md(B, H, N, dh, v_stride_, c), eng, at(d_v_base, v_offset_));
  const dnnl::memory probs_t(square_t_md(B, H, N, c), eng, probs_.mem().get_data_handle());
  const dnnl::memory d_probs_t(square_t_md(B, H, N, c), eng, d_probs_.mem().get_data_handle());

  // dP = dO V^T: dO (B, H, N, dh), V^T (B, H, dh, N) -> dP (B, H, N, N)
  dp_ = Step{matmul(name_, d_ctx_view_.get_desc(), v_t_.get_desc(), d_probs_.desc(), 1.0f),
             {{DNNL_ARG_SRC, d_ctx_view_}, {DNNL_ARG_WEIGHTS, v_t_}, {DNNL_ARG_DST, d_probs_.mem()}}};
  // dV = P^T dO: P^T (B, H, N, N), dO (B, H, N, dh) -> dV (B, H, N, dh) in place in d_in_ or d_v_
  dv_ = Step{matmul(name_, probs_t.get_desc(), d_ctx_view_.get_desc(), d_v.get_desc(), 1.0f),
             {{DNNL_ARG_SRC, probs_t}, {DNNL_ARG_WEIGHTS, d_ctx_view_}, {DNNL_ARG_DST, d_v}}};
  // dS = P * (dP - rowsum(P * dP)), in place over dP
  try {
    const dnnl::softmax_v2_backward::primitive_desc pd(
        {dnnl::algorithm::softmax_accurate, d_probs_.desc(), d_probs_.desc(), probs_.desc(), 3}, eng,
        softmax_pd_);
    softmax_bwd_ = Step{dnnl::softmax_v2_backward(pd),
                        {{DNNL_ARG_DST, probs_.mem()},
                         {DNNL_ARG_DIFF_DST, d_probs_.mem()},
                         {DNNL_ARG_DIFF_SRC, d_probs_.mem()}}};
  } catch (const dnnl::error& e) {
    throw std::invalid_argument(
        fmt::format("{}: no softmax backward for {} ({})", name_, to_string(probs_.shape()), e.what()));
  }
  // dQ = scale dS K: dS (B, H, N, N), K (B, H, N, dh) -> dQ (B, H, N, dh) in place in d_in_
  dq_ = Step{matmul(name_, d_probs_.desc(), k_d_.get_desc(), d_q.get_desc(), scale_),
             {{DNNL_ARG_SRC, d_probs_.mem()}, {DNNL_ARG_WEIGHTS, k_d_}, {DNNL_ARG_DST, d_q}}};
  // dK = scale dS^T Q: dS^T (B, H, N, N), Q (B, H, N, dh) -> dK (B, H, N, dh) in place in d_in_
  dk_ = Step{matmul(name_, d_probs_t.get_desc(), q_d_.get_desc(), d_k.get_desc(), scale_),
             {{DNNL_ARG_SRC, d_probs_t}, {DNNL_ARG_WEIGHTS, q_d_}, {DNNL_ARG_DST, d_k}}};
  bwd_built_ = true;
}

const Tensor& Attention::backward(const Tensor& diff_dst) {
  if (!saved_) throw std::logic_error(name_ + ": backward called without a train-mode forward");
  check_rank(name_, "diff_dst", 3, diff_dst);
  check_f32(name_, "diff_dst", diff_dst);
  check_shape(name_, "diff_dst", shape_, diff_dst.shape());
  if (!bwd_built_) build_backward();

  // diff_dst (B, N, D) -> d_ctx (B, N, D), plain like ctx_
  const Tensor& d_ctx = proj_->backward(diff_dst);
  if (d_ctx_view_.get_data_handle() != d_ctx.mem().get_data_handle()) {
    if (!d_ctx.plain()) throw std::logic_error(name_ + ": proj diff_src is not plain row-major");
    bind(d_ctx_view_, d_ctx.mem(), 0);
  }
  dp_.run();
  dv_.run();
  softmax_bwd_.run();
  dq_.run();
  dk_.run();

  // d_in (B, N, 3D | 2D) [, d_v (B, N, D)] -> diff_src (B, N, D)
  const Tensor& d_src_in = in_->backward(d_in_);
  if (!v_) return d_src_in;
  const Tensor& d_src_v = v_->backward(d_v_);
  if (!sum_built_) {
    diff_src_ = Tensor(d_src_in.desc());
    const dnnl::sum::primitive_desc pd(diff_src_.desc(), {1.0f, 1.0f}, {d_src_in.desc(), d_src_v.desc()},
                                       Runtime::engine());
    sum_ = Step{dnnl::sum(pd), {{DNNL_ARG_DST, diff_src_.mem()}}};
    sum_built_ = true;
  }
  sum_.args[DNNL_ARG_MULTIPLE_SRC + 0] = d_src_in.mem();
  sum_.args[DNNL_ARG_MULTIPLE_SRC + 1] = d_src_v.mem();
  sum_.run();
  return diff_src_;
}

}  // namespace vb
