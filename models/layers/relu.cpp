// ReLU: eltwise_forward / eltwise_backward with algorithm::eltwise_relu_use_dst_for_bwd (alpha = 0).
#include "models/layers/relu.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace vb {

using dnnl::algorithm;
using dnnl::prop_kind;

ReLU::ReLU(std::string name, Config cfg) : Layer(std::move(name)), cfg_(cfg) {}
ReLU::ReLU(std::string name) : ReLU(std::move(name), Config{}) {}

void ReLU::setup(const dnnl::memory::desc& src_md) {
  const dnnl::eltwise_forward::desc desc(prop_kind::forward_training, algorithm::eltwise_relu_use_dst_for_bwd,
                                         src_md, 0.0f, 0.0f);
  fwd_pd_ = dnnl::eltwise_forward::primitive_desc(desc, Runtime::engine());
  src_md_ = src_md;
  dst_ = Tensor(fwd_pd_.dst_desc());
  fwd_ = Step{dnnl::eltwise_forward(fwd_pd_), {{DNNL_ARG_DST, dst_.mem()}}};
  saved_ = false;
  bwd_built_ = false;
}

const Tensor& ReLU::forward(const Tensor& src, Mode mode) {
  check_arg(!src.empty(), name_, "src is empty");
  check_dtype(name_, "src", src, cfg_.dtype);
  if (src.desc() != src_md_) setup(src.desc());
  fwd_.args[DNNL_ARG_SRC] = src.mem();
  fwd_.run();
  saved_ = mode == Mode::train;
  return dst_;
}

void ReLU::setup_backward() {
  // diff_src = diff_dst where dst > 0, else 0; diff data in the layout of src (= dst)
  const dnnl::eltwise_backward::desc desc(algorithm::eltwise_relu_use_dst_for_bwd, src_md_, dst_.desc(), 0.0f,
                                          0.0f);
  const dnnl::eltwise_backward::primitive_desc pd(desc, Runtime::engine(), fwd_pd_);
  bwd_built_ = true;
  diff_dst_reorder_ = InputReorder(pd.diff_dst_desc());
  diff_src_ = Tensor(pd.diff_src_desc());
  bwd_ = Step{dnnl::eltwise_backward(pd), {{DNNL_ARG_DST, dst_.mem()}, {DNNL_ARG_DIFF_SRC, diff_src_.mem()}}};
}

const Tensor& ReLU::backward(const Tensor& diff_dst) {
  if (!saved_)
    throw std::logic_error(fmt::format("{}: backward needs a forward in Mode::train first", name_));
  check_arg(!diff_dst.empty(), name_, "diff_dst is empty");
  check_dtype(name_, "diff_dst", diff_dst, cfg_.dtype);
  check_shape(name_, "diff_dst", dst_.shape(), diff_dst.shape());
  if (!bwd_built_) setup_backward();
  bwd_.args[DNNL_ARG_DIFF_DST] = diff_dst_reorder_(diff_dst.mem());
  bwd_.run();
  return diff_src_;
}

}  // namespace vb
