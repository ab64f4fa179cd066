// CrossEntropy: per row in double: max, log-sum-exp, then loss, softmax and diff_logits in one pass (forward
// computes the gradient too: it is cheap and keeps it in double until the final rounding).
#include "models/layers/cross_entropy.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace vb {

CrossEntropy::CrossEntropy(std::string name, Config cfg) : name_(std::move(name)), cfg_(cfg) {
  check_arg(cfg_.classes > 0, name_, fmt::format("classes must be positive, given {}", cfg_.classes));
  check_arg(cfg_.label_smoothing >= 0.f && cfg_.label_smoothing <= 1.f, name_,
            fmt::format("label_smoothing must be in [0, 1], given {}", cfg_.label_smoothing));
}

void CrossEntropy::build(const dnnl::memory::desc& logits_md) {
  logits_md_ = logits_md;
  batch_ = logits_md.dims()[0];
  const Dims shape{batch_, cfg_.classes};
  logits_to_plain_ = Reorder(logits_md, plain_desc(shape));
  probs_ = Tensor(shape);
  diff_plain_ = Tensor(shape);
  scratch_.assign(batch_ * cfg_.classes, 0.0);
  diff_to_logits_ = Reorder(diff_plain_.desc(), logits_md);
  diff_logits_ = diff_to_logits_.needed() ? Tensor(logits_md) : diff_plain_;
  targets_to_plain_ = InputReorder(plain_desc(shape));
  saved_ = false;
}

const float* CrossEntropy::plain_logits(const Tensor& logits) {
  check_rank(name_, "logits", 2, logits);
  check_f32(name_, "logits", logits);
  check_arg(logits.dim(1) == cfg_.classes, name_,
            fmt::format("logits has shape {}, expected (B, {})", to_string(logits.shape()), cfg_.classes));
  if (logits.desc() != logits_md_) build(logits.desc());
  saved_ = false;  // until this forward succeeds
  const dnnl::memory& plain = logits_to_plain_(logits.mem());
  Runtime::wait();
  return static_cast<const float*>(plain.get_data_handle());
}

template <class Target>
double CrossEntropy::compute(const float* logits, Target target) {
  // logits, probs and diff are (B, K) row-major.
  const int64_t B = batch_, K = cfg_.classes;
  const double eps = cfg_.label_smoothing, inv_b = 1.0 / static_cast<double>(B);
  float* probs = probs_.data();
  float* diff = diff_plain_.data();
  double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    const float* x = logits + b * K;
    float* p = probs + b * K;
    float* d = diff + b * K;
    const auto t = [&](int64_t k) { return (1 - eps) * target(b, k) + eps / static_cast<double>(K); };
    // Row max (NaN compares false and is skipped here, but then poisons the sum below, as it should).
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t k = 0; k < K; ++k)
      if (x[k] > m) m = x[k];
    // e_k = exp(x_k - m), kept in double for the probabilities and the gradient.
    double* e = scratch_.data() + b * K;
    double sum = 0, t_sum = 0;
    for (int64_t k = 0; k < K; ++k) {
      e[k] = std::exp(static_cast<double>(x[k]) - m);
      sum += e[k];
      t_sum += t(k);
    }
    const double lse = m + std::log(sum), inv_sum = 1.0 / sum;
    // loss = -sum_k t_k (x_k - lse); d loss / d x_k = softmax_k * sum_j t_j - t_k (then / B for the mean).
    double loss = 0;
    for (int64_t k = 0; k < K; ++k) {
      const double tk = t(k), pk = e[k] * inv_sum;
      loss -= tk * (static_cast<double>(x[k]) - lse);
      p[k] = static_cast<float>(pk);
      d[k] = static_cast<float>((pk * t_sum - tk) * inv_b);
    }
    total += loss;
  }
  saved_ = true;
  return total * inv_b;
}

double CrossEntropy::forward(const Tensor& logits, const std::vector<int64_t>& labels) {
  const float* x = plain_logits(logits);
  check_arg(static_cast<int64_t>(labels.size()) == batch_, name_,
            fmt::format("{} labels for logits of shape {}", labels.size(), to_string(logits.shape())));
  for (size_t i = 0; i < labels.size(); ++i)
    check_arg(labels[i] >= 0 && labels[i] < cfg_.classes, name_,
              fmt::format("label {} is {}, expected in [0, {})", i, labels[i], cfg_.classes));
  const int64_t* y = labels.data();
  return compute(x, [y](int64_t b, int64_t k) { return y[b] == k ? 1.0 : 0.0; });
}

double CrossEntropy::forward(const Tensor& logits, const Tensor& targets) {
  const float* x = plain_logits(logits);
  check_arg(!targets.empty(), name_, "targets is empty");
  check_f32(name_, "targets", targets);
  check_shape(name_, "targets", logits.shape(), targets.shape());
  const float* t = static_cast<const float*>(targets_to_plain_(targets.mem()).get_data_handle());
  Runtime::wait();
  const int64_t K = cfg_.classes;
  return compute(x, [t, K](int64_t b, int64_t k) { return static_cast<double>(t[b * K + k]); });
}

const Tensor& CrossEntropy::backward() {
  if (!saved_) throw std::logic_error(fmt::format("{}: backward called before forward", name_));
  // diff_plain_ was computed by forward, in double before rounding.
  if (diff_to_logits_.needed()) diff_to_logits_.into(diff_plain_.mem(), diff_logits_.mem());
  return diff_logits_;
}

}  // namespace vb
