// Throughput as a library call (the `vitbench throughput` command calls it; a throughput sweep can too):
// images/s of models x batches x modes x dtypes (the cross product), with the GEMM peak measured in the same
// process at the start and the end; raw samples in a `kind = throughput` result (docs/results.md).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "harness/throughput/throughput.hpp"

namespace vb::run {

struct ThroughputOptions {
  std::vector<std::string> models, overrides;
  std::vector<Mode> modes{Mode::eval};  // eval: inference (named "infer"); train: a training step
  std::vector<DType> dtypes{DType::f32};
  std::vector<int64_t> batches{32};
  TimingOptions timing;
  std::filesystem::path output = "out/throughput.h5";
  bool memory_check = true;  // refuse a batch that does not fit, from a probe at batch 2 and 4
  int64_t peak_size = 2048;  // M = N = K of the GEMM peak matmul; 0: not measured
  int peak_repeats = 3;
  std::string command;
};

// The run's GEMM peak per dtype: samples at the start and at the end of the run; their median is the
// reference.
struct PeakSamples {
  std::vector<double> start, end;
  double median() const;
};

struct ThroughputResult {
  std::vector<Measurement> measurements;  // in case order, each with its peak fraction set
  std::map<DType, PeakSamples> peaks;     // the dtypes this CPU has
  std::filesystem::path path;
};

// Everything that can be refused (an unknown model, mode or dtype, bf16 on a CPU without it, a batch that
// does not fit) is refused before anything is timed or written. Progress on stderr.
ThroughputResult measure_throughput(const ThroughputOptions& opt);

}  // namespace vb::run
