// Dropout: the mask is drawn on the host (one counter-based draw per element, OpenMP), then applied by a
// oneDNN binary multiply in src's layout.
#include "models/layers/dropout.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "models/core/rng.hpp"

namespace vb {

Dropout::Dropout(std::string name, Config cfg) : Layer(std::move(name)), cfg_(cfg) {
  check_arg(cfg_.prob >= 0.f && cfg_.prob < 1.f, name_,
            fmt::format("prob must be in [0, 1), given {}", cfg_.prob));
}

void Dropout::set_step(int64_t step) {
  check_arg(step >= 0, name_, fmt::format("step must be non-negative, given {}", step));
  step_ = step;
}

void Dropout::build(const dnnl::memory::desc& src_md) {
  src_md_ = src_md;
  saved_ = Saved::none;
  diff_dst_md_ = {};
  mask_ = Tensor(src_md.dims());
  mask_to_src_ = Reorder(mask_.desc(), src_md);
  const dnnl::binary::primitive_desc pd(
      dnnl::binary::desc(dnnl::algorithm::binary_mul, src_md, src_md, src_md), Runtime::engine());
  const dnnl::binary mul(pd);
  dst_ = Tensor(src_md);
  diff_src_ = Tensor(src_md);
  fwd_ = Step{mul, {{DNNL_ARG_DST, dst_.mem()}}};
  bwd_ = Step{mul, {{DNNL_ARG_DST, diff_src_.mem()}}};
}

const Tensor& Dropout::forward(const Tensor& src, Mode mode) {
  // src is (...); dst the same.
  check_arg(!src.empty(), name_, "src is empty");
  check_f32(name_, "src", src);
  if (src.desc() != src_md_) build(src.desc());
  if (mode != Mode::train || cfg_.prob == 0.f) {
    if (mode == Mode::train) ++step_;
    saved_ = mode == Mode::train ? Saved::identity : Saved::none;
    out_ = src;
    return out_;
  }
  // mask is plain, shape of src: keep with probability 1-p, scaled so that the expectation is unchanged.
  const float keep = 1.f - cfg_.prob, scale = 1.f / keep;
  const int64_t n = src.numel();
  const uint64_t seed = cfg_.seed, base = static_cast<uint64_t>(step_) * static_cast<uint64_t>(n);
  Runtime::wait();  // the previous step may still read the mask
  float* mask = mask_.data();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) mask[i] = rng::uniform(seed, base + i) < keep ? scale : 0.f;
  ++step_;
  const dnnl::memory& mask_src = mask_to_src_(mask_.mem());  // the mask in src's layout
  fwd_.args[DNNL_ARG_SRC_0] = src.mem();
  fwd_.args[DNNL_ARG_SRC_1] = mask_src;
  bwd_.args[DNNL_ARG_SRC_1] = mask_src;
  fwd_.run();
  saved_ = Saved::masked;
  out_ = dst_;
  return out_;
}

const Tensor& Dropout::backward(const Tensor& diff_dst) {
  if (saved_ == Saved::none)
    throw std::logic_error(fmt::format("{}: backward needs a train-mode forward first", name_));
  check_arg(!diff_dst.empty(), name_, "diff_dst is empty");
  check_f32(name_, "diff_dst", diff_dst);
  check_shape(name_, "diff_dst", src_md_.dims(), diff_dst.shape());
  if (diff_dst.desc() != diff_dst_md_) {
    diff_dst_md_ = diff_dst.desc();
    diff_dst_to_src_ = Reorder(diff_dst_md_, src_md_);
  }
  if (saved_ == Saved::identity) {
    if (!diff_dst_to_src_.needed()) {
      diff_out_ = diff_dst;
      return diff_out_;
    }
    diff_dst_to_src_.into(diff_dst.mem(), diff_src_.mem());
  } else {
    bwd_.args[DNNL_ARG_SRC_0] = diff_dst_to_src_(diff_dst.mem());
    bwd_.run();
  }
  diff_out_ = diff_src_;
  return diff_out_;
}

}  // namespace vb
