// What one throughput iteration runs, shared by `vitbench throughput` and the Google Benchmark model targets
// (harness/bench/bench_models.cpp): a seeded model, fixed input images and output gradient, and the
// optimizer (harness/train/: SGD with momentum on the f32 master parameters, as torch.optim.SGD);
// iteration() is forward (inference), or forward + backward + optimizer step (training).
#pragma once

#include <cstdint>
#include <memory>

#include "harness/enum_names.hpp"
#include "harness/train/optimizer.hpp"
#include "models/config.hpp"
#include "models/model.hpp"

namespace vb {

// A throughput case runs the model for inference (Mode::eval, named "infer" in records and on the command
// line) or for training (forward, backward and optimizer step).
template <>
struct EnumNames<Mode> {
  inline static const std::vector<std::pair<Mode, const char*>> list{{Mode::eval, "infer"},
                                                                     {Mode::train, "train"}};
};

struct Workload {
  std::unique_ptr<Model> model;
  Tensor images;       // (B, C, H, W) plain f32, U[-1, 1)
  Tensor diff_logits;  // (B, classes) plain f32, N(0, 1) / B: stands in for the loss gradient (training)
  std::unique_ptr<train::Optimizer> optimizer;  // training only: the trainer's SGD, momentum 0.9, no decay
  Mode mode = Mode::eval;
};

Workload make_workload(const ModelConfig& cfg, Mode mode, int64_t batch, uint64_t seed);

// One iteration, waiting for the stream at the end. With `phases`, writes the seconds of forward (and, for
// training, backward and optimizer step) into phases[0..2].
void iteration(Workload& w, double* phases = nullptr);

// Work of one iteration: 2 x MACs x batch, x 3 for training (forward, backward-data, backward-weights).
double flop_per_iteration(const ModelConfig& cfg, Mode mode, int64_t batch);

}  // namespace vb
