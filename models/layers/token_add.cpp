// TokenAdd: forward = one host loop over the rows (copy row 0, add rows 1..N): oneDNN 2.6 runs a binary add
// on the strided (B, N, D) views only with its reference kernel (~0.1 GB/s), and one dense binary per sample
// costs B primitive calls for a memory-bound add. Backward = a reorder out of diff_dst[:, 1:, :].
#include "models/layers/token_add.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace vb {

TokenAdd::TokenAdd(std::string name, Config cfg) : name_(std::move(name)), cfg_(cfg) {
  check_arg(cfg_.dim > 0, name_, fmt::format("dim must be positive, given {}", cfg_.dim));
}

void TokenAdd::build(const dnnl::memory::desc& tokens_md, const dnnl::memory::desc& x_md) {
  const int64_t D = cfg_.dim;
  tokens_md_ = tokens_md;
  x_md_ = x_md;
  batch_ = x_md.dims()[0];
  tokens_ = x_md.dims()[1];
  bwd_built_ = false;
  diff_x_ = Tensor();
  diff_tokens_ = Tensor();
  tokens_to_plain_ = Reorder(tokens_md, plain_desc({batch_, tokens_ + 1, D}));
  x_to_plain_ = Reorder(x_md, plain_desc({batch_, tokens_, D}));
  dst_ = Tensor({batch_, tokens_ + 1, D});
}

const Tensor& TokenAdd::forward(const Tensor& tokens, const Tensor& x) {
  // tokens is (B, N+1, D), x is (B, N, D); dst is (B, N+1, D).
  check_rank(name_, "tokens", 3, tokens);
  check_rank(name_, "x", 3, x);
  check_f32(name_, "tokens", tokens);
  check_f32(name_, "x", x);
  check_arg(x.dim(2) == cfg_.dim, name_,
            fmt::format("x has shape {}, expected (B, N, {})", to_string(x.shape()), cfg_.dim));
  check_shape(name_, "tokens", {x.dim(0), x.dim(1) + 1, cfg_.dim}, tokens.shape());
  if (tokens.desc() != tokens_md_ || x.desc() != x_md_) build(tokens.desc(), x.desc());
  const int64_t B = batch_, N = tokens_, D = cfg_.dim;
  const float* t =
      static_cast<const float*>(tokens_to_plain_(tokens.mem()).get_data_handle());      // (B, N+1, D)
  const float* xs = static_cast<const float*>(x_to_plain_(x.mem()).get_data_handle());  // (B, N, D)
  float* y = dst_.data();                                                               // (B, N+1, D)
  Runtime::wait();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < B * (N + 1); ++r) {
    const int64_t b = r / (N + 1), n = r % (N + 1);
    const float* tr = t + r * D;
    float* yr = y + r * D;
    if (n == 0) {
      for (int64_t d = 0; d < D; ++d) yr[d] = tr[d];
    } else {
      const float* xr = xs + (b * N + n - 1) * D;
      for (int64_t d = 0; d < D; ++d) yr[d] = tr[d] + xr[d];
    }
  }
  return dst_;
}

void TokenAdd::build_backward() {
  const auto& eng = Runtime::engine();
  const int64_t B = batch_, N = tokens_, D = cfg_.dim;
  bwd_built_ = true;
  const auto seq_md = plain_desc({B, N + 1, D});
  diff_dst_to_plain_ = InputReorder(seq_md);
  const dnnl::memory tail(seq_md.submemory_desc({B, N, D}, {0, 1, 0}), eng, nullptr);
  diff_x_ = Tensor(x_md_);
  diff_dst_to_diff_x_ =
      Step{dnnl::reorder(tail, diff_x_.mem()), {{DNNL_ARG_FROM, tail}, {DNNL_ARG_TO, diff_x_.mem()}}};
  diff_dst_to_tokens_ = InputReorder(tokens_md_);
}

const Tensor& TokenAdd::backward(const Tensor& diff_dst) {
  if (dst_.empty()) throw std::logic_error(fmt::format("{}: backward called before forward", name_));
  check_arg(!diff_dst.empty(), name_, "diff_dst is empty");
  check_f32(name_, "diff_dst", diff_dst);
  check_shape(name_, "diff_dst", dst_.shape(), diff_dst.shape());
  if (!bwd_built_) build_backward();
  // diff_x (B, N, D) = diff_dst[:, 1:, :]
  diff_dst_to_diff_x_.args[DNNL_ARG_FROM].set_data_handle(
      diff_dst_to_plain_(diff_dst.mem()).get_data_handle());
  diff_dst_to_diff_x_.run();
  // diff_tokens (B, N+1, D) = diff_dst, in the tokens' layout
  diff_tokens_ = diff_dst_to_tokens_.tensor(diff_dst);
  return diff_x_;
}

}  // namespace vb
