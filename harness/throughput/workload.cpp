// Workload construction and the iteration shared by the throughput command and the model benchmarks.
#include "harness/throughput/workload.hpp"

#include <chrono>

#include "models/core/rng.hpp"
#include "models/cost.hpp"

namespace vb {

Workload make_workload(const ModelConfig& cfg, Mode mode, int64_t batch, uint64_t seed) {
  Workload w;
  w.mode = mode;
  w.model = create_model(cfg);
  w.model->init(seed);
  const Dims in{batch, cfg.in_chans, cfg.img_size, cfg.img_size};
  std::vector<float> x(product(in));
  for (size_t i = 0; i < x.size(); ++i) x[i] = 2.0f * rng::uniform(seed + 1, i) - 1.0f;
  w.images = Tensor::from(in, x);
  if (mode == Mode::train) {
    std::vector<float> d(batch * cfg.num_classes);
    for (size_t i = 0; i < d.size(); ++i) d[i] = rng::normal(seed + 2, i) / static_cast<float>(batch);
    w.diff_logits = Tensor::from({batch, cfg.num_classes}, d);
    // Small steps: the weights move (the update is real work) but stay finite over many iterations.
    train::OptimizerConfig sgd;
    sgd.kind = train::OptimizerKind::sgd;
    sgd.momentum = 0.9;
    sgd.weight_decay = 0;
    w.optimizer = train::make_optimizer(train::trainable_slots(*w.model), sgd);
  }
  return w;
}

void iteration(Workload& w, double* phases) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  if (w.mode == Mode::eval) {
    w.model->infer(w.images);  // the fastest inference graph the family has (Model::infer)
    Runtime::wait();
    if (phases) phases[0] = std::chrono::duration<double>(clock::now() - t0).count();
    return;
  }
  w.model->forward(w.images, Mode::train);
  Runtime::wait();
  const auto t1 = clock::now();
  w.model->backward(w.diff_logits);
  Runtime::wait();
  const auto t2 = clock::now();
  w.optimizer->step(1e-4);
  if (phases) {
    phases[0] = std::chrono::duration<double>(t1 - t0).count();
    phases[1] = std::chrono::duration<double>(t2 - t1).count();
    phases[2] = std::chrono::duration<double>(clock::now() - t2).count();
  }
}

double flop_per_iteration(const ModelConfig& cfg, Mode mode, int64_t batch) {
  return 2.0 * static_cast<double>(total_macs(cost_table(cfg))) * static_cast<double>(batch) *
         (mode == Mode::train ? 3.0 : 1.0);
}

}  // namespace vb
