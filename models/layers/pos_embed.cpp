// LearnedPosEmbed: binary add with the table broadcast over the batch; backward = identity + a batch sum
// (host loop).
#include "models/layers/pos_embed.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace vb {

namespace {
// g (T) = sum over b of dy (B, T), accumulated in double. oneDNN 2.6 has a reduction primitive, but only its
// reference implementation handles a reduction over the outermost dim (0.15 GB/s), so this is a loop: chunks
// of t in parallel, the batch summed into a double buffer per chunk (vectorisable, one pass over dy).
void batch_sum(float* g, const float* dy, int64_t B, int64_t T) {
  constexpr int64_t kChunk = 512;
#pragma omp parallel for schedule(static)
  for (int64_t t0 = 0; t0 < T; t0 += kChunk) {
    const int64_t n = std::min(kChunk, T - t0);
    double acc[kChunk];
    for (int64_t t = 0; t < n; ++t) acc[t] = 0;
    for (int64_t b = 0; b < B; ++b) {
      const float* row = dy + b * T + t0;
      for (int64_t t = 0; t < n; ++t) acc[t] += row[t];
    }
    for (int64_t t = 0; t < n; ++t) g[t0 + t] = static_cast<float>(acc[t]);
  }
}
}  // namespace

LearnedPosEmbed::LearnedPosEmbed(std::string name, Config cfg)
    : Layer(std::move(name)), cfg_(std::move(cfg)) {
  const Dims& t = cfg_.table_shape;
  bool positive = true;
  for (auto d : t) positive = positive && d > 0;
  check_arg(t.size() >= 2 && t[0] == 1 && positive, name_,
            fmt::format("table_shape must be (1, ...) with positive sizes, given {}", to_string(t)));
  check_arg(!cfg_.param_name.empty(), name_, "param_name is empty");
  table_ = Param{cfg_.param_name, Tensor(t), Tensor(t), false};
  table_.init = Init::trunc_normal(0.02, -2.0, 2.0);  // timm's trunc_normal_(std=.02)
}

void LearnedPosEmbed::build(const dnnl::memory::desc& src_md) {
  src_md_ = src_md;
  saved_ = false;
  diff_dst_to_src_ = InputReorder(src_md);
  diff_dst_to_plain_ = InputReorder(plain_desc(src_md.dims()));
  const dnnl::binary::primitive_desc pd(
      dnnl::binary::desc(dnnl::algorithm::binary_add, src_md, table_.value.desc(), src_md),
      Runtime::engine());
  dst_ = Tensor(src_md);
  add_ = Step{dnnl::binary(pd), {{DNNL_ARG_DST, dst_.mem()}}};
}

const Tensor& LearnedPosEmbed::forward(const Tensor& src, Mode mode) {
  // src is (B, table_shape[1:]...); dst the same.
  const Dims& t = cfg_.table_shape;
  check_rank(name_, "src", t.size(), src);
  check_f32(name_, "src", src);
  Dims expected = t;
  expected[0] = src.dim(0);
  check_shape(name_, "src", expected, src.shape());
  if (src.desc() != src_md_) build(src.desc());
  add_.args[DNNL_ARG_SRC_0] = src.mem();
  add_.args[DNNL_ARG_SRC_1] = table_.value.mem();
  add_.run();
  saved_ = mode == Mode::train;
  return dst_;
}

const Tensor& LearnedPosEmbed::backward(const Tensor& diff_dst) {
  if (!saved_) throw std::logic_error(fmt::format("{}: backward needs a train-mode forward first", name_));
  check_arg(!diff_dst.empty(), name_, "diff_dst is empty");
  check_f32(name_, "diff_dst", diff_dst);
  check_shape(name_, "diff_dst", dst_.shape(), diff_dst.shape());
  // table.grad (1, ...) = sum over the batch of diff_dst (B, ...), read as (B, T) row-major.
  const float* dy = static_cast<const float*>(diff_dst_to_plain_(diff_dst.mem()).get_data_handle());
  Runtime::wait();
  const int64_t T = product(cfg_.table_shape);
  batch_sum(table_.grad.data(), dy, diff_dst.dim(0), T);
  diff_src_ = diff_dst_to_src_.tensor(diff_dst);
  return diff_src_;
}

}  // namespace vb
