// One throughput measurement: a model at a batch size, in inference or training, in f32 or bf16. Build,
// init (seeded), warm-up, then timed iterations; per iteration the total and, for training, forward /
// backward / optimizer step separately. GFLOP = 2 x MACs (models/cost.hpp); a training step counts
// 3 x the forward MACs (forward, backward-data, backward-weights), as timm's benchmark does.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/throughput/memory.hpp"
#include "harness/throughput/stats.hpp"
#include "harness/throughput/workload.hpp"
#include "models/config.hpp"
#include "models/core/tensor.hpp"

namespace vb {

class ResultFile;

// `cfg` computing in `d` (its dtype field); throws as require_dtype (models/core/cpu.hpp) on a CPU without
// `d`.
ModelConfig with_dtype(ModelConfig cfg, DType d);

struct ThroughputCase {
  ModelConfig cfg;  // resolved preset + overrides, dtype already applied (with_dtype)
  DType dtype = DType::f32;
  Mode mode = Mode::eval;
  int64_t batch = 1;
};

struct TimingOptions {
  int warmup = 3;       // untimed iterations after the first (which builds the primitives)
  int iters = 10;       // at least this many timed iterations...
  double min_time = 0;  // ...and at least this many seconds of them
  uint64_t seed = 0;    // model init, input images, output gradient
};

struct Measurement {
  ThroughputCase c;
  int threads = 0;
  int64_t params = 0, macs_per_image = 0;
  double flop_per_iter = 0;  // 2 x MACs x batch (x 3 for training)
  // Per timed iteration, seconds. forward/backward/step only for training (empty for inference).
  std::vector<double> total_s, forward_s, backward_s, step_s;
  std::vector<double> images_per_s;           // batch / total_s, per iteration
  Quantiles ips;                              // of images_per_s
  double latency_s = 0;                       // median total_s (one batch)
  double gflops = 0;                          // flop_per_iter x median images/s / batch / 1e9
  double peak_gflops = 0, peak_fraction = 0;  // filled by set_peak() once the run's GEMM peak is known
  int64_t rss_before = 0, rss_after = 0, peak_rss = 0;  // bytes; peak = ru_maxrss of the process so far
  MemoryEstimate estimate;

  void set_peak(double peak);
};

// Heap growth of one step at batch 1 and 2 of this (model, mode, dtype) -> the estimate used to refuse a
// batch that would not fit.
MemoryEstimate probe_memory(const ModelConfig& cfg, Mode mode, uint64_t seed);

Measurement measure(const ThroughputCase& c, const TimingOptions& opt);

// The `--json` line: model, mode, dtype, batch, threads, images_per_s (median), p10, p90, gflops,
// peak_fraction, plus latency and the training phases' medians.
nlohmann::json json_line(const Measurement& m);
// HDF5 group of a measurement: "throughput/<model>/<mode>/<dtype>/batch<B>".
std::string group_name(const ThroughputCase& c);
void write_measurement(ResultFile& out, const Measurement& m);

}  // namespace vb
