// Micro-benchmarks of the transformer layers at ViT-S/16 shapes (batch 8, 197 tokens, dim 384, MLP 1536,
// 6 heads): Linear (GFLOP/s, f32 and bf16), LayerNorm, GELU, Softmax (GB/s of tensors read and written).
// Rates use wall-clock time (UseRealTime): the main thread's CPU time would miss the OpenMP workers.
#include <benchmark/benchmark.h>

#include "harness/bench/bench_util.hpp"
#include "models/layers/gelu.hpp"
#include "models/layers/layernorm.hpp"
#include "models/layers/linear.hpp"
#include "models/layers/softmax.hpp"

namespace {

using namespace vb;
using namespace vb::bench;

constexpr int64_t kBatch = 8, kTokens = 197, kDim = 384, kHeads = 6;

// Linear on (8, 197, in) tokens; forward is 2*M*in*out FLOP, backward twice that (diff_src and diff_weights).
void BM_Linear(benchmark::State& state, int64_t in, int64_t out, DType dtype, bool backward) {
  Linear linear("linear", {in, out, true, dtype});
  linear.weight().value.assign(uniform_values(in * out, 1, 0.05f));
  linear.bias().value.assign(uniform_values(out, 2));
  const Tensor src = uniform_tensor({kBatch, kTokens, in}, 3);
  const double flops = 2.0 * kBatch * kTokens * in * out * (backward ? 2 : 1);
  run(state, linear, src, backward, flops * 1e-9, "GFLOP/s");
}

// Memory-bound layers: forward reads src and writes dst, backward reads src (or dst) and diff_dst and writes
// diff_src (parameters and statistics are negligible).
void BM_Memory(benchmark::State& state, Layer& layer, const Dims& shape, bool backward) {
  const Tensor src = uniform_tensor(shape, 4);
  const double bytes = static_cast<double>(product(shape)) * sizeof(float) * (backward ? 3 : 2);
  run(state, layer, src, backward, bytes * 1e-9, "GB/s");
}

void BM_LayerNorm(benchmark::State& state, bool backward) {
  LayerNorm ln("norm", {kDim, 1e-6f});
  BM_Memory(state, ln, {kBatch, kTokens, kDim}, backward);
}
void BM_GELU(benchmark::State& state, bool backward) {
  GELU gelu("act");
  BM_Memory(state, gelu, {kBatch, kTokens, 4 * kDim}, backward);
}
void BM_Softmax(benchmark::State& state, bool backward) {
  Softmax sm("attn.softmax");
  BM_Memory(state, sm, {kBatch, kHeads, kTokens, kTokens}, backward);
}

}  // namespace

BENCHMARK_CAPTURE(BM_Linear, qkv_384_1152_f32_fwd, 384, 1152, DType::f32, false)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, qkv_384_1152_f32_bwd, 384, 1152, DType::f32, true)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, fc1_384_1536_f32_fwd, 384, 1536, DType::f32, false)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, fc1_384_1536_f32_bwd, 384, 1536, DType::f32, true)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, fc2_1536_384_f32_fwd, 1536, 384, DType::f32, false)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, fc2_1536_384_f32_bwd, 1536, 384, DType::f32, true)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, qkv_384_1152_bf16_fwd, 384, 1152, DType::bf16, false)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, qkv_384_1152_bf16_bwd, 384, 1152, DType::bf16, true)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, fc1_384_1536_bf16_fwd, 384, 1536, DType::bf16, false)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, fc1_384_1536_bf16_bwd, 384, 1536, DType::bf16, true)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, fc2_1536_384_bf16_fwd, 1536, 384, DType::bf16, false)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, fc2_1536_384_bf16_bwd, 1536, 384, DType::bf16, true)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_LayerNorm, d384_fwd, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_LayerNorm, d384_bwd, true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_GELU, mlp_8x197x1536_fwd, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_GELU, mlp_8x197x1536_bwd, true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Softmax, attn_8x6x197x197_fwd, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Softmax, attn_8x6x197x197_bwd, true)->Unit(benchmark::kMicrosecond)->UseRealTime();
