// Softmax: softmax_forward / softmax_backward over the last axis.
#include "models/layers/softmax.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace vb {

using pk = dnnl::prop_kind;

Softmax::Softmax(std::string name, Config) : Layer(std::move(name)) {}

void Softmax::build(const dnnl::memory::desc& src_md) {
  src_md_ = src_md;
  axis_ = src_md.data.ndims - 1;
  bwd_built_ = false;
  saved_ = false;
  // forward_training serves eval too: same computation, and it is the hint backward needs.
  fwd_pd_ = dnnl::softmax_forward::primitive_desc({pk::forward_training, src_md, axis_}, Runtime::engine());
  dst_ = Tensor(fwd_pd_.dst_desc());
  diff_dst_to_dst_ = InputReorder(dst_.desc());
  fwd_ = Step{dnnl::softmax_forward(fwd_pd_), {{DNNL_ARG_DST, dst_.mem()}}};
}

const Tensor& Softmax::forward(const Tensor& src, Mode mode) {
  check_arg(!src.empty(), name_, "src is empty");
  check_arg(src.shape().size() <= 6, name_,
            fmt::format("src has shape {}, expected rank 1..6", to_string(src.shape())));
  check_f32(name_, "src", src);
  if (src.desc() != src_md_) build(src.desc());
  // dst = exp(src - max) / sum(exp(src - max)) along the last axis
  fwd_.args[DNNL_ARG_SRC] = src.mem();
  fwd_.run();
  saved_ = mode == Mode::train;
  return dst_;
}

const Tensor& Softmax::backward(const Tensor& diff_dst) {
  if (!saved_) throw std::logic_error(name_ + ": backward called without a train-mode forward");
  check_arg(!diff_dst.empty(), name_, "diff_dst is empty");
  check_shape(name_, "diff_dst", src_md_.dims(), diff_dst.shape());
  check_f32(name_, "diff_dst", diff_dst);
  if (!bwd_built_) {
    const dnnl::softmax_backward::primitive_desc pd({dst_.desc(), dst_.desc(), axis_}, Runtime::engine(),
                                                    fwd_pd_);
    diff_src_ = Tensor(pd.diff_src_desc());
    bwd_ =
        Step{dnnl::softmax_backward(pd), {{DNNL_ARG_DST, dst_.mem()}, {DNNL_ARG_DIFF_SRC, diff_src_.mem()}}};
    bwd_built_ = true;
  }
  // diff_src = dst * (diff_dst - sum(diff_dst * dst)) along the last axis
  bwd_.args[DNNL_ARG_DIFF_DST] = diff_dst_to_dst_(diff_dst.mem());
  bwd_.run();
  return diff_src_;
}

}  // namespace vb
