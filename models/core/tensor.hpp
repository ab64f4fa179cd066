// Runtime core: the one oneDNN engine and stream, dtypes, and Tensor, a shaped handle on a dnnl::memory.
// Tensors between layers may be in any layout oneDNN chose (blocked for convolutions); host code reads
// them through to_vector()/data(), which only work on plain row-major f32 or reorder first.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>
#include <vector>

namespace vb {

using Dims = dnnl::memory::dims;  // std::vector<int64_t>
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// Compute dtype of a layer. Parameters and gradients (master copies) are always f32; a bf16 layer
// converts its inputs and weights for the primitive and accumulates in f32 where oneDNN offers it.
enum class DType { f32, bf16 };
dt to_dnnl(DType d);
const char* to_string(DType d);
DType parse_dtype(const std::string& s);  // "f32" | "bf16"; throws naming the value

// Whether a layer runs for training (saves what backward needs, batch statistics, dropout on) or inference.
enum class Mode { train, eval };

// The only process-wide state: one CPU engine and one in-order stream.
struct Runtime {
  static dnnl::engine& engine();
  static dnnl::stream& stream();
  static void wait() { stream().wait(); }
};

std::string to_string(const Dims& d);  // "[2, 3, 4]"
int64_t product(const Dims& d);
// Row-major descriptor for `shape` (a, ab, abc, ... as many letters as dims).
dnnl::memory::desc plain_desc(const Dims& shape, DType d = DType::f32);
bool is_plain(const dnnl::memory::desc& md);

// A shaped handle on a dnnl::memory. Copies share the buffer (as dnnl::memory does): a layer keeps a copy
// of its input to use in backward. Newly allocated buffers are zeroed.
// Every buffer carries a version, shared by the copies and reshaped views: a process-wide counter value taken
// whenever the contents may change through the host (data(), assign(), zero(), touch()). A layer that keeps a
// converted copy of a tensor (a weight reordered into its primitive's layout) redoes it only when the version
// differs (Reorder::cached). Primitives writing through mem() do not change it: only the parameters' values
// are cached that way, and only host code (optimizer, init, checkpoint loads) writes them.
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(const Dims& shape, DType d = DType::f32);                 // plain row-major
  explicit Tensor(const dnnl::memory::desc& md);                            // any layout
  static Tensor from(const Dims& shape, const std::vector<float>& values);  // plain f32
  // Plain f32 on `data`, a part of the buffer `owner` keeps alive (a model's flat parameter buffer); the
  // contents are left as they are.
  static Tensor view(const Dims& shape, std::shared_ptr<void> owner, float* data);

  bool empty() const { return !mem_; }
  const Dims& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : i); }
  int64_t numel() const { return product(shape_); }
  DType dtype() const;
  dnnl::memory::desc desc() const { return mem_.get_desc(); }
  const dnnl::memory& mem() const { return mem_; }
  bool plain() const { return !empty() && is_plain(desc()); }

  // Plain f32 only (throws otherwise). Call Runtime::wait() after executing primitives, before reading.
  // Counts as a change (the pointer may be written through): a pointer kept and written through after a
  // later forward must be followed by touch().
  float* data() const;
  // The version above; touch() marks the contents as changed.
  uint64_t version() const { return version_ ? version_->load(std::memory_order_relaxed) : 0; }
  void touch() const;
  // Plain row-major f32 copy of the values, reordering from any layout/dtype. Waits on the stream.
  std::vector<float> to_vector() const;
  // Writes plain row-major f32 values into this tensor (any layout/dtype), size must equal numel().
  void assign(const std::vector<float>& values);
  void zero();
  // The same buffer seen with another shape of equal size; plain tensors only (throws otherwise).
  Tensor reshaped(const Dims& shape) const;

 private:
  Dims shape_;
  dnnl::memory mem_;
  std::shared_ptr<std::atomic<uint64_t>> version_;
  std::shared_ptr<void> owner_;  // the buffer of a view(), when the memory does not own it
};

// A primitive together with its argument map, built once and executed many times.
struct Step {
  dnnl::primitive prim;
  std::unordered_map<int, dnnl::memory> args;
  void run() const { prim.execute(Runtime::stream(), args); }
};

// Brings memory from one layout/dtype into another. Built once for a pair of descriptors; a no-op that
// returns its input unchanged when the two agree (the common case between memory-bound ops).
class Reorder {
 public:
  Reorder() = default;
  Reorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to);
  bool needed() const { return needed_; }
  // Returns `src` itself or the converted copy held by this object.
  const dnnl::memory& operator()(const dnnl::memory& src);
  // Like operator() for a tensor whose converted copy may be reused (a weight): converts only when `src`'s
  // buffer or version differs from the last conversion's, so an eval over many batches, or the forward and
  // backward of one step, convert each weight once.
  const dnnl::memory& cached(const Tensor& src) { return cached(src.mem(), src.version()); }
  // The same for a memory derived from a tensor of version `version` (a weight already converted once).
  const dnnl::memory& cached(const dnnl::memory& src, uint64_t version);
  // Converts into an existing destination (for writing results back, e.g. blocked grads to plain).
  void into(const dnnl::memory& src, const dnnl::memory& dst);
  // How many conversions ran (tests: a cached weight is converted once per change).
  int64_t runs() const { return runs_; }

 private:
  bool needed_ = false;
  dnnl::reorder prim_;
  dnnl::memory dst_;
  int64_t runs_ = 0;
  void* cached_handle_ = nullptr;  // src of the last conversion, and its version
  uint64_t cached_version_ = 0;
};

// How a parameter (or buffer) starts: declared by the layer or family that creates it, applied by the model's
// init(seed) (models/init.hpp) on the random stream of its state_dict key, so equal keys start equal.
struct Init {
  enum class Kind { constant, normal, trunc_normal, uniform };
  Kind kind = Kind::constant;
  double a = 0, b = 0,
         c = 0;  // constant: value a; normal: std a; trunc_normal: std a in [b, c]; uniform: [a, b]
  static Init constant(double value) { return {Kind::constant, value}; }
  static Init normal(double std) { return {Kind::normal, std}; }
  static Init trunc_normal(double std, double lo, double hi) {
    return {Kind::trunc_normal, std, lo, hi};
  }  // absolute bounds
  static Init uniform(double lo, double hi) { return {Kind::uniform, lo, hi}; }
};

// A trainable tensor with its gradient, named by its PyTorch state_dict key suffix (weight, bias, ...).
// create_model moves every model's values and grads into two flat buffers (Model::flat_values()); the
// tensors then view them, with the same shapes.
struct Param {
  std::string name;
  Tensor value;       // f32, plain, PyTorch layout
  Tensor grad;        // same shape; written by backward
  bool decay = true;  // false for norms, biases, cls token and position tables (no weight decay)
  Init init = {};     // how init(seed) sets value (zeros unless the creator says otherwise)
};

// Layer argument checks: throw std::invalid_argument naming the layer and expected vs given.
void check_shape(const std::string& layer, const std::string& what, const Dims& expected, const Dims& given);
void check_rank(const std::string& layer, const std::string& what, size_t rank, const Tensor& t);
void check_f32(const std::string& layer, const std::string& what, const Tensor& t);
// f32 always; bf16 only when the layer is configured for bf16 (`allowed` = its Config::dtype).
void check_dtype(const std::string& layer, const std::string& what, const Tensor& t, DType allowed);

void check_arg(bool ok, const std::string& layer, const std::string& message);

}  // namespace vb
