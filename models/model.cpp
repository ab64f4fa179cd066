// The model factory and the parts of Model shared by every family.
#include "models/model.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <unordered_set>

#include "models/core/cpu.hpp"
#include "models/cost.hpp"
#include "models/families/families.hpp"

namespace vb {

std::vector<Param*> Model::params() {
  std::vector<Param*> out;
  for (const StateEntry& e : state())
    if (e.param) out.push_back(e.param);
  return out;
}

int64_t Model::num_params() {
  int64_t n = 0;
  for (Param* p : params()) n += p->value.numel();
  return n;
}

void Model::pack_params() {
  if (packed()) return;
  std::vector<Param*> ps;
  std::unordered_set<Param*> seen;  // a parameter listed twice (shared) is packed once
  for (Param* p : params())
    if (seen.insert(p).second) ps.push_back(p);
  constexpr int64_t align = 64 / sizeof(float);
  std::vector<int64_t> offsets;
  int64_t total = 0;
  for (Param* p : ps) {
    offsets.push_back(total);
    total += (p->value.numel() + align - 1) / align * align;
  }
  if (total == 0) return;
  const size_t bytes =
      static_cast<size_t>(total) * sizeof(float);  // a multiple of 64, as aligned_alloc needs
  auto alloc = [&] {
    auto* ptr = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!ptr)
      throw std::length_error(fmt::format("model {}: cannot allocate {:.1f} MiB for its parameters",
                                          cfg_.name, static_cast<double>(bytes) / (1 << 20)));
    std::memset(ptr, 0, bytes);
    return std::shared_ptr<float>(ptr, std::free);
  };
  flat_values_ = alloc();
  flat_grads_ = alloc();
  Runtime::wait();
  for (size_t k = 0; k < ps.size(); ++k) {
    Param& p = *ps[k];
    check_f32(cfg_.name, p.name, p.value);
    check_arg(p.value.plain() && p.grad.plain() && p.grad.shape() == p.value.shape(), cfg_.name,
              fmt::format("parameter {} is not a plain f32 value with a grad of its shape", p.name));
    float* v = flat_values_.get() + offsets[k];
    float* g = flat_grads_.get() + offsets[k];
    const size_t n = static_cast<size_t>(p.value.numel()) * sizeof(float);
    std::memcpy(v, p.value.mem().get_data_handle(), n);
    std::memcpy(g, p.grad.mem().get_data_handle(), n);
    // Copies of the old tensors (none are expected before the first forward) see the flat buffer too.
    p.value.mem().set_data_handle(v);
    p.grad.mem().set_data_handle(g);
    p.value = Tensor::view(p.value.shape(), flat_values_, v);
    p.grad = Tensor::view(p.grad.shape(), flat_grads_, g);
  }
  flat_size_ = total;
}

void Model::zero_grads() {
  Runtime::wait();
  if (!packed()) {
    for (Param* p : params()) p->grad.zero();
    return;
  }
  std::memset(flat_grads_.get(), 0, static_cast<size_t>(flat_size_) * sizeof(float));
  for (Param* p : params()) p->grad.touch();
}

namespace {

// Every tensor is bounded on its own (tensor.cpp), but a model of many legal tensors (depth=60000) would
// still allocate until the machine runs out. So the total is bounded before the first layer is built, from
// the cost table (whose parameter column a test checks against the real models): training holds four f32
// copies of every parameter (the value, its gradient, AdamW's two moments), and those alone must fit in this
// machine's memory, the same ceiling the per-tensor bound uses. The largest preset (ViT-B/16, 86 M
// parameters: 1.4 GB) is far below it on any machine that can train it. A config whose counts overflow int64
// (img_size=100000) is left to the per-tensor bound, whose message gives the size of the tensor that does not
// fit.
void check_total_size(const ModelConfig& cfg) {
  int64_t params = 0;
  try {
    params = total_params(cost_table(cfg));
  } catch (const std::invalid_argument&) {
    return;
  }
  const double bytes = 4.0 * sizeof(float) * static_cast<double>(params);
  const double machine =
      static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
  if (bytes > machine)
    throw std::length_error(
        fmt::format("model {} does not fit in memory: {} parameters need {:.1f} GiB for training "
                    "(value, gradient and AdamW's two moments, f32), more than this machine's "
                    "{:.1f} GiB; choose a smaller depth, width or img_size",
                    cfg.name, params, bytes / (1 << 30), machine / (1 << 30)));
}

}  // namespace

std::unique_ptr<Model> create_model(const ModelConfig& cfg) {
  // Refused here, before any layer is built: without avx512_core_bf16 oneDNN has no (or only emulated)
  // bf16 kernels, and the first forward would fail deep inside a layer.
  require_dtype(cfg.dtype, cfg.name);
  check_total_size(cfg);
  try {
    std::unique_ptr<Model> model = family_info(cfg.family).make(cfg);
    model->pack_params();
    return model;
  } catch (
      const std::length_error& e) {  // a tensor too large for the machine (tensor.cpp): say which setting
    throw std::length_error(
        fmt::format("model {} at img_size {} does not fit in memory: {}; choose a smaller "
                    "img_size",
                    cfg.name, cfg.img_size, e.what()));
  }
}

}  // namespace vb
