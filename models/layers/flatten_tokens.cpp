// FlattenTokens: both directions are a single reorder between a 4-D desc and the token tensor's buffer seen
// as (B, C, H, W) with channels innermost (nhwc strides), so oneDNN does the transpose from any layout.
#include "models/layers/flatten_tokens.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace vb {

namespace {
// (B, H*W, C) plain memory seen as (B, C, H, W): element (b, c, h, w) at b*HWC + (h*W + w)*C + c.
dnnl::memory::desc token_view(const Dims& nchw) {
  const int64_t C = nchw[1], H = nchw[2], W = nchw[3];
  return dnnl::memory::desc(nchw, dt::f32, Dims{H * W * C, 1, W * C, C});
}
}  // namespace

FlattenTokens::FlattenTokens(std::string name, Config) : Layer(std::move(name)) {}

void FlattenTokens::build(const dnnl::memory::desc& src_md) {
  const auto& eng = Runtime::engine();
  src_md_ = src_md;
  saved_ = false;
  bwd_built_ = false;
  const Dims s = src_md.dims();  // (B, C, H, W)
  dst_ = Tensor({s[0], s[2] * s[3], s[1]});
  const dnnl::memory view(token_view(s), eng, dst_.mem().get_data_handle());
  fwd_ = Step{dnnl::reorder(dnnl::reorder::primitive_desc(eng, src_md, eng, view.get_desc())),
              {{DNNL_ARG_TO, view}}};
}

const Tensor& FlattenTokens::forward(const Tensor& src, Mode mode) {
  // src is (B, C, H, W); dst is (B, H*W, C).
  check_rank(name_, "src", 4, src);
  check_f32(name_, "src", src);
  check_arg(src.numel() > 0, name_, fmt::format("src {} is empty", to_string(src.shape())));
  if (src.desc() != src_md_) build(src.desc());
  fwd_.args[DNNL_ARG_FROM] = src.mem();
  fwd_.run();
  saved_ = mode == Mode::train;
  return dst_;
}

void FlattenTokens::build_backward() {
  const auto& eng = Runtime::engine();
  bwd_built_ = true;
  diff_dst_to_plain_ = InputReorder(plain_desc(dst_.shape()));
  diff_src_ = Tensor(src_md_);
  const dnnl::memory view(token_view(src_md_.dims()), eng, nullptr);
  bwd_ = Step{dnnl::reorder(dnnl::reorder::primitive_desc(eng, view.get_desc(), eng, src_md_)),
              {{DNNL_ARG_FROM, view}, {DNNL_ARG_TO, diff_src_.mem()}}};
}

const Tensor& FlattenTokens::backward(const Tensor& diff_dst) {
  if (!saved_) throw std::logic_error(fmt::format("{}: backward needs a train-mode forward first", name_));
  check_arg(!diff_dst.empty(), name_, "diff_dst is empty");
  check_f32(name_, "diff_dst", diff_dst);
  check_shape(name_, "diff_dst", dst_.shape(), diff_dst.shape());
  if (!bwd_built_) build_backward();
  // diff_dst (B, H*W, C) plain, read through the (B, C, H, W) view.
  bwd_.args[DNNL_ARG_FROM].set_data_handle(diff_dst_to_plain_(diff_dst.mem()).get_data_handle());
  bwd_.run();
  return diff_src_;
}

}  // namespace vb
