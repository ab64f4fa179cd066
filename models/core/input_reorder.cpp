// InputReorder: the cached reorder of a layer's input into the desc its primitive expects.
#include "models/core/input_reorder.hpp"

namespace vb {

Reorder& InputReorder::adapt(const dnnl::memory::desc& from) {
  if (!built_ || from != from_) {
    reorder_ = Reorder(from, to_);
    from_ = from;
    built_ = true;
  }
  return reorder_;
}

Tensor InputReorder::tensor(const Tensor& src) {
  if (!adapt(src.desc()).needed()) return src;
  if (owned_.empty()) owned_ = Tensor(to_);
  reorder_.into(src.mem(), owned_.mem());
  return owned_;
}

}  // namespace vb
