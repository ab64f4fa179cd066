// The machine's GEMM peak as oneDNN reaches it: a square matmul (2048^3 by default) in f32 and in bf16
// (bf16 inputs, f32 output, AMX where present). Throughput figures elsewhere are reported as a fraction
// of this, measured in the same process, because this shared machine's absolute speed drifts.
#pragma once

#include <cstdint>
#include <vector>

#include "models/core/tensor.hpp"

namespace vb {

struct GemmPeak {
  DType dtype;
  int64_t size;                // M = N = K
  std::vector<double> gflops;  // one sample per timed repetition (GFLOP = 2 x M x N x K / 1e9)
  double median() const;
  double best() const;
};

// Warm-up once, then time `repeats` runs (at least one).
GemmPeak measure_gemm_peak(DType dtype, int64_t size = 2048, int repeats = 5);

}  // namespace vb
