// SyncBatchNorm (BatchNorm2d::sync_stats, models/layers/sync_batchnorm.hpp) without MPI: its backward against
// finite differences of its forward; in a world of one it is plain BatchNorm2d; and with a second rank whose
// contributions to the two cross-rank sums are scripted (computed from its half of a batch), rank 0's half
// computes exactly BatchNorm on the whole batch (dst, diff_src, running statistics with the global count).
// tests/dist/parity.sh checks the same with two real MPI ranks inside a trained ResNet.
#include <catch2/catch.hpp>
#include <cmath>

#include "models/layers/batchnorm2d.hpp"
#include "tests/reference/batchnorm2d.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

namespace {

constexpr double kEps = 1e-5;
constexpr double kRtol = 1e-5, kAtol = 1e-5;  // f32 vs double, as tests/layers/test_batchnorm2d.cpp

// The other ranks of a job, scripted: each call adds the next prepared vector (their part of the sum).
struct ScriptedRanks : CrossRankSum {
  std::vector<Vec> parts;
  size_t calls = 0;
  void sum(double* values, int64_t n) override {
    REQUIRE(calls < parts.size());
    const Vec& p = parts[calls++];
    REQUIRE(static_cast<int64_t>(p.size()) == n);
    for (int64_t i = 0; i < n; ++i) values[i] += p[static_cast<size_t>(i)];
  }
};

// Per-channel sums over (N, C, H, W) values: sum of f(x_i, i) for the entries of channel c.
template <class F>
Vec channel_sums(int64_t N, int64_t C, int64_t HW, F f) {
  Vec s(C, 0.0);
  for (int64_t b = 0; b < N; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) s[c] += f((b * C + c) * HW + i, c);
  return s;
}

Vec slice(const Vec& v, size_t from, size_t to) {
  return Vec(v.begin() + from, v.begin() + to);
}

}  // namespace

TEST_CASE("sync batchnorm backward matches finite differences of its forward", "[layer][sync_batchnorm]") {
  // The layer itself in f32 (world of one), not a reference: steps of 1e-2 against f32 rounding of ~1e-7 in a
  // loss of order 1 give FD errors of ~1e-5, truncation error ~h^2 = 1e-4 relative; tolerance 2e-3.
  const int64_t N = 2, C = 3, H = 3, W = 2;
  const Dims shape{N, C, H, W};
  const Vec x = random_vec(N * C * H * W, 1, -1.0, 2.0), w = random_vec(C, 2, 0.5, 1.5), b = random_vec(C, 3);
  const Vec dy = random_vec(x.size(), 4);
  BatchNorm2d bn("bn", {.channels = C});
  bn.sync_stats(true);
  REQUIRE(bn.stats_synced());
  bn.weight.value.assign(to_float(w));
  bn.bias.value.assign(to_float(b));
  auto loss = [&](const Vec& xx) {
    return weighted_sum(to_double(bn.forward(tensor(shape, xx), Mode::train)), dy);
  };
  bn.forward(tensor(shape, x), Mode::train);
  const Vec dx = to_double(bn.backward(tensor(shape, dy)));
  require_close_scaled(dx, finite_diff(loss, x, 1e-2), 2e-3, "diff_src vs finite differences");
  // Constant-sum directions: the mean-subtraction terms matter (dx sums to ~0 per channel; an un-synced
  // backward with the statistics treated as constants would not).
  const Vec per_channel = channel_sums(N, C, H * W, [&](int64_t i, int64_t) { return dx[i]; });
  require_close(per_channel, Vec(C, 0.0), 0, 1e-5, "sum of diff_src per channel");
}

