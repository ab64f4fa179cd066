// SGD with momentum over plain f32 parameters.
#include "harness/throughput/sgd.hpp"

namespace vb {

SgdMomentum::SgdMomentum(std::vector<Param*> params, float lr, float momentum)
    : params_(std::move(params)), lr_(lr), momentum_(momentum) {
  velocity_.reserve(params_.size());
  for (const Param* p : params_) velocity_.emplace_back(p->value.numel(), 0.0f);
}

void SgdMomentum::step() {
  for (size_t i = 0; i < params_.size(); ++i) {
    float* w = params_[i]->value.data();
    const float* g = params_[i]->grad.data();
    float* v = velocity_[i].data();
    const int64_t n = params_[i]->value.numel();
#pragma omp parallel for simd if (n > 65536)
    for (int64_t j = 0; j < n; ++j) {
      v[j] = momentum_ * v[j] + g[j];
      w[j] -= lr_ * v[j];
    }
  }
}

}  // namespace vb
