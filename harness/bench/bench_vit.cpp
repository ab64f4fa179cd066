// Micro-benchmarks of the ViT pieces at ViT-S/16 shapes (batch 8, 197 tokens, dim 384, MLP 1536, 6 heads):
// FlattenTokens, TokenSelect, PosEmbed2d (GB/s of tensors read and written), the Mlp and TransformerBlock
// (GFLOP/s, GFLOP = 2 x multiply-adds), and the whole vit_small_patch16_224 forward / backward.
// Rates use wall-clock time (UseRealTime): the main thread's CPU time would miss the OpenMP workers.
#include <benchmark/benchmark.h>

#include "harness/bench/bench_util.hpp"
#include "models/blocks/mlp.hpp"
#include "models/blocks/transformer_block.hpp"
#include "models/layers/flatten_tokens.hpp"
#include "models/layers/pos_embed_2d.hpp"
#include "models/layers/token_select.hpp"
#include "models/model.hpp"

namespace {

using namespace vb;
using namespace vb::bench;

constexpr int64_t kBatch = 8, kGrid = 14, kTokens = kGrid * kGrid + 1, kDim = 384, kHeads = 6, kHidden = 1536;

void randomise(Layer& layer, uint64_t seed) {
  for (Param* p : layer.params()) p->value.assign(uniform_values(p->value.numel(), seed++, 0.05f));
}

// (8, 384, 14, 14) in the conv's blocked layout -> (8, 196, 384): reads and writes the tensor once.
void BM_FlattenTokens(benchmark::State& state, bool backward) {
  FlattenTokens flat("patch_embed.flatten");
  const Tensor src =
      uniform_tensor(dnnl::memory::desc({kBatch, kDim, kGrid, kGrid}, dt::f32, tag::aBcd16b), 1);
  run(state, flat, src, backward, 2.0 * src.numel() * sizeof(float) * 1e-9, "GB/s");
}

// (8, 197, 384) -> (8, 384): forward moves one row per sample; backward writes that row (the rest stays
// zero).
void BM_TokenSelect(benchmark::State& state, bool backward) {
  TokenSelect sel("head_select");
  const Tensor src = uniform_tensor(plain_desc({kBatch, kTokens, kDim}), 2);
  run(state, sel, src, backward, 2.0 * kBatch * kDim * sizeof(float) * 1e-9, "GB/s");
}

// Learned 2-D table on (8, 197, 384): forward assembles the table and reads src / writes dst, backward reads
// diff_dst (batch sum) and folds the table gradient (diff_src is diff_dst itself).
void BM_PosEmbed2d(benchmark::State& state, bool backward) {
  PosEmbed2d pos("", {kGrid, kGrid, kDim});
  randomise(pos, 3);
  const Tensor src = uniform_tensor(plain_desc({kBatch, kTokens, kDim}), 4);
  const double tensor_bytes = static_cast<double>(src.numel()) * sizeof(float);
  run(state, pos, src, backward, (backward ? 1.0 : 2.0) * tensor_bytes * 1e-9, "GB/s");
}

// Mlp: 2 * M * D * hidden MACs forward, twice that backward.
void BM_Mlp(benchmark::State& state, bool backward) {
  Mlp mlp("blocks.0.mlp", {kDim, kHidden});
  randomise(mlp, 5);
  const Tensor src = uniform_tensor(plain_desc({kBatch, kTokens, kDim}), 6);
  const double macs = 2.0 * kBatch * kTokens * kDim * kHidden;
  run(state, mlp, src, backward, 2.0 * macs * (backward ? 2 : 1) * 1e-9, "GFLOP/s");
}

// One ViT-S block: qkv (D -> 3D), QK^T and PV (2 N^2 D per sample), proj (D -> D), MLP; backward twice that.
double block_macs() {
  const double M = kBatch * kTokens;
  return M * kDim * 3 * kDim + 2.0 * kBatch * kTokens * kTokens * kDim + M * kDim * kDim +
         2 * M * kDim * kHidden;
}

void BM_TransformerBlock(benchmark::State& state, bool backward) {
  TransformerBlock block("blocks.0", {kDim, kHeads, true, QkvLayout::fused, kHidden});
  randomise(block, 7);
  const Tensor src = uniform_tensor(plain_desc({kBatch, kTokens, kDim}), 8);
  run(state, block, src, backward, 2.0 * block_macs() * (backward ? 2 : 1) * 1e-9, "GFLOP/s");
}

// The whole vit_small_patch16_224 (timm init), batch 8: patch conv + 12 blocks + head; backward twice.
void BM_ViTSmall(benchmark::State& state, bool backward) {
  auto model = create_model(preset("vit_small_patch16_224"));
  model->init(1);
  const Tensor images = uniform_tensor(plain_desc({kBatch, 3, 224, 224}), 9);
  const Tensor diff_logits = uniform_tensor(plain_desc({kBatch, 1000}), 10);
  model->forward(images, Mode::train);
  if (backward) model->backward(diff_logits);
  time_loop(state, [&] {
    if (backward)
      model->backward(diff_logits);
    else
      model->forward(images, Mode::train);
  });
  const double macs =
      kBatch * (kTokens - 1.0) * kDim * 3 * 16 * 16 + 12 * block_macs() + kBatch * kDim * 1000.0;
  set_gflops(state, 2.0 * macs * (backward ? 2 : 1));
}

}  // namespace

BENCHMARK_CAPTURE(BM_FlattenTokens, fwd, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_FlattenTokens, bwd, true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_TokenSelect, fwd, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_TokenSelect, bwd, true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_PosEmbed2d, learned_fwd, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_PosEmbed2d, learned_bwd, true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Mlp, vit_s_fwd, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Mlp, vit_s_bwd, true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_TransformerBlock, vit_s_fwd, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_TransformerBlock, vit_s_bwd, true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ViTSmall, batch8_fwd, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ViTSmall, batch8_bwd, true)->Unit(benchmark::kMillisecond)->UseRealTime();
