// TokenSelect: reorders between the (B, 1, D) sub-memory at row `token` of a plain (B, N, D) tensor and
// the (B, D) tensor seen as (B, 1, D).
#include "models/layers/token_select.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace vb {

TokenSelect::TokenSelect(std::string name, Config cfg) : Layer(std::move(name)), cfg_(cfg) {
  check_arg(cfg_.token >= 0, name_, fmt::format("token must be >= 0, given {}", cfg_.token));
}

void TokenSelect::build(const dnnl::memory::desc& src_md) {
  const auto& eng = Runtime::engine();
  src_md_ = src_md;
  saved_ = false;
  bwd_built_ = false;
  const Dims s = src_md.dims();  // (B, N, D)
  const int64_t B = s[0], D = s[2];
  const auto plain_md = plain_desc(s);
  src_to_plain_ = Reorder(src_md, plain_md);
  dst_ = Tensor({B, D});
  const dnnl::memory row(plain_md.submemory_desc({B, 1, D}, {0, cfg_.token, 0}), eng, nullptr);
  const dnnl::memory dst3(plain_desc({B, 1, D}), eng, dst_.mem().get_data_handle());
  fwd_ = Step{dnnl::reorder(row, dst3), {{DNNL_ARG_FROM, row}, {DNNL_ARG_TO, dst3}}};
}

const Tensor& TokenSelect::forward(const Tensor& src, Mode mode) {
  // src is (B, N, D); dst is (B, D).
  check_rank(name_, "src", 3, src);
  check_f32(name_, "src", src);
  check_arg(
      src.numel() > 0 && src.dim(1) > cfg_.token, name_,
      fmt::format("src has shape {}, expected (B > 0, N > {}, D > 0)", to_string(src.shape()), cfg_.token));
  if (src.desc() != src_md_) build(src.desc());
  fwd_.args[DNNL_ARG_FROM].set_data_handle(src_to_plain_(src.mem()).get_data_handle());
  fwd_.run();
  saved_ = mode == Mode::train;
  return dst_;
}

void TokenSelect::build_backward() {
  const auto& eng = Runtime::engine();
  bwd_built_ = true;
  const Dims s = src_md_.dims();  // (B, N, D)
  const int64_t B = s[0], D = s[2];
  diff_dst_to_plain_ = InputReorder(plain_desc({B, D}));
  diff_plain_ = Tensor(s);  // zeroed: rows other than `token` are never written
  const dnnl::memory row(diff_plain_.desc().submemory_desc({B, 1, D}, {0, cfg_.token, 0}), eng,
                         diff_plain_.mem().get_data_handle());
  const dnnl::memory diff_dst3(plain_desc({B, 1, D}), eng, nullptr);
  bwd_ = Step{dnnl::reorder(diff_dst3, row), {{DNNL_ARG_FROM, diff_dst3}, {DNNL_ARG_TO, row}}};
  diff_plain_to_src_ = Reorder(diff_plain_.desc(), src_md_);
  diff_src_owned_ = diff_plain_to_src_.needed() ? Tensor(src_md_) : Tensor();
  diff_src_ = diff_plain_to_src_.needed() ? diff_src_owned_ : diff_plain_;
}

const Tensor& TokenSelect::backward(const Tensor& diff_dst) {
  if (!saved_) throw std::logic_error(fmt::format("{}: backward needs a train-mode forward first", name_));
  check_arg(!diff_dst.empty(), name_, "diff_dst is empty");
  check_f32(name_, "diff_dst", diff_dst);
  check_shape(name_, "diff_dst", dst_.shape(), diff_dst.shape());
  if (!bwd_built_) build_backward();
  // diff_dst (B, D) plain, written into row `token` of diff_plain_ (B, N, D).
  bwd_.args[DNNL_ARG_FROM].set_data_handle(diff_dst_to_plain_(diff_dst.mem()).get_data_handle());
  bwd_.run();
  if (diff_plain_to_src_.needed()) diff_plain_to_src_.into(diff_plain_.mem(), diff_src_owned_.mem());
  return diff_src_;
}

}  // namespace vb
