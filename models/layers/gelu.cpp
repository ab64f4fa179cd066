// GELU: eltwise forward / backward with algorithm eltwise_gelu_erf.
#include "models/layers/gelu.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace vb {

using pk = dnnl::prop_kind;
constexpr auto gelu_erf = dnnl::algorithm::eltwise_gelu_erf;

GELU::GELU(std::string name, Config cfg) : Layer(std::move(name)), cfg_(cfg) {}
GELU::GELU(std::string name) : GELU(std::move(name), Config{}) {}

void GELU::build(const dnnl::memory::desc& src_md) {
  src_md_ = src_md;
  bwd_built_ = false;
  saved_ = false;
  diff_dst_to_src_ = InputReorder(src_md);
  // forward_training serves eval too: the eltwise computation is the same, and it is the hint backward needs.
  fwd_pd_ =
      dnnl::eltwise_forward::primitive_desc({pk::forward_training, gelu_erf, src_md}, Runtime::engine());
  dst_ = Tensor(fwd_pd_.dst_desc());
  fwd_ = Step{dnnl::eltwise_forward(fwd_pd_), {{DNNL_ARG_DST, dst_.mem()}}};
}

const Tensor& GELU::forward(const Tensor& src, Mode mode) {
  check_arg(!src.empty(), name_, "src is empty");
  check_arg(src.shape().size() <= 6, name_,
            fmt::format("src has shape {}, expected rank 1..6", to_string(src.shape())));
  check_dtype(name_, "src", src, cfg_.dtype);
  if (src.desc() != src_md_) build(src.desc());
  // dst = src * Phi(src)
  fwd_.args[DNNL_ARG_SRC] = src.mem();
  fwd_.run();
  src_ = src;
  saved_ = mode == Mode::train;
  return dst_;
}

const Tensor& GELU::backward(const Tensor& diff_dst) {
  if (!saved_) throw std::logic_error(name_ + ": backward called without a train-mode forward");
  check_arg(!diff_dst.empty(), name_, "diff_dst is empty");
  check_shape(name_, "diff_dst", src_md_.dims(), diff_dst.shape());
  check_dtype(name_, "diff_dst", diff_dst, cfg_.dtype);
  if (!bwd_built_) {
    const dnnl::eltwise_backward::primitive_desc pd({gelu_erf, src_md_, src_md_}, Runtime::engine(), fwd_pd_);
    diff_src_ = Tensor(pd.diff_src_desc());
    bwd_ = Step{dnnl::eltwise_backward(pd), {{DNNL_ARG_DIFF_SRC, diff_src_.mem()}}};
    bwd_built_ = true;
  }
  // diff_src = diff_dst * (Phi(src) + src * phi(src))
  bwd_.args[DNNL_ARG_SRC] = src_.mem();
  bwd_.args[DNNL_ARG_DIFF_DST] = diff_dst_to_src_(diff_dst.mem());
  bwd_.run();
  return diff_src_;
}

}  // namespace vb
