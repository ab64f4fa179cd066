// Times a oneDNN matmul; inputs filled with small deterministic values.
#include "harness/gemm_peak.hpp"

#include <algorithm>
#include <chrono>

#include "models/core/cpu.hpp"
#include "models/core/rng.hpp"

namespace vb {

double GemmPeak::median() const {
  auto v = gflops;
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

double GemmPeak::best() const {
  return gflops.empty() ? 0.0 : *std::max_element(gflops.begin(), gflops.end());
}

GemmPeak measure_gemm_peak(DType dtype, int64_t size, int repeats) {
  check_arg(size > 0, "gemm_peak", "size must be positive");
  require_dtype(dtype, "gemm_peak");
  const Dims shape{size, size};
  std::vector<float> values(size * size);
  for (size_t i = 0; i < values.size(); ++i) values[i] = rng::uniform(1, i) - 0.5f;
  Tensor a(shape, dtype), b(shape, dtype), c(shape, DType::f32);
  a.assign(values);
  b.assign(values);
  const dnnl::matmul::desc desc(a.desc(), b.desc(), c.desc());
  const Step step{dnnl::matmul(dnnl::matmul::primitive_desc(desc, Runtime::engine())),
                  {{DNNL_ARG_SRC, a.mem()}, {DNNL_ARG_WEIGHTS, b.mem()}, {DNNL_ARG_DST, c.mem()}}};
  step.run();  // warm-up: JIT, page faults, caches
  Runtime::wait();
  GemmPeak peak{dtype, size, {}};
  const double flop = 2.0 * size * size * size;
  for (int r = 0; r < std::max(1, repeats); ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    step.run();
    Runtime::wait();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    peak.gflops.push_back(flop / s / 1e9);
  }
  return peak;
}

}  // namespace vb
