// MaxPool2d: pooling_forward (pooling_max; forward_training with workspace, forward_inference for eval) and
// pooling_backward driven by the workspace. Right padding = left padding with the floor output size, which
// oneDNN accepts and which, like PyTorch, never places a window entirely in the padding.
#include "models/layers/maxpool2d.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace vb {

using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;

MaxPool2d::MaxPool2d(std::string name, Config cfg) : Layer(std::move(name)), cfg_(cfg) {
  check_arg(cfg_.kernel > 0, name_, fmt::format("kernel must be positive, given {}", cfg_.kernel));
  check_arg(cfg_.stride > 0, name_, fmt::format("stride must be positive, given {}", cfg_.stride));
  check_arg(
      cfg_.padding >= 0 && 2 * cfg_.padding <= cfg_.kernel, name_,
      fmt::format("padding must be in [0, kernel / 2], given {} with kernel {}", cfg_.padding, cfg_.kernel));
}

namespace {

dnnl::pooling_forward::desc pool_desc(prop_kind prop, const memory::desc& src_md, const MaxPool2d& pool) {
  // src is (N, C, H, W); dst (N, C, Ho, Wo)
  const auto& c = pool.config();
  const Dims s = src_md.dims();
  const memory::desc dst_any({s[0], s[1], pool.out_size(s[2]), pool.out_size(s[3])}, src_md.data_type(),
                             tag::any);
  return dnnl::pooling_forward::desc(prop, algorithm::pooling_max, src_md, dst_any, {c.stride, c.stride},
                                     {c.kernel, c.kernel}, {c.padding, c.padding}, {c.padding, c.padding});
}

}  // namespace

void MaxPool2d::setup(const memory::desc& src_md) {
  train_pd_ = dnnl::pooling_forward::primitive_desc(pool_desc(prop_kind::forward_training, src_md, *this),
                                                    Runtime::engine());
  src_md_ = src_md;
  dst_ = Tensor(train_pd_.dst_desc());
  workspace_ = memory(train_pd_.workspace_desc(), Runtime::engine());
  train_ =
      Step{dnnl::pooling_forward(train_pd_), {{DNNL_ARG_DST, dst_.mem()}, {DNNL_ARG_WORKSPACE, workspace_}}};
  eval_.reset();
  saved_ = false;
  bwd_built_ = false;
}

const Tensor& MaxPool2d::forward(const Tensor& src, Mode mode) {
  check_rank(name_, "src", 4, src);
  check_dtype(name_, "src", src, cfg_.dtype);
  check_arg(src.dim(2) + 2 * cfg_.padding >= cfg_.kernel && src.dim(3) + 2 * cfg_.padding >= cfg_.kernel,
            name_,
            fmt::format("src {} is smaller than the kernel {} with padding {}", to_string(src.shape()),
                        cfg_.kernel, cfg_.padding));
  if (src.desc() != src_md_) setup(src.desc());
  if (mode == Mode::train) {
    train_.args[DNNL_ARG_SRC] = src.mem();
    train_.run();
  } else {
    if (!eval_) {
      const dnnl::pooling_forward::primitive_desc pd(pool_desc(prop_kind::forward_inference, src_md_, *this),
                                                     Runtime::engine());
      if (pd.dst_desc() != dst_.desc())
        throw std::logic_error(fmt::format("{}: inference pooling chose another dst layout", name_));
      eval_ = Step{dnnl::pooling_forward(pd), {{DNNL_ARG_DST, dst_.mem()}}};
    }
    eval_->args[DNNL_ARG_SRC] = src.mem();
    eval_->run();
  }
  saved_ = mode == Mode::train;
  return dst_;
}

void MaxPool2d::setup_backward() {
  // diff_src (N, C, H, W) in the layout of src, scattered from diff_dst through the workspace's argmax
  const dnnl::pooling_backward::desc desc(algorithm::pooling_max, src_md_, dst_.desc(),
                                          {cfg_.stride, cfg_.stride}, {cfg_.kernel, cfg_.kernel},
                                          {cfg_.padding, cfg_.padding}, {cfg_.padding, cfg_.padding});
  const dnnl::pooling_backward::primitive_desc pd(desc, Runtime::engine(), train_pd_);
  bwd_built_ = true;
  diff_dst_reorder_ = InputReorder(pd.diff_dst_desc());
  diff_src_ = Tensor(pd.diff_src_desc());
  bwd_ = Step{dnnl::pooling_backward(pd),
              {{DNNL_ARG_DIFF_SRC, diff_src_.mem()}, {DNNL_ARG_WORKSPACE, workspace_}}};
}

const Tensor& MaxPool2d::backward(const Tensor& diff_dst) {
  if (!saved_)
    throw std::logic_error(fmt::format("{}: backward needs a forward in Mode::train first", name_));
  check_rank(name_, "diff_dst", 4, diff_dst);
  check_dtype(name_, "diff_dst", diff_dst, cfg_.dtype);
  check_shape(name_, "diff_dst", dst_.shape(), diff_dst.shape());
  if (!bwd_built_) setup_backward();
  bwd_.args[DNNL_ARG_DIFF_DST] = diff_dst_reorder_(diff_dst.mem());
  bwd_.run();
  return diff_src_;
}

}  // namespace vb
