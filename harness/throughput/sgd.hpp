// The optimizer step timed by `vitbench throughput --mode train`: plain SGD with momentum on the f32 master
// parameters, one host loop over model.params() (what a minimal trainer does; the trainer's own optimizer
// lives in harness/train/). v = momentum * v + grad; w -= lr * v.
#pragma once

#include <vector>

#include "models/core/tensor.hpp"

namespace vb {

class SgdMomentum {
 public:
  SgdMomentum(std::vector<Param*> params, float lr, float momentum);
  void step();  // needs Runtime::wait() after backward (reads grads on the host)

 private:
  std::vector<Param*> params_;
  std::vector<std::vector<float>> velocity_;  // one per param, zero at start
  float lr_, momentum_;
};

}  // namespace vb
