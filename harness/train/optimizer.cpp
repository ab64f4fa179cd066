// SGD and AdamW; see optimizer.hpp. Each update is one OpenMP loop over all parameters at once: their
// elements cut into chunks of at most kChunk in slot order (in a model from create_model the values and grads
// lie back to back in the flat buffers of Model::pack_params, so the chunks walk contiguous memory), static
// schedule. Every element's update is independent and its arithmetic is the per-parameter loop's, so the
// result does not depend on the thread count or the chunking: bit-identical to one loop per parameter, with
// one fork/join per step instead of one per parameter (~150 for a ViT-tiny: most of the step's optimizer time
// at these sizes).
#include "harness/train/optimizer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace vb::train {

namespace {

constexpr int64_t kChunk = 1 << 14;  // 64 KB of f32: a few chunks per thread for a ViT-tiny's larger weights

// Elements [begin, end) of slot `slot`.
struct Chunk {
  size_t slot;
  int64_t begin, end;
};

std::vector<Chunk> chunks_of(const std::vector<Slot>& slots) {
  std::vector<Chunk> out;
  for (size_t k = 0; k < slots.size(); ++k) {
    const int64_t n = slots[k].param->value.numel();
    for (int64_t b = 0; b < n; b += kChunk) out.push_back({k, b, std::min(n, b + kChunk)});
  }
  return out;
}

// The value and grad pointers of every slot, taken once per pass (data() also marks the values as changed:
// layers reorder them again on their next forward); touch() after the writes, so that no layer can cache a
// copy taken in between.
struct Pointers {
  std::vector<float*> w;
  std::vector<const float*> g;
  explicit Pointers(const std::vector<Slot>& slots) {
    for (const Slot& s : slots) {
      w.push_back(s.param->value.data());
      g.push_back(s.param->grad.data());
    }
  }
};
void touch_values(const std::vector<Slot>& slots) {
  for (const Slot& s : slots) s.param->value.touch();
}

// torch.optim.SGD: g += wd * p; buf = momentum * buf + g (buf = g on the first step); g = nesterov ? g +
// momentum * buf : buf; p -= lr * g.
class Sgd final : public Optimizer {
 public:
  Sgd(std::vector<Slot> slots, OptimizerConfig cfg) : Optimizer(std::move(slots), std::move(cfg)) {
    for (const Slot& s : slots_) buf_.emplace_back(s.param->value.numel(), 0.f);
    chunks_ = chunks_of(slots_);
  }
  void step(double lr) override {
    const float m = static_cast<float>(cfg_.momentum);
    const bool first = steps_ == 0;
    const bool nesterov = cfg_.nesterov;
    const Pointers p(slots_);
    std::vector<float*> bufs;
    std::vector<float> wds;
    for (size_t k = 0; k < slots_.size(); ++k) {
      bufs.push_back(buf_[k].data());
      wds.push_back(slots_[k].param->decay ? static_cast<float>(cfg_.weight_decay) : 0.f);
    }
    const int64_t nc = static_cast<int64_t>(chunks_.size());
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nc; ++c) {
      const Chunk& ch = chunks_[c];
      float* w = p.w[ch.slot];
      const float* g = p.g[ch.slot];
      float* b = bufs[ch.slot];
      const float wd = wds[ch.slot];
      for (int64_t i = ch.begin; i < ch.end; ++i) {
        float d = g[i] + wd * w[i];
        if (m != 0.f) {
          b[i] = first ? d : m * b[i] + d;
          d = nesterov ? d + m * b[i] : b[i];
        }
        w[i] -= static_cast<float>(lr) * d;
      }
    }
    touch_values(slots_);
    ++steps_;
  }
  std::map<std::string, std::vector<float>*> state() override {
    std::map<std::string, std::vector<float>*> out;
    for (size_t k = 0; k < slots_.size(); ++k) out[slots_[k].key + "/momentum_buffer"] = &buf_[k];
    return out;
  }

 private:
  std::vector<std::vector<float>> buf_;  // per slot, (numel)
  std::vector<Chunk> chunks_;
};

