// Micro-benchmarks of the CNN layers at ResNet-50 shapes, batch 8: Conv2d (GFLOP/s, f32 and bf16), and the
// memory-bound BatchNorm2d + ReLU, MaxPool2d and GlobalAvgPool (GB/s). Inputs arrive in the layout the
// layer would see inside the network (the conv's own src layout, blocked activations for the rest). Rates
// use wall time: oneDNN works on OpenMP threads, so the main thread's CPU time would overstate them.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <string>
#include <vector>

#include "harness/bench/bench_util.hpp"
#include "models/layers/avgpool.hpp"
#include "models/layers/batchnorm2d.hpp"
#include "models/layers/conv2d.hpp"
#include "models/layers/maxpool2d.hpp"
#include "models/layers/relu.hpp"

namespace {

using namespace vb;
using namespace vb::bench;

constexpr int64_t kBatch = 8;

struct ConvShape {
  int64_t C, O, H, k, stride, pad;
};

// forward: 2 * N * O * Ho * Wo * C * k * k; backward = backward_data + backward_weights = twice that.
void conv_bench(benchmark::State& state, ConvShape s, DType dtype, bool backward) {
  Conv2d conv("conv", {.in_channels = s.C,
                       .out_channels = s.O,
                       .kernel = s.k,
                       .stride = s.stride,
                       .padding = s.pad,
                       .dtype = dtype});
  conv.weight.value.assign(std::vector<float>(conv.weight.value.numel(), 0.01f));
  const Dims src_dims{kBatch, s.C, s.H, s.H};
  conv.forward(Tensor(src_dims), Mode::train);  // learn the preferred src layout
  // f32: the conv's own src layout (what the previous conv/bn/relu hands over); bf16: f32 nhwc, which is
  // the f32 dst layout a bf16 conv produces.
  const auto src_md =
      dtype == DType::f32 ? conv.src_desc() : dnnl::memory::desc(src_dims, dt::f32, tag::nhwc);
  const Tensor src = uniform_tensor(src_md, 1);
  const Tensor& dst = conv.forward(src, Mode::train);
  const Tensor diff_dst = uniform_tensor(dst.desc(), 2);
  conv.backward(diff_dst);
  time_loop(state, [&] {
    if (backward)
      conv.backward(diff_dst);
    else
      conv.forward(src, Mode::train);
  });
  set_gflops(state, 2.0 * product(dst.shape()) * s.C * s.k * s.k * (backward ? 2 : 1));
  state.SetLabel(fmt::format("{} src {}", to_string(dtype), conv.reorders_src() ? "reordered" : "as is"));
}

// The 3x3 conv of a ResNet-50 stage-1 bottleneck, the 7x7 stem and the 1x1 256 -> 64 reduction.
const ConvShape k3x3{64, 64, 56, 3, 1, 1}, kStem{3, 64, 224, 7, 2, 3}, k1x1{256, 64, 56, 1, 1, 0};

BENCHMARK_CAPTURE(conv_bench, conv3x3_64_56_fwd_f32, k3x3, DType::f32, false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv_bench, conv3x3_64_56_bwd_f32, k3x3, DType::f32, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv_bench, conv7x7s2_stem_224_fwd_f32, kStem, DType::f32, false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv_bench, conv7x7s2_stem_224_bwd_f32, kStem, DType::f32, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv_bench, conv1x1_256_64_56_fwd_f32, k1x1, DType::f32, false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv_bench, conv1x1_256_64_56_bwd_f32, k1x1, DType::f32, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv_bench, conv3x3_64_56_fwd_bf16, k3x3, DType::bf16, false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv_bench, conv3x3_64_56_bwd_bf16, k3x3, DType::bf16, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv_bench, conv7x7s2_stem_224_fwd_bf16, kStem, DType::bf16, false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv_bench, conv7x7s2_stem_224_bwd_bf16, kStem, DType::bf16, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv_bench, conv1x1_256_64_56_fwd_bf16, k1x1, DType::bf16, false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv_bench, conv1x1_256_64_56_bwd_bf16, k1x1, DType::bf16, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// GB/s below: every tensor argument read or written once (a lower bound; BN forward reads src twice).
const dnnl::memory::desc kBlocked64x56 = dnnl::memory::desc({kBatch, 64, 56, 56}, dt::f32, tag::nChw16c);

// BN + ReLU at 64 x 56 x 56 on blocked activations (conv dst layout).
// forward: bn src, dst + relu src, dst = 4 S; backward: bn src, diff_dst, diff_src + relu dst, diff_dst,
// diff_src = 6 S (S = activation bytes; per-channel vectors ignored).
void bn_relu_bench(benchmark::State& state, bool backward) {
  BatchNorm2d bn("bn", {.channels = 64});
  ReLU relu("relu");
  const Tensor src = uniform_tensor(kBlocked64x56, 1);
  const Tensor diff_dst = uniform_tensor(kBlocked64x56, 2);
  relu.forward(bn.forward(src, Mode::train), Mode::train);
  bn.backward(relu.backward(diff_dst));
  time_loop(state, [&] {
    if (backward)
      bn.backward(relu.backward(diff_dst));
    else
      relu.forward(bn.forward(src, Mode::train), Mode::train);
  });
  set_gbps(state, (backward ? 6.0 : 4.0) * src.desc().get_size());
}
BENCHMARK_CAPTURE(bn_relu_bench, bn_relu_64_56_fwd, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(bn_relu_bench, bn_relu_64_56_bwd, true)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Max pool 3x3 stride 2 pad 1 at 64 x 112 x 112 (after the stem): forward src + dst, backward diff_dst +
// diff_src (workspace ignored).
void maxpool_bench(benchmark::State& state, bool backward) {
  MaxPool2d pool("maxpool", {.kernel = 3, .stride = 2, .padding = 1});
  const Tensor src = uniform_tensor(dnnl::memory::desc({kBatch, 64, 112, 112}, dt::f32, tag::nChw16c), 1);
  const Tensor& dst = pool.forward(src, Mode::train);
  const Tensor diff_dst = uniform_tensor(dst.desc(), 2);
  pool.backward(diff_dst);
  time_loop(state, [&] {
    if (backward)
      pool.backward(diff_dst);
    else
      pool.forward(src, Mode::train);
  });
  set_gbps(state, static_cast<double>(src.desc().get_size() + dst.desc().get_size()));
}
BENCHMARK_CAPTURE(maxpool_bench, maxpool3x3s2_64_112_fwd, false)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(maxpool_bench, maxpool3x3s2_64_112_bwd, true)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Global average pool of the last stage, 2048 x 7 x 7 -> (N, 2048): src + dst bytes.
void avgpool_bench(benchmark::State& state, bool backward) {
  GlobalAvgPool pool("avgpool");
  const Tensor src = uniform_tensor(dnnl::memory::desc({kBatch, 2048, 7, 7}, dt::f32, tag::nChw16c), 1);
  const Tensor& dst = pool.forward(src, Mode::train);
  const Tensor diff_dst = uniform_tensor(dst.desc(), 2);
  pool.backward(diff_dst);
  time_loop(state, [&] {
    if (backward)
      pool.backward(diff_dst);
    else
      pool.forward(src, Mode::train);
  });
  set_gbps(state, static_cast<double>(src.desc().get_size() + dst.desc().get_size()));
}
BENCHMARK_CAPTURE(avgpool_bench, avgpool_2048_7_fwd, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(avgpool_bench, avgpool_2048_7_bwd, true)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
