// Runtime core: engine/stream, Tensor, Reorder and the argument checks shared by all layers.
#include "models/core/tensor.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace vb {

dt to_dnnl(DType d) {
  return d == DType::bf16 ? dt::bf16 : dt::f32;
}
const char* to_string(DType d) {
  return d == DType::bf16 ? "bf16" : "f32";
}

DType parse_dtype(const std::string& s) {
  if (s == "f32") return DType::f32;
  if (s == "bf16") return DType::bf16;
  throw std::invalid_argument("unknown dtype '" + s + "' (f32 or bf16)");
}

dnnl::engine& Runtime::engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}
dnnl::stream& Runtime::stream() {
  static dnnl::stream strm(engine());
  return strm;
}

std::string to_string(const Dims& d) {
  return fmt::format("[{}]", fmt::join(d, ", "));
}

int64_t product(const Dims& d) {
  int64_t n = 1;
  for (auto v : d) n *= v;
  return n;
}

dnnl::memory::desc plain_desc(const Dims& shape, DType d) {
  // Row-major strides: the last dimension is contiguous.
  Dims strides(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * shape[i + 1];
  return dnnl::memory::desc(shape, to_dnnl(d), strides);
}

bool is_plain(const dnnl::memory::desc& md) {
  const auto dims = md.dims();
  return md == plain_desc(dims, md.data_type() == dt::bf16 ? DType::bf16 : DType::f32);
}

namespace {

// A shape read from a setting (img_size=100000) or a file must fail with its size, before oneDNN tries the
// allocation and reports only "could not create a memory object". std::length_error lets create_model add
// which model and img_size asked for it.
const Dims& check_size(const Dims& shape, DType d) {
  uint64_t bytes = d == DType::bf16 ? 2 : 4;
  const uint64_t machine =
      static_cast<uint64_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  for (int64_t v : shape)
    if (v > 0 && __builtin_mul_overflow(bytes, static_cast<uint64_t>(v), &bytes)) bytes = UINT64_MAX;
  if (bytes > machine)
    throw std::length_error(fmt::format(
        "a tensor of shape {} would need {:.1f} GiB, more than this machine's "
        "{:.1f} GiB of memory",
        to_string(shape), static_cast<double>(bytes) / (1 << 30), static_cast<double>(machine) / (1 << 30)));
  return shape;
}

// The next version (never 0: a tensor without one, and an untracked memory, are never taken as cached).
std::atomic<uint64_t> last_version{0};
uint64_t next_version() {
  return last_version.fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace

Tensor::Tensor(const Dims& shape, DType d) : Tensor(plain_desc(check_size(shape, d), d)) {}

Tensor::Tensor(const dnnl::memory::desc& md) : shape_(md.dims()) {
  if (md.data.ndims == 0 || product(shape_) <= 0)
    throw std::invalid_argument(
        fmt::format("Tensor: cannot allocate an empty tensor of shape {}", to_string(shape_)));
  mem_ = dnnl::memory(md, Runtime::engine());
  version_ = std::make_shared<std::atomic<uint64_t>>(next_version());
  zero();
}

Tensor Tensor::view(const Dims& shape, std::shared_ptr<void> owner, float* data) {
  Tensor t;
  t.shape_ = shape;
  t.mem_ = dnnl::memory(plain_desc(check_size(shape, DType::f32)), Runtime::engine(), data);
  t.version_ = std::make_shared<std::atomic<uint64_t>>(next_version());
  t.owner_ = std::move(owner);
  return t;
}

void Tensor::touch() const {
  if (version_) version_->store(next_version(), std::memory_order_relaxed);
}

Tensor Tensor::from(const Dims& shape, const std::vector<float>& values) {
  Tensor t(shape);
  t.assign(values);
  return t;
}

DType Tensor::dtype() const {
  return desc().data_type() == dt::bf16 ? DType::bf16 : DType::f32;
}

float* Tensor::data() const {
  if (empty() || !plain() || dtype() != DType::f32)
    throw std::logic_error(fmt::format("Tensor::data: tensor {} is not plain f32", to_string(shape_)));
  touch();
  return static_cast<float*>(mem_.get_data_handle());
}

Tensor Tensor::reshaped(const Dims& shape) const {
  if (empty() || !plain() || product(shape) != numel())
    throw std::invalid_argument(fmt::format("Tensor::reshaped: cannot view {} {} as {}",
                                            plain() ? "plain" : "non-plain", to_string(shape_),
                                            to_string(shape)));
  Tensor t;
  t.shape_ = shape;
  t.mem_ = dnnl::memory(plain_desc(shape, dtype()), Runtime::engine(), mem_.get_data_handle());
  t.version_ = version_;
  t.owner_ = owner_;
  return t;
}

void Tensor::zero() {
  touch();
  std::memset(mem_.get_data_handle(), 0, desc().get_size());
}

std::vector<float> Tensor::to_vector() const {
  Runtime::wait();
  std::vector<float> out(numel());
  if (plain() && dtype() == DType::f32) {
    std::memcpy(out.data(), mem_.get_data_handle(), out.size() * sizeof(float));  // a read: no touch()
    return out;
  }
  dnnl::memory host(plain_desc(shape_), Runtime::engine(), out.data());
  dnnl::reorder(mem_, host).execute(Runtime::stream(), const_cast<dnnl::memory&>(mem_), host);
  Runtime::wait();
  return out;
}

void Tensor::assign(const std::vector<float>& values) {
  if (static_cast<int64_t>(values.size()) != numel())
    throw std::invalid_argument(
        fmt::format("Tensor::assign: {} values for a tensor of shape {}", values.size(), to_string(shape_)));
  Runtime::wait();
  touch();
  if (plain() && dtype() == DType::f32) {
    std::memcpy(data(), values.data(), values.size() * sizeof(float));
    return;
  }
  dnnl::memory host(plain_desc(shape_), Runtime::engine(), const_cast<float*>(values.data()));
  dnnl::reorder(host, mem_).execute(Runtime::stream(), host, const_cast<dnnl::memory&>(mem_));
  Runtime::wait();
}

Reorder::Reorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to) : needed_(from != to) {
  if (!needed_) return;
  prim_ = dnnl::reorder(dnnl::reorder::primitive_desc(Runtime::engine(), from, Runtime::engine(), to));
  dst_ = dnnl::memory(to, Runtime::engine());
}

const dnnl::memory& Reorder::operator()(const dnnl::memory& src) {
  if (!needed_) return src;
  prim_.execute(Runtime::stream(), {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst_}});
  ++runs_;
  cached_handle_ = nullptr;  // dst_ no longer holds the cached tensor's conversion
  return dst_;
}

const dnnl::memory& Reorder::cached(const dnnl::memory& src, uint64_t version) {
  if (!needed_) return src;
  void* handle = src.get_data_handle();
  if (version != 0 && handle == cached_handle_ && version == cached_version_) return dst_;
  (*this)(src);
  cached_handle_ = handle;
  cached_version_ = version;
  return dst_;
}

void Reorder::into(const dnnl::memory& src, const dnnl::memory& dst) {
  if (!needed_) {
    Runtime::wait();
    std::memcpy(dst.get_data_handle(), src.get_data_handle(), dst.get_desc().get_size());
    return;
  }
  prim_.execute(Runtime::stream(), {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}});
}

