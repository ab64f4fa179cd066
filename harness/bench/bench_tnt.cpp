// Micro-benchmarks of TNT's own pieces at TNT-S/16 shapes (batch 8, 196 patches + cls, d 384, c 24, 4x4
// words): the token add (patch tokens 1..N += proj(words)), GB/s of tensors read and written; the word
// embedding (7x7 stride-4 conv on each of the 1568 16x16 patches) and the whole tnt_s_patch16_224 forward /
// backward (MACs from models/cost.hpp), GFLOP/s = 2 x MACs. Wall-clock rates (UseRealTime).
#include <benchmark/benchmark.h>

#include "harness/bench/bench_util.hpp"
#include "models/cost.hpp"
#include "models/layers/conv2d.hpp"
#include "models/layers/token_add.hpp"
#include "models/model.hpp"

namespace {

using namespace vb;
using namespace vb::bench;

constexpr int64_t kB = 8, kN = 196, kD = 384;  // TNT-S/16: 196 patches (+ cls), d 384

// Forward reads tokens and x and writes dst; backward reads diff_dst[:, 1:] and writes diff_x.
void BM_TokenAdd(benchmark::State& state, bool backward) {
  TokenAdd layer("blocks.0.token_add", {kD});
  const Tensor tokens = normal_tensor({kB, kN + 1, kD}, 1), x = normal_tensor({kB, kN, kD}, 2);
  const Tensor diff_dst = normal_tensor({kB, kN + 1, kD}, 3);
  layer.forward(tokens, x);
  const double rows = kB * (backward ? 2.0 * kN : 3.0 * kN + 2.0);
  run_gbps(state, rows * kD * 4, [&] {
    if (backward)
      layer.backward(diff_dst);
    else
      layer.forward(tokens, x);
  });
}

// pixel_embed.proj: (B*N, 3, 16, 16) -> (B*N, 24, 4, 4); backward = data + weights, twice the forward FLOPs.
void BM_WordConv(benchmark::State& state, bool backward) {
  const int64_t c = 24, k = 7, w = 4;
  Conv2d conv("pixel_embed.proj", {3, c, k, 4, 3, true});
  conv.weight.value.assign(std::vector<float>(c * 3 * k * k, 0.01f));
  const Tensor src = normal_tensor({kB * kN, 3, 16, 16}, 4);
  const Tensor& dst = conv.forward(src, Mode::train);
  const Tensor diff_dst = normal_tensor(dst.shape(), 5);
  if (backward) conv.backward(diff_dst);
  const double flops = 2.0 * kB * kN * c * w * w * 3 * k * k * (backward ? 2 : 1);
  time_loop(state, [&] {
    if (backward)
      conv.backward(diff_dst);
    else
      conv.forward(src, Mode::train);
  });
  set_gflops(state, flops);
}

// tnt_s_patch16_224 (timm init), batch 8, train mode; backward counted as twice the forward's FLOPs.
void BM_TntSmall(benchmark::State& state, bool backward) {
  const ModelConfig& cfg = preset("tnt_s_patch16_224");
  auto model = create_model(cfg);
  model->init(1);
  const Tensor images = normal_tensor({kB, 3, 224, 224}, 6);
  const Tensor diff_logits = normal_tensor({kB, 1000}, 7);
  model->forward(images, Mode::train);
  if (backward) model->backward(diff_logits);
  time_loop(state, [&] {
    if (backward)
      model->backward(diff_logits);
    else
      model->forward(images, Mode::train);
  });
  set_gflops(state, 2.0 * kB * total_macs(cost_table(cfg)) * (backward ? 2 : 1));
}

}  // namespace

BENCHMARK_CAPTURE(BM_WordConv, fwd, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_WordConv, bwd, true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_TokenAdd, fwd, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_TokenAdd, bwd, true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_TntSmall, batch8_fwd, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_TntSmall, batch8_bwd, true)->Unit(benchmark::kMillisecond)->UseRealTime();