TEST_CASE("sync batchnorm in a world of one is batchnorm", "[layer][sync_batchnorm]") {
  for (const Dims& shape : {Dims{2, 3, 5, 4}, Dims{4, 20, 3, 3}})
    for (const auto layout : {tag::nchw, tag::nChw16c, tag::nhwc}) {
      INFO(to_string(shape) << " layout " << static_cast<int>(layout));
      const int64_t C = shape[1];
      const Vec w = random_vec(C, C + 1, 0.5, 1.5), b = random_vec(C, C + 2);
      BatchNorm2d plain("bn", {.channels = C}), synced("bn", {.channels = C});
      synced.sync_stats(true);
      for (BatchNorm2d* bn : {&plain, &synced}) {
        bn->weight.value.assign(to_float(w));
        bn->bias.value.assign(to_float(b));
      }
      for (int step = 0; step < 2; ++step) {
        const Vec x = random_vec(product(shape), C + 10 * step, -1.0, 3.0),
                  dy = random_vec(x.size(), C + 3 + step);
        Tensor src(dnnl::memory::desc(shape, dt::f32, layout));
        src.assign(to_float(x));
        const Vec y0 = to_double(plain.forward(src, Mode::train));
        const Tensor& y1 = synced.forward(src, Mode::train);
        REQUIRE(y1.desc() == src.desc());
        require_close(to_double(y1), y0, kRtol, kAtol, "dst");
        const Vec dx0 = to_double(plain.backward(tensor(shape, dy)));
        const Tensor& dx1 = synced.backward(tensor(shape, dy));
        REQUIRE(dx1.desc() == src.desc());
        require_close(to_double(dx1), dx0, kRtol, kAtol, "diff_src");
        require_close(to_double(synced.weight.grad), to_double(plain.weight.grad), kRtol, kAtol,
                      "diff_weight");
        require_close(to_double(synced.bias.grad), to_double(plain.bias.grad), kRtol, kAtol, "diff_bias");
      }
      REQUIRE(synced.num_batches_tracked == 2);
      require_close(to_double(synced.running_mean), to_double(plain.running_mean), 1e-6, 1e-7,
                    "running_mean");
      require_close(to_double(synced.running_var), to_double(plain.running_var), 1e-6, 1e-7, "running_var");
      // Eval uses the running statistics, as plain BatchNorm.
      Tensor src(dnnl::memory::desc(shape, dt::f32, layout));
      src.assign(to_float(random_vec(product(shape), 99)));
      require_close(to_double(synced.forward(src, Mode::eval)), to_double(plain.forward(src, Mode::eval)),
                    kRtol, kAtol, "dst (eval)");
    }
}