void check_shape(const std::string& layer, const std::string& what, const Dims& expected, const Dims& given) {
  if (expected != given)
    throw std::invalid_argument(
        fmt::format("{}: {} has shape {}, expected {}", layer, what, to_string(given), to_string(expected)));
}

void check_rank(const std::string& layer, const std::string& what, size_t rank, const Tensor& t) {
  if (t.empty()) throw std::invalid_argument(fmt::format("{}: {} is empty", layer, what));
  if (t.shape().size() != rank)
    throw std::invalid_argument(fmt::format("{}: {} has shape {} (rank {}), expected rank {}", layer, what,
                                            to_string(t.shape()), t.shape().size(), rank));
}

void check_f32(const std::string& layer, const std::string& what, const Tensor& t) {
  if (t.dtype() != DType::f32)
    throw std::invalid_argument(
        fmt::format("{}: {} has dtype {}, expected f32", layer, what, to_string(t.dtype())));
}

void check_dtype(const std::string& layer, const std::string& what, const Tensor& t, DType allowed) {
  if (t.dtype() == DType::bf16 && allowed != DType::bf16)
    throw std::invalid_argument(
        fmt::format("{}: {} has dtype bf16, expected f32 (the layer is configured for f32)", layer, what));
}

void check_arg(bool ok, const std::string& layer, const std::string& message) {
  if (!ok) throw std::invalid_argument(fmt::format("{}: {}", layer, message));
}

}  // namespace vb
