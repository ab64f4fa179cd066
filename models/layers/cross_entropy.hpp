// Softmax cross-entropy with label smoothing, PyTorch's definition (F.cross_entropy, reduction "mean"):
// loss = mean over the batch of -sum_k target_k * log_softmax(logits)_k. Host loops in double over rows
// (log-sum-exp with the row max subtracted): oneDNN has no primitive for a loss against labels.
#pragma once

#include <string>
#include <vector>

#include "models/core/input_reorder.hpp"
#include "models/core/tensor.hpp"

namespace vb {

class CrossEntropy {
 public:
  struct Config {
    int64_t classes = 0;          // K
    float label_smoothing = 0.f;  // eps in [0, 1]
  };

  CrossEntropy(std::string name, Config cfg);
  CrossEntropy(const CrossEntropy&) = delete;
  CrossEntropy& operator=(const CrossEntropy&) = delete;

  // logits is (B, K) f32, any layout (plain expected); labels has B entries in [0, K) (std::invalid_argument
  // naming the entry otherwise). target = (1-eps) * onehot(label) + eps/K. Returns the mean loss; NaN logits
  // give a NaN loss (left for the trainer to detect).
  double forward(const Tensor& logits, const std::vector<int64_t>& labels);
  // Soft targets (B, K) f32, any layout (mixup/cutmix). Like PyTorch, label smoothing applies to them too:
  // target = (1-eps) * targets + eps/K (use eps = 0 when the targets are already smoothed).
  double forward(const Tensor& logits, const Tensor& targets);
  // diff_logits (B, K) in the layout of logits: (softmax * sum_k target_k - target) / B, which is
  // (softmax - target) / B for targets summing to 1 (labels, smoothing, mixup).
  const Tensor& backward();
  // (B, K) plain: the softmax of the last forward's logits.
  const Tensor& softmax() const { return probs_; }

  const std::string& name() const { return name_; }
  const Config& config() const { return cfg_; }

 private:
  void build(const dnnl::memory::desc& logits_md);
  const float* plain_logits(const Tensor& logits);
  // Fills probs_ and diff_plain_ and returns the mean loss; the unsmoothed target is target(b, k).
  template <class Target>
  double compute(const float* logits, Target target);

  std::string name_;
  Config cfg_;

  dnnl::memory::desc logits_md_;  // the caller's logits desc the buffers were built for
  int64_t batch_ = 0;
  Reorder logits_to_plain_;        // non-plain logits -> (B, K) plain (usually not needed)
  Tensor probs_;                   // (B, K) plain softmax
  Tensor diff_plain_;              // (B, K) plain diff_logits, computed by forward
  std::vector<double> scratch_;    // (B, K) exp(x - row max)
  Reorder diff_to_logits_;         // plain -> logits' layout (usually not needed)
  Tensor diff_logits_;             // returned: diff_plain_ or its copy in logits' layout
  InputReorder targets_to_plain_;  // the caller's soft targets -> (B, K) plain
  bool saved_ = false;             // a forward ran since the last build
};

}  // namespace vb
