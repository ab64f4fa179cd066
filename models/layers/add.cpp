// Residual add: oneDNN binary add in a's layout; backward passes diff_dst through (in a's layout).
#include "models/layers/add.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace vb {

void Add::build(const dnnl::memory::desc& a_md, const dnnl::memory::desc& b_md) {
  a_md_ = a_md;
  b_md_ = b_md;
  b_to_a_ = Reorder(b_md, a_md);
  const dnnl::binary::primitive_desc pd(dnnl::binary::desc(dnnl::algorithm::binary_add, a_md, a_md, a_md),
                                        Runtime::engine());
  dst_ = Tensor(a_md);
  add_ = Step{dnnl::binary(pd), {{DNNL_ARG_DST, dst_.mem()}}};
  diff_dst_to_a_ = InputReorder(a_md);
  diff_ = Tensor();
}

const Tensor& Add::forward(const Tensor& a, const Tensor& b) {
  // a and b are (...) with equal shapes; dst is a + b in a's layout.
  check_arg(!a.empty() && !b.empty(), name_, "a or b is empty");
  check_dtype(name_, "a", a, dtype_);
  check_dtype(name_, "b", b, dtype_);
  check_shape(name_, "b", a.shape(), b.shape());
  if (a.desc() != a_md_ || b.desc() != b_md_) build(a.desc(), b.desc());
  add_.args[DNNL_ARG_SRC_0] = a.mem();
  add_.args[DNNL_ARG_SRC_1] = b_to_a_(b.mem());
  add_.run();
  return dst_;
}

const Tensor& Add::backward(const Tensor& diff_dst) {
  if (dst_.empty()) throw std::logic_error(fmt::format("{}: backward called before forward", name_));
  check_arg(!diff_dst.empty(), name_, "diff_dst is empty");
  check_dtype(name_, "diff_dst", diff_dst, dtype_);
  check_shape(name_, "diff_dst", dst_.shape(), diff_dst.shape());
  // Both inputs receive diff_dst unchanged: the same buffer when it is already in a's layout.
  diff_ = diff_dst_to_a_.tensor(diff_dst);
  return diff_;
}

}  // namespace vb
