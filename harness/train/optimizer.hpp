// Optimizers on the f32 master parameters, with PyTorch's update rules (torch.optim.SGD and AdamW), so a
// recipe quoted from a paper means the same here. Weight decay is skipped for parameters whose Param::decay
// is false (norms, biases, cls token, position tables: timm's no-weight-decay list). The state (momentum
// buffers, Adam moments, step count) is named by state_dict key, for checkpoints.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "harness/enum_names.hpp"
#include "models/model.hpp"

namespace vb::train {

enum class OptimizerKind { adamw, sgd };

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::adamw;
  double weight_decay = 0.05;
  // SGD
  double momentum = 0.9;
  bool nesterov = false;
  // AdamW
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

// One trainable parameter as the optimizer sees it.
struct Slot {
  std::string key;  // state_dict key
  Param* param;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // Applies one update with learning rate `lr` from the gradients in every Param::grad.
  virtual void step(double lr) = 0;
  // Named state tensors ("<key>/exp_avg", ...) and the step count, for checkpoints.
  virtual std::map<std::string, std::vector<float>*> state() = 0;
  int64_t steps() const { return steps_; }
  void set_steps(int64_t s) { steps_ = s; }
  const OptimizerConfig& config() const { return cfg_; }

 protected:
  Optimizer(std::vector<Slot> slots, OptimizerConfig cfg) : slots_(std::move(slots)), cfg_(std::move(cfg)) {}
  std::vector<Slot> slots_;
  OptimizerConfig cfg_;
  int64_t steps_ = 0;
};

// The model's trainable parameters with their state_dict keys, in state() order.
std::vector<Slot> trainable_slots(Model& model);
// Throws std::invalid_argument naming the option for an unknown name or out-of-range hyper-parameter.
std::unique_ptr<Optimizer> make_optimizer(std::vector<Slot> slots, const OptimizerConfig& cfg);

// Global L2 norm of all gradients (accumulated in double, fixed order: deterministic).
double grad_norm(const std::vector<Slot>& slots);
// Scales every gradient by `factor`.
void scale_grads(const std::vector<Slot>& slots, double factor);

}  // namespace vb::train

namespace vb {
template <>
struct EnumNames<train::OptimizerKind> {  // the "optimizer" setting's values
  inline static const std::vector<std::pair<train::OptimizerKind, const char*>> list{
      {train::OptimizerKind::adamw, "adamw"}, {train::OptimizerKind::sgd, "sgd"}};
};
}  // namespace vb
