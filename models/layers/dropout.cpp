// Dropout: one mask entry per element, drawn row-major and reordered into src's layout.
#include "models/layers/dropout.hpp"

namespace vb {

Dropout::Dropout(std::string name, Config cfg) : RandomMask(std::move(name), cfg) {}

RandomMask::Layout Dropout::layout(const dnnl::memory::desc& src_md) {
  mask_ = Tensor(src_md.dims());
  mask_to_src_ = Reorder(mask_.desc(), src_md);
  return {src_md, src_md};
}

}  // namespace vb
