// Helpers shared by the micro-benchmarks in harness/bench: seeded random tensors (vb::rng), the "build
// once, then time with Runtime::wait()" loop, layer forward/backward timing, GFLOP/s and GB/s counters.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "models/core/layer.hpp"
#include "models/core/rng.hpp"
#include "models/core/tensor.hpp"

namespace vb::bench {

// n values stddev * N(0, 1), value i = rng::normal(seed, i).
inline std::vector<float> normal_values(int64_t n, uint64_t seed, float stddev = 1.0f) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = stddev * rng::normal(seed, i);
  return v;
}

// n values scale * U[-1, 1), value i from rng::uniform(seed, i).
inline std::vector<float> uniform_values(int64_t n, uint64_t seed, float scale = 1.0f) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = scale * (2.0f * rng::uniform(seed, i) - 1.0f);
  return v;
}

// Tensors in layout `md` (values given in plain row-major order) or plain f32 of `shape`.
inline Tensor normal_tensor(const dnnl::memory::desc& md, uint64_t seed, float stddev = 1.0f) {
  Tensor t(md);
  t.assign(normal_values(t.numel(), seed, stddev));
  return t;
}
inline Tensor normal_tensor(const Dims& shape, uint64_t seed, float stddev = 1.0f) {
  return normal_tensor(plain_desc(shape), seed, stddev);
}
inline Tensor uniform_tensor(const dnnl::memory::desc& md, uint64_t seed, float scale = 1.0f) {
  Tensor t(md);
  t.assign(uniform_values(t.numel(), seed, scale));
  return t;
}
inline Tensor uniform_tensor(const Dims& shape, uint64_t seed, float scale = 1.0f) {
  return uniform_tensor(plain_desc(shape), seed, scale);
}

// Reports `per_iter` (work of one call, already in the counter's unit) as a rate over wall or CPU time.
inline void set_rate(benchmark::State& state, const char* unit, double per_iter) {
  state.counters[unit] = benchmark::Counter(per_iter, benchmark::Counter::kIsIterationInvariantRate);
}
inline void set_gflops(benchmark::State& state, double flops) {
  set_rate(state, "GFLOP/s", flops * 1e-9);
}
inline void set_gbps(benchmark::State& state, double bytes) {
  set_rate(state, "GB/s", bytes * 1e-9);
}

// Times `f` (already built by the caller): waits for pending work, then every iteration is f() +
// Runtime::wait().
template <class F>
void time_loop(benchmark::State& state, F&& f) {
  Runtime::wait();
  for (auto _ : state) {
    f();
    Runtime::wait();
  }
}

// Runs `f` once to build its primitives, then times it.
template <class F>
void run(benchmark::State& state, F&& f) {
  f();
  time_loop(state, f);
}

// The same, reporting `bytes` read + written per call as GB/s.
template <class F>
void run_gbps(benchmark::State& state, double bytes, F&& f) {
  run(state, std::forward<F>(f));
  set_gbps(state, bytes);
}

// Times forward (train mode) or backward of `layer` on src; per_iter is the work of one call in `unit`.
// diff_dst is uniform random in dst's shape (plain f32, seed 99).
inline void run(benchmark::State& state, Layer& layer, const Tensor& src, bool backward, double per_iter,
                const char* unit) {
  const Tensor& dst = layer.forward(src, Mode::train);
  const Tensor diff_dst = uniform_tensor(dst.shape(), 99);
  if (backward) layer.backward(diff_dst);  // set up the backward primitives outside the loop
  time_loop(state, [&] {
    if (backward)
      layer.backward(diff_dst);
    else
      layer.forward(src, Mode::train);
  });
  set_rate(state, unit, per_iter);
}

}  // namespace vb::bench
