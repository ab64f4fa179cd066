// RandomMask: host draw of the mask (counter-based rng, OpenMP when large), oneDNN binary multiply forward
// and backward, identity paths.
#include "models/layers/random_mask.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "models/core/rng.hpp"

namespace vb {

namespace {
struct BatchSlice {
  int64_t offset = 0, local = 0, global = 0;
} g_slice;
}  // namespace

void RandomMask::set_batch_slice(int64_t offset, int64_t local, int64_t global) {
  check_arg(
      global == 0 || (local > 0 && offset >= 0 && offset + local <= global), "RandomMask",
      fmt::format("batch slice [{}, {}) of {} is not inside the batch", offset, offset + local, global));
  g_slice = {offset, local, global};
}

RandomMask::RandomMask(std::string name, Config cfg) : Layer(std::move(name)), cfg_(cfg) {
  check_arg(cfg_.prob >= 0.f && cfg_.prob < 1.f, name_,
            fmt::format("prob must be in [0, 1), given {}", cfg_.prob));
}

void RandomMask::set_step(int64_t step) {
  check_arg(step >= 0, name_, fmt::format("step must be non-negative, given {}", step));
  step_ = step;
}

void RandomMask::build(const dnnl::memory::desc& src_md) {
  const auto& eng = Runtime::engine();
  src_md_ = src_md;
  saved_ = Saved::none;
  diff_dst_to_src_ = InputReorder(src_md);
  const Layout l = layout(src_md);
  const dnnl::binary::primitive_desc pd(
      dnnl::binary::desc(dnnl::algorithm::binary_mul, l.data, l.mask, l.data), eng);
  const dnnl::binary mul(pd);
  dst_ = Tensor(src_md);
  diff_src_ = Tensor(src_md);
  fwd_ = Step{mul,
              {{DNNL_ARG_SRC_0, dnnl::memory(l.data, eng, nullptr)},
               {DNNL_ARG_DST, dnnl::memory(l.data, eng, dst_.mem().get_data_handle())}}};
  bwd_ = Step{mul,
              {{DNNL_ARG_SRC_0, dnnl::memory(l.data, eng, nullptr)},
               {DNNL_ARG_DST, dnnl::memory(l.data, eng, diff_src_.mem().get_data_handle())}}};
}

const Tensor& RandomMask::forward(const Tensor& src, Mode mode) {
  check_arg(!src.empty(), name_, "src is empty");
  check_f32(name_, "src", src);
  if (src.desc() != src_md_) build(src.desc());
  if (mode != Mode::train || cfg_.prob == 0.f) {
    if (mode == Mode::train) ++step_;
    saved_ = mode == Mode::train ? Saved::identity : Saved::none;
    out_ = src;
    return out_;
  }
  // Keep with probability 1-p, scaled so that the expectation is unchanged.
  const float keep = 1.f - cfg_.prob, scale = 1.f / keep;
  const int64_t n = mask_.numel();
  // Draw numbers as if for the global batch (set_batch_slice): this slice's entries start at `first`.
  int64_t n_global = n, first = 0;
  const int64_t rows = src_md_.dims()[0];
  if (g_slice.global > 0 && rows % g_slice.local == 0) {
    n_global = n / g_slice.local * g_slice.global;
    first = n / g_slice.local * g_slice.offset;
  }
  const uint64_t seed = cfg_.seed, base = static_cast<uint64_t>(step_) * static_cast<uint64_t>(n_global) +
                                          static_cast<uint64_t>(first);
  Runtime::wait();  // the previous step may still read the mask
  float* mask = mask_.data();
#pragma omp parallel for schedule(static) if (n >= 4096)
  for (int64_t i = 0; i < n; ++i) mask[i] = rng::uniform(seed, base + i) < keep ? scale : 0.f;
  ++step_;
  const dnnl::memory& operand = mask_operand();
  fwd_.args[DNNL_ARG_SRC_1] = operand;
  bwd_.args[DNNL_ARG_SRC_1] = operand;
  fwd_.args[DNNL_ARG_SRC_0].set_data_handle(src.mem().get_data_handle());
  fwd_.run();
  saved_ = Saved::masked;
  out_ = dst_;
  return out_;
}

const Tensor& RandomMask::backward(const Tensor& diff_dst) {
  if (saved_ == Saved::none)
    throw std::logic_error(fmt::format("{}: backward needs a train-mode forward first", name_));
  check_arg(!diff_dst.empty(), name_, "diff_dst is empty");
  check_f32(name_, "diff_dst", diff_dst);
  check_shape(name_, "diff_dst", src_md_.dims(), diff_dst.shape());
  if (saved_ == Saved::identity) {
    diff_out_ = diff_dst_to_src_.tensor(diff_dst);  // diff_dst itself unless its layout differs from src's
    return diff_out_;
  }
  bwd_.args[DNNL_ARG_SRC_0].set_data_handle(diff_dst_to_src_(diff_dst.mem()).get_data_handle());
  bwd_.run();
  diff_out_ = diff_src_;
  return diff_out_;
}

}  // namespace vb
