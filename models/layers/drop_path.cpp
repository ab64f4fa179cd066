// DropPath: the per-sample mask (B numbers) broadcast against a (1, B, S) view of src where possible.
#include "models/layers/drop_path.hpp"

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

DropPath::DropPath(std::string name, Config cfg) : RandomMask(std::move(name), cfg) {}

RandomMask::Layout DropPath::layout(const dnnl::memory::desc& src_md) {
  const int64_t batch = src_md.dims()[0];
  mask_ = Tensor({batch});
  Layout l;
  if (const int64_t s = sample_stride(src_md)) {
    l.data = plain_desc({1, batch, s});
    l.mask = plain_desc({1, batch, 1});
  } else {
    l.data = src_md;
    Dims mask_dims(src_md.dims().size(), 1);
    mask_dims[0] = batch;
    l.mask = plain_desc(mask_dims);
  }
  mask_view_ = dnnl::memory(l.mask, Runtime::engine(), mask_.mem().get_data_handle());
  return l;
}

}  // namespace vb
