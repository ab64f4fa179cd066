// GlobalAvgPool: pooling_forward / pooling_backward (pooling_avg_exclude_padding, kernel = H x W, no
// padding). The (N, C, 1, 1) <-> (N, C) views share one buffer, so the only copies are the layout reorders,
// which are no-ops for plain input. diff_dst's view is re-pointed per call (set_data_handle, no allocation).
#include "models/layers/avgpool.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace vb {

using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;

GlobalAvgPool::GlobalAvgPool(std::string name, Config cfg) : Layer(std::move(name)), cfg_(cfg) {}
GlobalAvgPool::GlobalAvgPool(std::string name) : GlobalAvgPool(std::move(name), Config{}) {}

namespace {
DType dtype_of(const memory::desc& md) {
  return md.data_type() == dt::bf16 ? DType::bf16 : DType::f32;
}
}  // namespace

void GlobalAvgPool::setup(const memory::desc& src_md) {
  // src is (N, C, H, W); pooled (N, C, 1, 1); dst (N, C)
  const Dims s = src_md.dims();
  const DType d = dtype_of(src_md);
  const memory::desc pooled_any({s[0], s[1], 1, 1}, src_md.data_type(), tag::any);
  const dnnl::pooling_forward::desc desc(prop_kind::forward_training, algorithm::pooling_avg_exclude_padding,
                                         src_md, pooled_any, {1, 1}, {s[2], s[3]}, {0, 0}, {0, 0});
  fwd_pd_ = dnnl::pooling_forward::primitive_desc(desc, Runtime::engine());
  src_md_ = src_md;
  dst_ = Tensor({s[0], s[1]}, d);
  const memory::desc plain_4d = plain_desc({s[0], s[1], 1, 1}, d);
  dst_4d_ = dst_.reshaped({s[0], s[1], 1, 1}).mem();
  pooled_to_plain_ = Reorder(fwd_pd_.dst_desc(), plain_4d);
  pooled_ = pooled_to_plain_.needed() ? memory(fwd_pd_.dst_desc(), Runtime::engine()) : dst_4d_;
  fwd_ = Step{dnnl::pooling_forward(fwd_pd_), {{DNNL_ARG_DST, pooled_}}};
  saved_ = false;
  bwd_built_ = false;
}

const Tensor& GlobalAvgPool::forward(const Tensor& src, Mode mode) {
  check_rank(name_, "src", 4, src);
  check_dtype(name_, "src", src, cfg_.dtype);
  if (src.desc() != src_md_) setup(src.desc());
  fwd_.args[DNNL_ARG_SRC] = src.mem();
  fwd_.run();
  if (pooled_to_plain_.needed()) pooled_to_plain_.into(pooled_, dst_4d_);
  saved_ = mode == Mode::train;
  return dst_;
}

void GlobalAvgPool::setup_backward() {
  const Dims s = src_md_.dims();
  const dnnl::pooling_backward::desc desc(algorithm::pooling_avg_exclude_padding, src_md_, fwd_pd_.dst_desc(),
                                          {1, 1}, {s[2], s[3]}, {0, 0}, {0, 0});
  const dnnl::pooling_backward::primitive_desc pd(desc, Runtime::engine(), fwd_pd_);
  bwd_built_ = true;
  const DType d = dtype_of(src_md_);
  diff_dst_to_plain_ = InputReorder(plain_desc({s[0], s[1]}, d));
  const memory::desc plain_4d = plain_desc({s[0], s[1], 1, 1}, d);
  diff_dst_4d_ = memory(plain_4d, Runtime::engine(), DNNL_MEMORY_NONE);
  diff_dst_to_pool_ = Reorder(plain_4d, pd.diff_dst_desc());
  diff_src_ = Tensor(pd.diff_src_desc());
  bwd_ = Step{dnnl::pooling_backward(pd), {{DNNL_ARG_DIFF_SRC, diff_src_.mem()}}};
}

const Tensor& GlobalAvgPool::backward(const Tensor& diff_dst) {
  if (!saved_)
    throw std::logic_error(fmt::format("{}: backward needs a forward in Mode::train first", name_));
  check_rank(name_, "diff_dst", 2, diff_dst);
  check_dtype(name_, "diff_dst", diff_dst, cfg_.dtype);
  check_shape(name_, "diff_dst", dst_.shape(), diff_dst.shape());
  if (!bwd_built_) setup_backward();
  diff_dst_4d_.set_data_handle(diff_dst_to_plain_(diff_dst.mem()).get_data_handle());
  bwd_.args[DNNL_ARG_DIFF_DST] = diff_dst_to_pool_(diff_dst_4d_);
  bwd_.run();
  return diff_src_;
}

}  // namespace vb
