// DropPath: per-sample mask drawn on the host (B numbers), applied by a oneDNN binary multiply.
#include "models/layers/drop_path.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "models/core/rng.hpp"

namespace vb {

namespace {
// Elements per sample S when each sample of `md` is a dense block [b*S, (b+1)*S) of the buffer (dim 0 the
// outermost and not blocked, no padding of dim 0, no offset); 0 otherwise.
int64_t sample_stride(const dnnl::memory::desc& md) {
  const auto& d = md.data;
  if (d.format_kind != dnnl_blocked || d.offset0 != 0 || d.padded_dims[0] != d.dims[0]) return 0;
  const auto& blk = d.format_desc.blocking;
  for (int i = 0; i < blk.inner_nblks; ++i)
    if (blk.inner_idxs[i] == 0) return 0;
  for (int i = 1; i < d.ndims; ++i)
    if (blk.strides[i] > blk.strides[0]) return 0;
  const int64_t s = blk.strides[0];
  const int64_t elems = static_cast<int64_t>(md.get_size() / sizeof(float));
  return s * d.dims[0] == elems ? s : 0;
}
}  // namespace

DropPath::DropPath(std::string name, Config cfg) : Layer(std::move(name)), cfg_(cfg) {
  check_arg(cfg_.prob >= 0.f && cfg_.prob < 1.f, name_,
            fmt::format("prob must be in [0, 1), given {}", cfg_.prob));
}

void DropPath::set_step(int64_t step) {
  check_arg(step >= 0, name_, fmt::format("step must be non-negative, given {}", step));
  step_ = step;
}

void DropPath::build(const dnnl::memory::desc& src_md) {
  const auto& eng = Runtime::engine();
  src_md_ = src_md;
  batch_ = src_md.dims()[0];
  saved_ = Saved::none;
  diff_dst_md_ = {};
  mask_ = Tensor({batch_});
  dnnl::memory::desc mask_md;
  if (const int64_t s = sample_stride(src_md)) {
    data_md_ = plain_desc({1, batch_, s});
    mask_md = plain_desc({1, batch_, 1});
  } else {
    data_md_ = src_md;
    Dims mask_dims(src_md.dims().size(), 1);
    mask_dims[0] = batch_;
    mask_md = plain_desc(mask_dims);
  }
  const dnnl::binary::primitive_desc pd(
      dnnl::binary::desc(dnnl::algorithm::binary_mul, data_md_, mask_md, data_md_), eng);
  const dnnl::binary mul(pd);
  const dnnl::memory mask(mask_md, eng, mask_.mem().get_data_handle());
  dst_ = Tensor(src_md);
  diff_src_ = Tensor(src_md);
  fwd_ = Step{mul,
              {{DNNL_ARG_SRC_0, dnnl::memory(data_md_, eng, nullptr)},
               {DNNL_ARG_SRC_1, mask},
               {DNNL_ARG_DST, dnnl::memory(data_md_, eng, dst_.mem().get_data_handle())}}};
  bwd_ = Step{mul,
              {{DNNL_ARG_SRC_0, dnnl::memory(data_md_, eng, nullptr)},
               {DNNL_ARG_SRC_1, mask},
               {DNNL_ARG_DST, dnnl::memory(data_md_, eng, diff_src_.mem().get_data_handle())}}};
}

const Tensor& DropPath::forward(const Tensor& src, Mode mode) {
  // src is (B, ...); dst the same.
  check_arg(!src.empty(), name_, "src is empty");
  check_f32(name_, "src", src);
  if (src.desc() != src_md_) build(src.desc());
  if (mode != Mode::train || cfg_.prob == 0.f) {
    if (mode == Mode::train) ++step_;
    saved_ = mode == Mode::train ? Saved::identity : Saved::none;
    out_ = src;
    return out_;
  }
  // mask[b] is (B): keep with probability 1-p, scaled so that the expectation is unchanged.
  const float keep = 1.f - cfg_.prob, scale = 1.f / keep;
  Runtime::wait();  // the previous step may still read the mask
  float* mask = mask_.data();
  const uint64_t base = static_cast<uint64_t>(step_) * static_cast<uint64_t>(batch_);
  for (int64_t b = 0; b < batch_; ++b) mask[b] = rng::uniform(cfg_.seed, base + b) < keep ? scale : 0.f;
  ++step_;
  fwd_.args[DNNL_ARG_SRC_0].set_data_handle(src.mem().get_data_handle());
  fwd_.run();
  saved_ = Saved::masked;
  out_ = dst_;
  return out_;
}

const Tensor& DropPath::backward(const Tensor& diff_dst) {
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
    bwd_.args[DNNL_ARG_SRC_0].set_data_handle(diff_dst_to_src_(diff_dst.mem()).get_data_handle());
    bwd_.run();
  }
  diff_out_ = diff_src_;
  return diff_out_;
}

}  // namespace vb
