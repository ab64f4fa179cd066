// PatchUnfold: the index map dst[b, gh*Gw + gw, (c*P + ph)*P + pw] = src[b, c, gh*P + ph, gw*P + pw] is a
// pure permutation of the 6-D index (b, c, gh, ph, gw, pw), so both directions are one strided reorder.
#include "models/layers/patch_unfold.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace vb {

namespace {
// The 6-D logical dims (B, C, Gh, P, Gw, P) with the strides of the image (B, C, H, W) and of the patch rows
// (B, Gh, Gw, C, P, P), both row-major.
struct Views {
  dnnl::memory::desc image, patches;
};
Views views(int64_t B, int64_t C, int64_t H, int64_t W, int64_t P) {
  const int64_t Gh = H / P, Gw = W / P, row = C * P * P;
  const Dims dims{B, C, Gh, P, Gw, P};
  const Dims image_strides{C * H * W, H * W, P * W, W, P, 1};
  const Dims patch_strides{Gh * Gw * row, P * P, Gw * row, P, row, 1};
  return {dnnl::memory::desc(dims, dt::f32, image_strides), dnnl::memory::desc(dims, dt::f32, patch_strides)};
}
}  // namespace

PatchUnfold::PatchUnfold(std::string name, Config cfg) : Layer(std::move(name)), cfg_(cfg) {
  check_arg(cfg_.patch > 0, name_, fmt::format("patch must be positive, given {}", cfg_.patch));
}

void PatchUnfold::build(const dnnl::memory::desc& src_md) {
  const auto& eng = Runtime::engine();
  const Dims s = src_md.dims();
  const int64_t B = s[0], C = s[1], H = s[2], W = s[3], P = cfg_.patch;
  src_md_ = src_md;
  saved_ = false;
  src_to_plain_ = Reorder(src_md, plain_desc(s));
  dst_ = Tensor({B, (H / P) * (W / P), C * P * P});
  diff_dst_to_plain_ = InputReorder(dst_.desc());
  const Views v = views(B, C, H, W, P);
  const dnnl::memory image(v.image, eng, nullptr), patches(v.patches, eng, dst_.mem().get_data_handle());
  unfold_ = Step{dnnl::reorder(image, patches), {{DNNL_ARG_FROM, image}, {DNNL_ARG_TO, patches}}};

  diff_src_plain_ = Tensor(s);
  const dnnl::memory diff_patches(v.patches, eng, nullptr),
      diff_image(v.image, eng, diff_src_plain_.mem().get_data_handle());
  fold_ = Step{dnnl::reorder(diff_patches, diff_image),
               {{DNNL_ARG_FROM, diff_patches}, {DNNL_ARG_TO, diff_image}}};
  diff_src_to_src_ = Reorder(diff_src_plain_.desc(), src_md);
  diff_src_ = diff_src_to_src_.needed() ? Tensor(src_md) : diff_src_plain_;
}

const Tensor& PatchUnfold::forward(const Tensor& src, Mode mode) {
  // src is (B, C, H, W); dst is (B, L, C*P*P).
  check_rank(name_, "src", 4, src);
  check_f32(name_, "src", src);
  const int64_t P = cfg_.patch;
  check_arg(src.dim(2) % P == 0 && src.dim(3) % P == 0, name_,
            fmt::format("src has shape {}: H and W must be divisible by the patch size {}",
                        to_string(src.shape()), P));
  if (src.desc() != src_md_) build(src.desc());
  unfold_.args[DNNL_ARG_FROM].set_data_handle(src_to_plain_(src.mem()).get_data_handle());
  unfold_.run();
  saved_ = mode == Mode::train;
  return dst_;
}

const Tensor& PatchUnfold::backward(const Tensor& diff_dst) {
  if (!saved_) throw std::logic_error(fmt::format("{}: backward needs a train-mode forward first", name_));
  check_arg(!diff_dst.empty(), name_, "diff_dst is empty");
  check_f32(name_, "diff_dst", diff_dst);
  check_shape(name_, "diff_dst", dst_.shape(), diff_dst.shape());
  fold_.args[DNNL_ARG_FROM].set_data_handle(diff_dst_to_plain_(diff_dst.mem()).get_data_handle());
  fold_.run();
  if (diff_src_to_src_.needed()) diff_src_to_src_.into(diff_src_plain_.mem(), diff_src_.mem());
  return diff_src_;
}

}  // namespace vb
