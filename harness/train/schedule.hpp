// Learning-rate schedule, per optimizer step: linear warm-up from 0 to `lr` over `warmup_steps`, then cosine
// decay to `min_lr` at `total_steps` (DeiT/timm's recipe, applied per step rather than per epoch).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>

namespace vb::train {

struct Schedule {
  double lr = 1e-3, min_lr = 1e-5;
  int64_t warmup_steps = 0, total_steps = 1;

  // lr for the optimizer step with index `step` (0-based).
  double at(int64_t step) const {
    if (step < warmup_steps) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
    const int64_t span = std::max<int64_t>(1, total_steps - warmup_steps);
    const double t = std::min(1.0, static_cast<double>(step - warmup_steps) / static_cast<double>(span));
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(std::numbers::pi * t));
  }
};

}  // namespace vb::train
