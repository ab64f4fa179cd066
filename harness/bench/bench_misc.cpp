// Micro-benchmarks of the memory-bound helper layers (residual add, cls token, position table, patch unfold,
// drop path, dropout, cross-entropy) at ViT-S/16 (batch 8, 197 tokens, dim 384) and ResNet-50 (8 x 256 x 56 x
// 56, nChw16c) shapes. GB/s = bytes read + written by the primitives per call (f32), not counting caches.
#include <benchmark/benchmark.h>

#include "harness/bench/bench_util.hpp"
#include "models/layers/add.hpp"
#include "models/layers/cls_token.hpp"
#include "models/layers/cross_entropy.hpp"
#include "models/layers/drop_path.hpp"
#include "models/layers/dropout.hpp"
#include "models/layers/patch_unfold.hpp"
#include "models/layers/pos_embed.hpp"

namespace {

using namespace vb;
using namespace vb::bench;

constexpr int64_t kB = 8, kN = 197, kD = 384;  // ViT-S/16 tokens

void add_forward(benchmark::State& state, dnnl::memory::desc md) {
  Add add("add");
  const Tensor a = normal_tensor(md, 1), b = normal_tensor(md, 2);
  run_gbps(state, 3.0 * a.numel() * 4, [&] { add.forward(a, b); });
}

// Backward is free when diff_dst is in a's layout; this is the other case: a plain diff_dst reordered to a's.
void add_backward_reorder(benchmark::State& state, dnnl::memory::desc md) {
  Add add("add");
  const Tensor a = normal_tensor(md, 1), b = normal_tensor(md, 2), diff_dst = normal_tensor(md.dims(), 3);
  add.forward(a, b);
  run_gbps(state, 2.0 * a.numel() * 4, [&] { add.backward(diff_dst); });
}

const auto kTokensMd = plain_desc({kB, kN, kD});
const auto kResNetMd = dnnl::memory::desc({kB, 256, 56, 56}, dt::f32, tag::nChw16c);

void cls_token_forward(benchmark::State& state) {
  ClsToken layer("", {kD});
  const Tensor src = normal_tensor({kB, kN - 1, kD}, 1);
  run_gbps(state, (2.0 * src.numel() + kB * kD + kD) * 4, [&] { layer.forward(src, Mode::train); });
}

void cls_token_backward(benchmark::State& state) {
  ClsToken layer("", {kD});
  const Tensor src = normal_tensor({kB, kN - 1, kD}, 1), diff_dst = normal_tensor({kB, kN, kD}, 2);
  layer.forward(src, Mode::train);
  run_gbps(state, (2.0 * src.numel() + kB * kD + kD) * 4, [&] { layer.backward(diff_dst); });
}

void pos_embed_forward(benchmark::State& state) {
  LearnedPosEmbed layer("", {{1, kN, kD}});
  const Tensor src = normal_tensor({kB, kN, kD}, 1);
  run_gbps(state, (2.0 * src.numel() + kN * kD) * 4, [&] { layer.forward(src, Mode::train); });
}

// diff_src is diff_dst itself; the work is the batch-sum reduction of the table's gradient.
void pos_embed_backward(benchmark::State& state) {
  LearnedPosEmbed layer("", {{1, kN, kD}});
  const Tensor src = normal_tensor({kB, kN, kD}, 1), diff_dst = normal_tensor({kB, kN, kD}, 2);
  layer.forward(src, Mode::train);
  run_gbps(state, (1.0 * src.numel() + kN * kD) * 4, [&] { layer.backward(diff_dst); });
}

// ViT-S/16 patch embedding input: (8, 3, 224, 224) -> (8, 196, 768).
void patch_unfold_forward(benchmark::State& state) {
  PatchUnfold layer("unfold", {16});
  const Tensor src = normal_tensor({kB, 3, 224, 224}, 1);
  run_gbps(state, 2.0 * src.numel() * 4, [&] { layer.forward(src, Mode::train); });
}

void patch_unfold_backward(benchmark::State& state) {
  PatchUnfold layer("unfold", {16});
  const Tensor src = normal_tensor({kB, 3, 224, 224}, 1), diff_dst = normal_tensor({kB, 196, 768}, 2);
  layer.forward(src, Mode::train);
  run_gbps(state, 2.0 * src.numel() * 4, [&] { layer.backward(diff_dst); });
}

template <class L>
void drop_forward(benchmark::State& state, dnnl::memory::desc md, double passes) {
  L layer("drop", {0.1f, 1});
  const Tensor src = normal_tensor(md, 1);
  run_gbps(state, passes * src.numel() * 4, [&] { layer.forward(src, Mode::train); });
}

template <class L>
void drop_backward(benchmark::State& state, dnnl::memory::desc md, double passes) {
  L layer("drop", {0.1f, 1});
  const Tensor src = normal_tensor(md, 1), diff_dst = normal_tensor(md, 2);
  layer.forward(src, Mode::train);
  run_gbps(state, passes * src.numel() * 4, [&] { layer.backward(diff_dst); });
}

void drop_path_forward(benchmark::State& state, dnnl::memory::desc md) {
  drop_forward<DropPath>(state, md, 2.0);
}
void drop_path_backward(benchmark::State& state, dnnl::memory::desc md) {
  drop_backward<DropPath>(state, md, 2.0);
}
// Dropout forward also writes the mask and reads it back; backward reads it.
void dropout_forward(benchmark::State& state, dnnl::memory::desc md) {
  drop_forward<Dropout>(state, md, 4.0);
}
void dropout_backward(benchmark::State& state, dnnl::memory::desc md) {
  drop_backward<Dropout>(state, md, 3.0);
}

// ImageNet head: (256, 1000) logits. Forward reads the logits and writes softmax and diff_logits.
void cross_entropy_forward(benchmark::State& state) {
  const int64_t B = 256, K = 1000;
  CrossEntropy ce("loss", {K, 0.1f});
  const Tensor logits = normal_tensor({B, K}, 1);
  std::vector<int64_t> labels(B);
  for (int64_t b = 0; b < B; ++b) labels[b] = (b * 37) % K;
  run_gbps(state, 3.0 * B * K * 4, [&] { benchmark::DoNotOptimize(ce.forward(logits, labels)); });
}

}  // namespace

BENCHMARK_CAPTURE(add_forward, vit_s16_tokens, kTokensMd)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(add_forward, resnet50_256x56x56_nChw16c, kResNetMd)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(add_backward_reorder, resnet50_256x56x56_nChw16c, kResNetMd)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK(cls_token_forward)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(cls_token_backward)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(pos_embed_forward)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(pos_embed_backward)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(patch_unfold_forward)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(patch_unfold_backward)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(drop_path_forward, vit_s16_tokens, kTokensMd)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(drop_path_backward, vit_s16_tokens, kTokensMd)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(drop_path_forward, resnet50_256x56x56_nChw16c, kResNetMd)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(dropout_forward, vit_s16_tokens, kTokensMd)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(dropout_backward, vit_s16_tokens, kTokensMd)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(cross_entropy_forward)->Unit(benchmark::kMicrosecond)->UseRealTime();