// torch.optim.AdamW: p *= 1 - lr * wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
class AdamW final : public Optimizer {
 public:
  AdamW(std::vector<Slot> slots, OptimizerConfig cfg) : Optimizer(std::move(slots), std::move(cfg)) {
    for (const Slot& s : slots_) {
      m_.emplace_back(s.param->value.numel(), 0.f);
      v_.emplace_back(s.param->value.numel(), 0.f);
    }
    chunks_ = chunks_of(slots_);
  }
  void step(double lr) override {
    const int64_t t = steps_ + 1;
    const double bc1 = 1.0 - std::pow(cfg_.beta1, static_cast<double>(t));
    const double bc2 = 1.0 - std::pow(cfg_.beta2, static_cast<double>(t));
    const float step_size = static_cast<float>(lr / bc1);
    const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
    const float b1 = static_cast<float>(cfg_.beta1), b2 = static_cast<float>(cfg_.beta2);
    const float eps = static_cast<float>(cfg_.eps);
    const Pointers p(slots_);
    std::vector<float*> ms, vs;
    std::vector<float> decays;
    for (size_t k = 0; k < slots_.size(); ++k) {
      ms.push_back(m_[k].data());
      vs.push_back(v_[k].data());
      decays.push_back(slots_[k].param->decay ? static_cast<float>(1.0 - lr * cfg_.weight_decay) : 1.f);
    }
    const int64_t nc = static_cast<int64_t>(chunks_.size());
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nc; ++c) {
      const Chunk& ch = chunks_[c];
      float* w = p.w[ch.slot];
      const float* g = p.g[ch.slot];
      float* m = ms[ch.slot];
      float* v = vs[ch.slot];
      const float decay = decays[ch.slot];
      for (int64_t i = ch.begin; i < ch.end; ++i) {
        w[i] *= decay;
        m[i] = b1 * m[i] + (1.f - b1) * g[i];
        v[i] = b2 * v[i] + (1.f - b2) * g[i] * g[i];
        w[i] -= step_size * m[i] / (std::sqrt(v[i]) / bc2_sqrt + eps);
      }
    }
    touch_values(slots_);
    ++steps_;
  }
  std::map<std::string, std::vector<float>*> state() override {
    std::map<std::string, std::vector<float>*> out;
    for (size_t k = 0; k < slots_.size(); ++k) {
      out[slots_[k].key + "/exp_avg"] = &m_[k];
      out[slots_[k].key + "/exp_avg_sq"] = &v_[k];
    }
    return out;
  }

 private:
  std::vector<std::vector<float>> m_, v_;  // per slot, (numel)
  std::vector<Chunk> chunks_;
};

void need(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}

}  // namespace

std::vector<Slot> trainable_slots(Model& model) {
  std::vector<Slot> out;
  for (const StateEntry& e : model.state())
    if (e.param) out.push_back({e.key, e.param});
  return out;
}

std::unique_ptr<Optimizer> make_optimizer(std::vector<Slot> slots, const OptimizerConfig& cfg) {
  need(cfg.weight_decay >= 0,
       fmt::format("optimizer: weight_decay must be >= 0, given {}", cfg.weight_decay));
  switch (cfg.kind) {
    case OptimizerKind::sgd:
      need(cfg.momentum >= 0 && cfg.momentum < 1,
           fmt::format("optimizer: momentum must be in [0, 1), given {}", cfg.momentum));
      need(!cfg.nesterov || cfg.momentum > 0, "optimizer: nesterov needs momentum > 0");
      return std::make_unique<Sgd>(std::move(slots), cfg);
    case OptimizerKind::adamw:
      need(cfg.beta1 >= 0 && cfg.beta1 < 1 && cfg.beta2 >= 0 && cfg.beta2 < 1,
           fmt::format("optimizer: betas must be in [0, 1), given {}, {}", cfg.beta1, cfg.beta2));
      need(cfg.eps > 0, fmt::format("optimizer: eps must be > 0, given {}", cfg.eps));
      return std::make_unique<AdamW>(std::move(slots), cfg);
  }
  throw std::logic_error("make_optimizer: an OptimizerKind without a case");
}

double grad_norm(const std::vector<Slot>& slots) {
  // Each parameter's sum of squares in double, in element order, then the total in slot order: the
  // parameters are shared out among the threads but every sum is computed as one sequential loop, so the
  // value is the same for any thread count (and the same as summing parameter by parameter on one thread).
  const int64_t n_slots = static_cast<int64_t>(slots.size());
  std::vector<const float*> gs;
  for (const Slot& s : slots) gs.push_back(s.param->grad.data());
  std::vector<double> sums(slots.size(), 0.0);
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t k = 0; k < n_slots; ++k) {
    const float* g = gs[k];
    const int64_t n = slots[k].param->grad.numel();
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(g[i]) * g[i];
    sums[k] = sum;
  }
  double total = 0;
  for (double sum : sums) total += sum;
  return std::sqrt(total);
}

void scale_grads(const std::vector<Slot>& slots, double factor) {
  const float f = static_cast<float>(factor);
  const std::vector<Chunk> chunks = chunks_of(slots);
  std::vector<float*> gs;
  for (const Slot& s : slots) gs.push_back(s.param->grad.data());
  const int64_t nc = static_cast<int64_t>(chunks.size());
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < nc; ++c) {
    float* g = gs[chunks[c].slot];
    for (int64_t i = chunks[c].begin; i < chunks[c].end; ++i) g[i] *= f;
  }
}

}  // namespace vb::train
