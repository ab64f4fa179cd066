// ClsToken: forward = two reorders into sub-memories of dst; backward = a reorder out of diff_dst[:, 1:, :]
// and a batch sum of diff_dst[:, 0, :] (host loop: B*D numbers; oneDNN's reduction over dim 0 is its slow
// reference implementation).
#include "models/layers/cls_token.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace vb {

ClsToken::ClsToken(std::string name, Config cfg) : Layer(std::move(name)), cfg_(cfg) {
  check_arg(cfg_.dim > 0, name_, fmt::format("dim must be positive, given {}", cfg_.dim));
  cls_token_ = Param{"cls_token", Tensor({1, 1, cfg_.dim}), Tensor({1, 1, cfg_.dim}), false};
  cls_token_.init = Init::trunc_normal(0.02, -2.0, 2.0);  // timm's trunc_normal_(std=.02)
}

void ClsToken::build(const dnnl::memory::desc& src_md) {
  const auto& eng = Runtime::engine();
  const int64_t D = cfg_.dim;
  src_md_ = src_md;
  batch_ = src_md.dims()[0];
  tokens_ = src_md.dims()[1];
  saved_ = false;
  bwd_built_ = false;

  // dst (B, N+1, D) plain; its views: head (B, 1, D) at row 0 and tail (B, N, D) from row 1.
  dst_ = Tensor({batch_, tokens_ + 1, D});
  const auto dst_md = dst_.desc();
  const dnnl::memory head(dst_md.submemory_desc({batch_, 1, D}, {0, 0, 0}), eng,
                          dst_.mem().get_data_handle());
  const dnnl::memory tail(dst_md.submemory_desc({batch_, tokens_, D}, {0, 1, 0}), eng,
                          dst_.mem().get_data_handle());
  // The token (1, 1, D) read as (B, 1, D) with batch stride 0: the broadcast is the reorder's job.
  token_bcast_ = dnnl::memory(dnnl::memory::desc({batch_, 1, D}, dt::f32, Dims{0, D, 1}), eng, nullptr);
  token_to_dst_ =
      Step{dnnl::reorder(token_bcast_, head), {{DNNL_ARG_FROM, token_bcast_}, {DNNL_ARG_TO, head}}};
  src_to_dst_ = Step{dnnl::reorder(dnnl::reorder::primitive_desc(eng, src_md, eng, tail.get_desc())),
                     {{DNNL_ARG_TO, tail}}};
}

const Tensor& ClsToken::forward(const Tensor& src, Mode mode) {
  // src is (B, N, D); dst is (B, N+1, D).
  check_rank(name_, "src", 3, src);
  check_f32(name_, "src", src);
  check_arg(src.dim(2) == cfg_.dim, name_,
            fmt::format("src has shape {}, expected (B, N, {})", to_string(src.shape()), cfg_.dim));
  if (src.desc() != src_md_) build(src.desc());
  // Bound on every call: the parameter tensor may have been replaced since the build.
  token_bcast_.set_data_handle(cls_token_.value.mem().get_data_handle());
  token_to_dst_.run();
  src_to_dst_.args[DNNL_ARG_FROM] = src.mem();
  src_to_dst_.run();
  saved_ = mode == Mode::train;
  return dst_;
}

void ClsToken::build_backward() {
  const auto& eng = Runtime::engine();
  const int64_t D = cfg_.dim;
  bwd_built_ = true;
  const auto plain_md = plain_desc({batch_, tokens_ + 1, D});
  diff_dst_to_plain_ = InputReorder(plain_md);
  const dnnl::memory tail(plain_md.submemory_desc({batch_, tokens_, D}, {0, 1, 0}), eng, nullptr);
  diff_src_ = Tensor(src_md_);
  diff_dst_to_diff_src_ =
      Step{dnnl::reorder(tail, diff_src_.mem()), {{DNNL_ARG_FROM, tail}, {DNNL_ARG_TO, diff_src_.mem()}}};
}

const Tensor& ClsToken::backward(const Tensor& diff_dst) {
  if (!saved_) throw std::logic_error(fmt::format("{}: backward needs a train-mode forward first", name_));
  check_arg(!diff_dst.empty(), name_, "diff_dst is empty");
  check_f32(name_, "diff_dst", diff_dst);
  check_shape(name_, "diff_dst", dst_.shape(), diff_dst.shape());
  if (!bwd_built_) build_backward();
  void* plain = diff_dst_to_plain_(diff_dst.mem()).get_data_handle();  // (B, N+1, D)
  diff_dst_to_diff_src_.args[DNNL_ARG_FROM].set_data_handle(plain);
  diff_dst_to_diff_src_.run();
  // cls_token.grad (1, 1, D) = sum over b of diff_dst[b, 0, :], accumulated in double.
  Runtime::wait();
  const float* dy = static_cast<const float*>(plain);
  float* grad = cls_token_.grad.data();
  const int64_t D = cfg_.dim, row_stride = (tokens_ + 1) * D;
  for (int64_t d = 0; d < D; ++d) {
    double s = 0;
    for (int64_t b = 0; b < batch_; ++b) s += dy[b * row_stride + d];
    grad[d] = static_cast<float>(s);
  }
  return diff_src_;
}

}  // namespace vb
