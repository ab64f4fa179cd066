// Whole-model benchmarks: forward (inference) and forward + backward + SGD step (training) of the small
// presets at batch 32 and of resnet50 / vit_small_patch16_224 / tnt_s_patch16_224 at batch 8, f32, wall-clock
// time, GFLOP/s counter (2 x MACs; training 3 x the forward). Same workload as `vitbench throughput`
// (harness/throughput/workload.hpp). JSON: vitbench_bench --benchmark_filter=Model --benchmark_format=json.
#include <fmt/format.h>

#include "harness/bench/bench_util.hpp"
#include "harness/throughput/workload.hpp"

namespace vb::bench {
namespace {

void model_benchmark(benchmark::State& state, const std::string& name, Mode mode, int64_t batch) {
  const ModelConfig& cfg = preset(name);
  Workload w = make_workload(cfg, mode, batch, 0);
  iteration(w);  // builds the primitives outside the timed loop
  for (auto _ : state) iteration(w);
  set_gflops(state, flop_per_iteration(cfg, mode, batch));
  state.counters["img/s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
}

const int registered = [] {
  const std::pair<const char*, int64_t> models[] = {{"vit_tiny_patch4_32", 32},
                                                    {"tnt_tiny_patch8_32", 32},
                                                    {"resnet50_w16_32", 32},
                                                    {"resnet50_32", 32},
                                                    {"resnet50", 8},
                                                    {"vit_small_patch16_224", 8},
                                                    {"tnt_s_patch16_224", 8}};
  for (const auto& [name, batch] : models)
    for (Mode mode : {Mode::eval, Mode::train}) {
      const std::string label =
          fmt::format("Model/{}/{}/b{}", name, mode == Mode::eval ? "forward" : "train_step", batch);
      benchmark::RegisterBenchmark(label.c_str(),
                                   [name = std::string(name), mode, batch](benchmark::State& s) {
                                     model_benchmark(s, name, mode, batch);
                                   })
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond)
          ->MinTime(1.0);
    }
  return 0;
}();

}  // namespace
}  // namespace vb::bench
