// Micro-benchmarks of multi-head self-attention forward and backward at ViT-S/16 and TNT-S inner shapes.
// FLOPs = 2 x MACs of the four matmuls of the forward, per batch of B sequences of N tokens, width D:
//   qkv projection B*N*D*3D + QK^T B*H*N*N*dh (= B*N*N*D) + PV B*N*N*D + proj B*N*D*D = B*N*D*(4D + 2N);
// softmax and biases are not counted. Backward = 2 x forward: each matmul has two backward matmuls of its
// size (data and weights for the projections; dP, dV, dQ, dK for the core).
#include <benchmark/benchmark.h>

#include "harness/bench/bench_util.hpp"
#include "models/layers/attention.hpp"

namespace {

using namespace vb;
using namespace vb::bench;

struct Shape {
  int64_t B, N, D, H;
  bool qkv_bias;
  QkvLayout qkv;
};
// ViT-S/16 at 224: batch 8, 197 tokens (196 patches + cls), dim 384, 6 heads.
const Shape kVitS16{8, 197, 384, 6, true, QkvLayout::fused};
// TNT-S inner transformer: every one of the 8 x 196 patches is a sequence of 16 words (4x4 pixels) of dim 24,
// 4 heads, separate qk / v projections without bias. The core is 8 x 196 x 4 tiny (16 x 6) matmuls, run as
// one matmul with (B, H) batch dims.
const Shape kTntSInner{8 * 196, 16, 24, 4, false, QkvLayout::separate_qk_v};

double forward_flops(const Shape& s) {
  return 2.0 * s.B * s.N * s.D * (4.0 * s.D + 2.0 * s.N);
}

void init(Attention& a) {
  uint64_t seed = 1;
  for (Param* p : a.params()) p->value.assign(normal_values(p->value.numel(), seed++, 0.02f));
}

void attention_forward(benchmark::State& state, Shape s) {
  Attention a("attn", {s.D, s.H, s.qkv_bias, s.qkv});
  init(a);
  const Tensor src = normal_tensor({s.B, s.N, s.D}, 100, 1.0f);  // (B, N, D)
  run(state, [&] { a.forward(src, Mode::train); });
  set_gflops(state, forward_flops(s));
}

void attention_backward(benchmark::State& state, Shape s) {
  Attention a("attn", {s.D, s.H, s.qkv_bias, s.qkv});
  init(a);
  const Tensor src = normal_tensor({s.B, s.N, s.D}, 100, 1.0f);       // (B, N, D)
  const Tensor diff_dst = normal_tensor({s.B, s.N, s.D}, 101, 1.0f);  // (B, N, D)
  a.forward(src, Mode::train);
  run(state, [&] { a.backward(diff_dst); });
  set_gflops(state, 2 * forward_flops(s));
}

}  // namespace

BENCHMARK_CAPTURE(attention_forward, vit_s16, kVitS16)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(attention_backward, vit_s16, kVitS16)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(attention_forward, tnt_s_inner, kTntSInner)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(attention_backward, tnt_s_inner, kTntSInner)->Unit(benchmark::kMillisecond)->UseRealTime();
