// The one "bring the caller's input into the layout my primitive was built for" helper every layer uses.
// A primitive is built for one memory desc, but callers hand in whatever layout their producer chose (blocked
// after a convolution, plain after a reshape) and, for bf16 layers, either dtype. InputReorder remembers the
// desc it last saw and rebuilds its reorder only when that changes: one comparison per call in the hot loop.
#pragma once

#include "models/core/tensor.hpp"

namespace vb {

class InputReorder {
 public:
  InputReorder() = default;
  // `to`: the desc the consuming primitive (or host code) expects.
  explicit InputReorder(const dnnl::memory::desc& to) : to_(to) {}

  // src in any layout/dtype of the target's shape -> src itself when its desc equals the target, else the
  // converted copy held by this object (valid until the next call).
  const dnnl::memory& operator()(const dnnl::memory& src) { return adapt(src.get_desc())(src); }
  // The same conversion into an existing destination of the target desc (a plain copy when no reorder is
  // needed).
  void into(const dnnl::memory& src, const dnnl::memory& dst) { adapt(src.get_desc()).into(src, dst); }
  // For layers that hand their input on (residual adds, pass-through backward): src itself when its desc
  // equals the target, else the converted copy in a tensor of the target desc owned by this object.
  Tensor tensor(const Tensor& src);
  // Whether the last input needed converting (false before the first call).
  bool needed() const { return reorder_.needed(); }
  const dnnl::memory::desc& to() const { return to_; }

 private:
  Reorder& adapt(const dnnl::memory::desc& from);  // rebuilds reorder_ when `from` differs from from_

  dnnl::memory::desc to_;
  dnnl::memory::desc from_;  // the input desc `reorder_` was built for
  bool built_ = false;
  Reorder reorder_;
  Tensor owned_;  // tensor()'s converted copy, allocated on first need
};

}  // namespace vb
