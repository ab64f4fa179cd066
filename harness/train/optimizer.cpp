// SGD and AdamW; see optimizer.hpp. The loops run over each parameter's elements with OpenMP (static
// schedule: every element's update is independent, so results do not depend on the thread count).
#include "harness/train/optimizer.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace vb::train {

namespace {

// torch.optim.SGD: g += wd * p; buf = momentum * buf + g (buf = g on the first step); g = nesterov ? g +
// momentum * buf : buf; p -= lr * g.
class Sgd final : public Optimizer {
 public:
  Sgd(std::vector<Slot> slots, OptimizerConfig cfg) : Optimizer(std::move(slots), std::move(cfg)) {
    for (const Slot& s : slots_) buf_.emplace_back(s.param->value.numel(), 0.f);
  }
  void step(double lr) override {
    const float m = static_cast<float>(cfg_.momentum);
    const bool first = steps_ == 0;
    for (size_t k = 0; k < slots_.size(); ++k) {
      Param& p = *slots_[k].param;
      float* w = p.value.data();
      const float* g = p.grad.data();
      float* b = buf_[k].data();
      const float wd = p.decay ? static_cast<float>(cfg_.weight_decay) : 0.f;
      const int64_t n = p.value.numel();
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) {
        float d = g[i] + wd * w[i];
        if (m != 0.f) {
          b[i] = first ? d : m * b[i] + d;
          d = cfg_.nesterov ? d + m * b[i] : b[i];
        }
        w[i] -= static_cast<float>(lr) * d;
      }
    }
    ++steps_;
  }
  std::map<std::string, std::vector<float>*> state() override {
    std::map<std::string, std::vector<float>*> out;
    for (size_t k = 0; k < slots_.size(); ++k) out[slots_[k].key + "/momentum_buffer"] = &buf_[k];
    return out;
  }

 private:
  std::vector<std::vector<float>> buf_;  // per slot, (numel)
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
  }
  void step(double lr) override {
    const int64_t t = steps_ + 1;
    const double bc1 = 1.0 - std::pow(cfg_.beta1, static_cast<double>(t));
    const double bc2 = 1.0 - std::pow(cfg_.beta2, static_cast<double>(t));
    const float step_size = static_cast<float>(lr / bc1);
    const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
    const float b1 = static_cast<float>(cfg_.beta1), b2 = static_cast<float>(cfg_.beta2);
    const float eps = static_cast<float>(cfg_.eps);
    for (size_t k = 0; k < slots_.size(); ++k) {
      Param& p = *slots_[k].param;
      float* w = p.value.data();
      const float* g = p.grad.data();
      float* m = m_[k].data();
      float* v = v_[k].data();
      const float decay = p.decay ? static_cast<float>(1.0 - lr * cfg_.weight_decay) : 1.f;
      const int64_t n = p.value.numel();
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) {
        w[i] *= decay;
        m[i] = b1 * m[i] + (1.f - b1) * g[i];
        v[i] = b2 * v[i] + (1.f - b2) * g[i] * g[i];
        w[i] -= step_size * m[i] / (std::sqrt(v[i]) / bc2_sqrt + eps);
      }
    }
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
  double total = 0;
  for (const Slot& s : slots) {
    const float* g = s.param->grad.data();
    const int64_t n = s.param->grad.numel();
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(g[i]) * g[i];
    total += sum;
  }
  return std::sqrt(total);
}

void scale_grads(const std::vector<Slot>& slots, double factor) {
  const float f = static_cast<float>(factor);
  for (const Slot& s : slots) {
    float* g = s.param->grad.data();
    const int64_t n = s.param->grad.numel();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) g[i] *= f;
  }
}

}  // namespace vb::train