TEST_CASE("sync batchnorm on half a batch, with the other half's sums, is batchnorm on the whole batch",
          "[layer][sync_batchnorm]") {
  // Rank 0 holds images [0, N0), the scripted rank 1 images [N0, N); channel means far from 0 (the sums of
  // squares must not lose the variance), n = 2*4*3 = 24 per rank, N = 60 in all.
  const int64_t N0 = 2, N = 5, C = 4, H = 4, W = 3, HW = H * W;
  const float momentum = 0.3f;
  const Vec x = random_vec(N * C * HW, 7, 3.0, 5.0), dy = random_vec(x.size(), 8);
  const Vec w = random_vec(C, 9, 0.5, 1.5), b = random_vec(C, 10);
  Vec y_ref, mean, var, dx_ref, dw_ref, db_ref, rmean(C, 0.0), rvar(C, 1.0);
  ref::batchnorm2d_forward(y_ref, mean, var, x, w, b, N, C, H, W, kEps);
  ref::batchnorm2d_backward(dx_ref, dw_ref, db_ref, dy, x, w, mean, var, N, C, H, W, kEps);
  ref::batchnorm2d_update_running(rmean, rvar, mean, var, N * HW, momentum);

  // Rank 1's contributions: [count, sums, sums of squares], then [sums of dy, sums of dy x_hat].
  const size_t half = static_cast<size_t>(N0 * C * HW);
  const Vec x1 = slice(x, half, x.size()), dy1 = slice(dy, half, dy.size());
  const int64_t N1 = N - N0;
  ScriptedRanks other;
  Vec fwd{static_cast<double>(N1 * HW)};
  for (const Vec& s : {channel_sums(N1, C, HW, [&](int64_t i, int64_t) { return x1[i]; }),
                       channel_sums(N1, C, HW, [&](int64_t i, int64_t) { return x1[i] * x1[i]; })})
    fwd.insert(fwd.end(), s.begin(), s.end());
  const Vec dy_sum = channel_sums(N1, C, HW, [&](int64_t i, int64_t) { return dy1[i]; });
  const Vec dyx_sum = channel_sums(
      N1, C, HW, [&](int64_t i, int64_t c) { return dy1[i] * (x1[i] - mean[c]) / std::sqrt(var[c] + kEps); });
  Vec bwd = dy_sum;
  bwd.insert(bwd.end(), dyx_sum.begin(), dyx_sum.end());
  other.parts = {fwd, bwd};

  for (const auto layout : {tag::nchw, tag::nChw16c}) {
    INFO("layout " << static_cast<int>(layout));
    other.calls = 0;
    const Dims shape{N0, C, H, W};
    BatchNorm2d bn("layer1.0.bn1", {.channels = C, .momentum = momentum});
    bn.sync_stats(true, &other);
    bn.weight.value.assign(to_float(w));
    bn.bias.value.assign(to_float(b));
    Tensor src(dnnl::memory::desc(shape, dt::f32, layout));
    src.assign(to_float(slice(x, 0, half)));
    require_close(to_double(bn.forward(src, Mode::train)), slice(y_ref, 0, half), kRtol, kAtol, "dst");
    require_close(to_double(bn.running_mean), rmean, 1e-6, 1e-6, "running_mean (global statistics)");
    require_close(to_double(bn.running_var), rvar, 1e-5, 1e-6,
                  "running_var (unbiased with the global count)");
    require_close(to_double(bn.backward(tensor(shape, slice(dy, 0, half)))), slice(dx_ref, 0, half), kRtol,
                  kAtol, "diff_src");
    REQUIRE(other.calls == 2);
    // Weight and bias gradients are rank 0's own sums: with rank 1's they make the whole batch's.
    Vec dw = to_double(bn.weight.grad), db = to_double(bn.bias.grad);
    for (int64_t c = 0; c < C; ++c) dw[c] += dyx_sum[c], db[c] += dy_sum[c];
    require_close(dw, dw_ref, kRtol, kAtol, "diff_weight, rank 0 + rank 1");
    require_close(db, db_ref, kRtol, kAtol, "diff_bias, rank 0 + rank 1");
  }
}

TEST_CASE("sync batchnorm in bf16 is batchnorm in bf16", "[layer][sync_batchnorm]") {
  VB_REQUIRE_BF16();
  // bf16 dst and diff_src: 8 significant bits. The synced backward rounds dx0 to bf16 before adding the terms
  // through the statistics, plain BatchNorm rounds once: a few bf16 ulps apart, 2^-8 = 4e-3 each.
  const Dims shape{4, 16, 3, 3};
  const int64_t C = shape[1];
  const Vec x = random_vec(product(shape), 5, -1.0, 3.0), dy = random_vec(x.size(), 6);
  BatchNorm2d plain("bn", {.channels = C, .dtype = DType::bf16}),
      synced("bn", {.channels = C, .dtype = DType::bf16});
  synced.sync_stats(true);
  Tensor src(dnnl::memory::desc(shape, dt::bf16, tag::nChw16c)),
      diff(dnnl::memory::desc(shape, dt::bf16, tag::nChw16c));
  src.assign(to_float(x));
  diff.assign(to_float(dy));
  const Vec y0 = to_double(plain.forward(src, Mode::train));
  require_close_scaled(to_double(synced.forward(src, Mode::train)), y0, 1e-2, "dst");
  const Vec dx0 = to_double(plain.backward(diff));
  const Tensor& dx1 = synced.backward(diff);
  REQUIRE(dx1.desc() == src.desc());
  require_close_scaled(to_double(dx1), dx0, 2e-2, "diff_src");
  require_close_scaled(to_double(synced.weight.grad), to_double(plain.weight.grad), 1e-3, "diff_weight");
  require_close(to_double(synced.running_var), to_double(plain.running_var), 1e-6, 1e-7, "running_var");
}
