// BatchNorm2d: reference vs finite differences, oneDNN training forward/backward vs reference, running
// statistics (unbiased variance) after two steps, eval forward, rebuilds, bad inputs; and a
// conv -> bn -> relu -> conv chain in oneDNN's blocked layout with no reorder between the memory-bound ops.
// Config::fuse_relu (bn then relu in one primitive): the reference composition against finite differences,
// the layer's own backward against finite differences of its forward, and the layer against the reference
// in training, frozen-statistics, synced-statistics and eval modes, in three layouts.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "models/layers/batchnorm2d.hpp"
#include "models/layers/conv2d.hpp"
#include "models/layers/relu.hpp"
#include "tests/reference/batchnorm2d.hpp"
#include "tests/reference/conv2d.hpp"
#include "tests/reference/relu.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

namespace {

constexpr double kEps = 1e-5;

// Normalising divides by std (~0.6 here) and the backward subtracts two channel means: f32 vs double
// agree to a few 1e-6 relative to values of order 1.
constexpr double kRtol = 1e-5, kAtol = 1e-5;

}  // namespace

TEST_CASE("batchnorm2d reference backward matches finite differences", "[layer][batchnorm2d]") {
  const int64_t N = 2, C = 3, H = 3, W = 2;
  const Vec x = random_vec(N * C * H * W, 1), w = random_vec(C, 2, 0.5, 1.5), b = random_vec(C, 3);
  const Vec dy = random_vec(x.size(), 4);
  auto loss = [&](const Vec& xx, const Vec& ww, const Vec& bb) {
    Vec y, mean, var;
    ref::batchnorm2d_forward(y, mean, var, xx, ww, bb, N, C, H, W, kEps);
    return weighted_sum(y, dy);
  };
  Vec y, mean, var, dx, dw, db;
  ref::batchnorm2d_forward(y, mean, var, x, w, b, N, C, H, W, kEps);
  ref::batchnorm2d_backward(dx, dw, db, dy, x, w, mean, var, N, C, H, W, kEps);
  require_gradient_matches_fd([&](const Vec& v) { return loss(v, w, b); }, x, dx, "dinp");
  require_gradient_matches_fd([&](const Vec& v) { return loss(x, v, b); }, w, dw, "dweight");
  require_gradient_matches_fd([&](const Vec& v) { return loss(x, w, v); }, b, db, "dbias");
}

TEST_CASE("batchnorm2d training forward and backward match the reference", "[layer][batchnorm2d]") {
  for (const Dims& shape : {Dims{2, 3, 5, 4}, Dims{4, 20, 3, 3}, Dims{1, 16, 7, 5}})
    for (const auto layout : {tag::nchw, tag::nChw16c, tag::nChw8c, tag::nhwc}) {
      INFO(to_string(shape) << " layout " << static_cast<int>(layout));
      const int64_t N = shape[0], C = shape[1], H = shape[2], W = shape[3];
      const Vec x = random_vec(product(shape), C, -1.0, 2.0);  // non-zero channel means
      const Vec w = random_vec(C, C + 1, 0.5, 1.5), b = random_vec(C, C + 2),
                dy = random_vec(x.size(), C + 3);
      Vec y_ref, mean, var, dx_ref, dw_ref, db_ref;
      ref::batchnorm2d_forward(y_ref, mean, var, x, w, b, N, C, H, W, kEps);
      ref::batchnorm2d_backward(dx_ref, dw_ref, db_ref, dy, x, w, mean, var, N, C, H, W, kEps);

      BatchNorm2d bn("layer1.0.bn1", {.channels = C});
      REQUIRE(bn.params().size() == 2);
      REQUIRE_FALSE(bn.weight.decay);
      REQUIRE_FALSE(bn.bias.decay);
      bn.weight.value.assign(to_float(w));
      bn.bias.value.assign(to_float(b));
      Tensor src(dnnl::memory::desc(shape, dt::f32, layout));
      src.assign(to_float(x));
      const Tensor& y = bn.forward(src, Mode::train);
      REQUIRE(y.desc() == src.desc());
      require_close(to_double(y), y_ref, kRtol, kAtol, "dst");
      const Tensor& dx = bn.backward(tensor(shape, dy));
      REQUIRE(dx.desc() == src.desc());
      require_close(to_double(dx), dx_ref, kRtol, kAtol, "diff_src");
      require_close(to_double(bn.weight.grad), dw_ref, kRtol, kAtol, "diff_weight");
      require_close(to_double(bn.bias.grad), db_ref, kRtol, kAtol, "diff_bias");
    }
}

TEST_CASE("batchnorm2d running statistics follow PyTorch (unbiased variance) and drive eval",
          "[layer][batchnorm2d]") {
  // n = N*H*W = 18, so the unbiased variance is 18/17 of the biased one: a 6% difference the test would see.
  const int64_t N = 2, C = 5, H = 3, W = 3;
  for (const float momentum : {0.1f, 0.3f}) {
    INFO("momentum " << momentum);
    BatchNorm2d bn("bn1", {.channels = C, .momentum = momentum});
    const Vec w = random_vec(C, 1, 0.5, 1.5), b = random_vec(C, 2);
    bn.weight.value.assign(to_float(w));
    bn.bias.value.assign(to_float(b));
    REQUIRE(bn.buffers().size() == 3);
    REQUIRE(bn.buffers()[0].key == "running_mean");
    REQUIRE(bn.buffers()[1].key == "running_var");
    REQUIRE(bn.buffers()[2].key == "num_batches_tracked");
    REQUIRE(bn.buffers()[2].counter == &bn.num_batches_tracked);
    require_close(to_double(bn.running_mean), Vec(C, 0.0), 0, 0, "initial running_mean");
    require_close(to_double(bn.running_var), Vec(C, 1.0), 0, 0, "initial running_var");
    REQUIRE(bn.num_batches_tracked == 0);

    Vec running_mean(C, 0.0), running_var(C, 1.0);
    for (int step = 0; step < 2; ++step) {
      const Vec x = random_vec(N * C * H * W, 10 + step, 1.0, 4.0);  // mean 2.5, var 0.75
      Vec y, mean, var;
      ref::batchnorm2d_forward(y, mean, var, x, w, b, N, C, H, W, kEps);
      ref::batchnorm2d_update_running(running_mean, running_var, mean, var, N * H * W, momentum);
      bn.forward(tensor({N, C, H, W}, x), Mode::train);
    }
    REQUIRE(bn.num_batches_tracked == 2);
    require_close(to_double(*bn.buffers()[0].buffer), running_mean, 1e-5, 1e-6, "running_mean");
    require_close(to_double(*bn.buffers()[1].buffer), running_var, 1e-5, 1e-6, "running_var");

    // Eval normalises with the running statistics and leaves them alone.
    const Vec x = random_vec(N * C * H * W, 20, 1.0, 4.0);
    Vec y_ref;
    ref::batchnorm2d_forward_eval(y_ref, x, w, b, running_mean, running_var, N, C, H, W, kEps);
    require_close(to_double(bn.forward(tensor({N, C, H, W}, x), Mode::eval)), y_ref, kRtol, kAtol,
                  "dst (eval)");
    REQUIRE(bn.num_batches_tracked == 2);
    require_close(to_double(bn.running_var), running_var, 1e-5, 1e-6, "running_var after eval");
    REQUIRE_THROWS_AS(bn.backward(Tensor({N, C, H, W})), std::logic_error);
  }
}

TEST_CASE("batchnorm2d rebuilds for a new shape", "[layer][batchnorm2d]") {
  const int64_t C = 4;
  BatchNorm2d bn("bn", {.channels = C});
  const Vec w = random_vec(C, 1, 0.5, 1.5), b = random_vec(C, 2);
  bn.weight.value.assign(to_float(w));
  bn.bias.value.assign(to_float(b));
  for (const Dims& shape : {Dims{2, C, 4, 4}, Dims{3, C, 2, 5}, Dims{2, C, 4, 4}}) {
    INFO(to_string(shape));
    const int64_t N = shape[0], H = shape[2], W = shape[3];
    const Vec x = random_vec(product(shape), N + H), dy = random_vec(product(shape), N + H + 1);
    Vec y_ref, mean, var, dx_ref, dw_ref, db_ref;
    ref::batchnorm2d_forward(y_ref, mean, var, x, w, b, N, C, H, W, kEps);
    ref::batchnorm2d_backward(dx_ref, dw_ref, db_ref, dy, x, w, mean, var, N, C, H, W, kEps);
    require_close(to_double(bn.forward(tensor(shape, x), Mode::train)), y_ref, kRtol, kAtol, "dst");
    require_close(to_double(bn.backward(tensor(shape, dy))), dx_ref, kRtol, kAtol, "diff_src");
    require_close(to_double(bn.weight.grad), dw_ref, kRtol, kAtol, "diff_weight");
  }
  REQUIRE(bn.num_batches_tracked == 3);
}

TEST_CASE("batchnorm2d refuses bad configs and inputs with its name", "[layer][batchnorm2d]") {
  REQUIRE_THROWS_WITH(BatchNorm2d("layer3.2.bn2", {.channels = 0}), Catch::Contains("layer3.2.bn2"));
  REQUIRE_THROWS_WITH(BatchNorm2d("layer3.2.bn2", {.channels = 4, .momentum = 2.0f}),
                      Catch::Contains("momentum"));
  BatchNorm2d bn("layer3.2.bn2", {.channels = 4});
  REQUIRE_THROWS_AS(bn.backward(Tensor({2, 4, 3, 3})), std::logic_error);
  REQUIRE_THROWS_WITH(bn.forward(Tensor({2, 5, 3, 3}), Mode::train), Catch::Contains("layer3.2.bn2") &&
                                                                         Catch::Contains("[2, 5, 3, 3]") &&
                                                                         Catch::Contains("[2, 4, 3, 3]"));
  REQUIRE_THROWS_WITH(bn.forward(Tensor({2, 4, 3}), Mode::train), Catch::Contains("layer3.2.bn2"));
  REQUIRE_THROWS_WITH(bn.forward(Tensor(), Mode::train), Catch::Contains("layer3.2.bn2"));
  REQUIRE_THROWS_WITH(bn.forward(Tensor({2, 4, 3, 3}, DType::bf16), Mode::train),
                      Catch::Contains("layer3.2.bn2"));
  REQUIRE_THROWS_WITH(bn.forward(Tensor({1, 4, 1, 1}), Mode::train), Catch::Contains("more than 1 value"));
  REQUIRE_NOTHROW(bn.forward(Tensor({1, 4, 1, 1}), Mode::eval));
  bn.forward(Tensor({2, 4, 3, 3}), Mode::train);
  REQUIRE_THROWS_WITH(bn.backward(Tensor({2, 4, 3, 2})),
                      Catch::Contains("layer3.2.bn2") && Catch::Contains("[2, 4, 3, 3]"));
  REQUIRE_NOTHROW(bn.backward(Tensor({2, 4, 3, 3})));
}

TEST_CASE("conv -> bn -> relu -> conv runs in the blocked layout and matches the reference chain",
          "[layer][batchnorm2d][conv2d][relu]") {
  const int64_t N = 2, C = 3, M = 16, O = 8, H = 6, W = 6;
  const Vec x = random_vec(N * C * H * W, 1);
  const Vec w1 = random_vec(M * C * 9, 2, -0.5, 0.5), w2 = random_vec(O * M * 9, 3, -0.5, 0.5);
  const Vec gamma = random_vec(M, 4, 0.5, 1.5), beta = random_vec(M, 5), b2 = random_vec(O, 6);

  Conv2d conv1("layer1.0.conv1", {.in_channels = C, .out_channels = M, .kernel = 3, .padding = 1});
  BatchNorm2d bn1("layer1.0.bn1", {.channels = M});
  ReLU relu("layer1.0.relu");
  Conv2d conv2("layer1.0.conv2",
               {.in_channels = M, .out_channels = O, .kernel = 3, .padding = 1, .bias = true});
  conv1.weight.value.assign(to_float(w1));
  conv2.weight.value.assign(to_float(w2));
  conv2.bias.value.assign(to_float(b2));
  bn1.weight.value.assign(to_float(gamma));
  bn1.bias.value.assign(to_float(beta));

  // Reference chain.
  Vec h1, h2, mean, var, h3, y_ref;
  ref::conv2d_forward(h1, x, w1, {}, N, C, H, W, M, 3, 1, 1);
  ref::batchnorm2d_forward(h2, mean, var, h1, gamma, beta, N, M, H, W, kEps);
  ref::relu_forward(h3, h2);
  ref::conv2d_forward(y_ref, h3, w2, b2, N, M, H, W, O, 3, 1, 1);
  const Vec dy = random_vec(y_ref.size(), 7);
  Vec dh3, dw2_ref, db2_ref, dh2, dh1, dgamma_ref, dbeta_ref, dx_ref, dw1_ref, unused;
  ref::conv2d_backward(dh3, dw2_ref, db2_ref, dy, h3, w2, true, N, M, H, W, O, 3, 1, 1);
  ref::relu_backward(dh2, dh3, h2);
  ref::batchnorm2d_backward(dh1, dgamma_ref, dbeta_ref, dh2, h1, gamma, mean, var, N, M, H, W, kEps);
  ref::conv2d_backward(dx_ref, dw1_ref, unused, dh1, x, w1, false, N, C, H, W, M, 3, 1, 1);

  for (int step = 0; step < 2; ++step) {  // second pass: everything already built, same results
    INFO("step " << step);
    const Tensor& a = conv1.forward(tensor({N, C, H, W}, x), Mode::train);
    REQUIRE_FALSE(a.plain());  // oneDNN's blocked layout for 16 channels
    const Tensor& b = bn1.forward(a, Mode::train);
    REQUIRE(b.desc() == a.desc());  // no reorder between conv, bn and relu
    const Tensor& c = relu.forward(b, Mode::train);
    REQUIRE(c.desc() == b.desc());
    const Tensor& y = conv2.forward(c, Mode::train);
    REQUIRE_FALSE(conv2.reorders_src());  // conv2 reads relu's dst as is
    // Tolerance: errors of the first conv pass through normalisation by std(h1) ~ 1.
    require_close(to_double(y), y_ref, 1e-4, 1e-4, "dst");

    const Tensor& dc = conv2.backward(tensor(y.shape(), dy));
    REQUIRE(dc.desc() == c.desc());
    const Tensor& db = relu.backward(dc);
    REQUIRE(db.desc() == b.desc());
    const Tensor& da = bn1.backward(db);
    REQUIRE(da.desc() == a.desc());
    const Tensor& dx = conv1.backward(da);
    REQUIRE(dx.plain());
    require_close(to_double(dx), dx_ref, 1e-4, 1e-4, "diff_src");
    require_close(to_double(conv1.weight.grad), dw1_ref, 1e-4, 1e-4, "conv1 diff_weights");
    require_close(to_double(bn1.weight.grad), dgamma_ref, 1e-4, 1e-4, "bn1 diff_weight");
    require_close(to_double(bn1.bias.grad), dbeta_ref, 1e-4, 1e-4, "bn1 diff_bias");
    require_close(to_double(conv2.weight.grad), dw2_ref, 1e-4, 1e-4, "conv2 diff_weights");
    require_close(to_double(conv2.bias.grad), db2_ref, 1e-4, 1e-4, "conv2 diff_bias");
  }
}

namespace {

// Reference BatchNorm2d then ReLU (training statistics): y, and the pre-activation bn(x) in z.
void bn_relu_forward(Vec& y, Vec& z, Vec& mean, Vec& var, const Vec& x, const Vec& w, const Vec& b, int64_t N,
                     int64_t C, int64_t H, int64_t W) {
  ref::batchnorm2d_forward(z, mean, var, x, w, b, N, C, H, W, kEps);
  ref::relu_forward(y, z);
}

// The smallest |bn(x)|: finite differences with step h only see the ReLU's kink if some value is within
// about h (times the normalisation's gain) of it.
double closest_to_kink(const Vec& z) {
  double m = 1e300;
  for (double v : z) m = std::min(m, std::abs(v));
  return m;
}

}  // namespace

TEST_CASE("batchnorm2d fuse_relu reference backward matches finite differences", "[layer][batchnorm2d]") {
  const int64_t N = 2, C = 3, H = 3, W = 2;
  const Vec x = random_vec(N * C * H * W, 1), w = random_vec(C, 2, 0.5, 1.5), b = random_vec(C, 3);
  const Vec dy = random_vec(x.size(), 4);
  auto loss = [&](const Vec& xx, const Vec& ww, const Vec& bb) {
    Vec y, z, mean, var;
    bn_relu_forward(y, z, mean, var, xx, ww, bb, N, C, H, W);
    return weighted_sum(y, dy);
  };
  Vec y, z, mean, var, dz, dx, dw, db;
  bn_relu_forward(y, z, mean, var, x, w, b, N, C, H, W);
  REQUIRE(closest_to_kink(z) > 1e-3);  // steps of 1e-5 stay on one side of the kink
  const auto clipped = std::count(y.begin(), y.end(), 0.0);
  REQUIRE(clipped > 0);                            // the mask matters: some outputs are clipped, ...
  REQUIRE(clipped < static_cast<long>(y.size()));  // ... others pass
  ref::relu_backward(dz, dy, z);
  ref::batchnorm2d_backward(dx, dw, db, dz, x, w, mean, var, N, C, H, W, kEps);
  require_gradient_matches_fd([&](const Vec& v) { return loss(v, w, b); }, x, dx, "dinp");
  require_gradient_matches_fd([&](const Vec& v) { return loss(x, v, b); }, w, dw, "dweight");
  require_gradient_matches_fd([&](const Vec& v) { return loss(x, w, v); }, b, db, "dbias");
}

TEST_CASE("batchnorm2d fuse_relu backward matches finite differences of its forward",
          "[layer][batchnorm2d]") {
  // The layer itself in f32, as tests/dist/test_sync_batchnorm.cpp: steps of 1e-3 against f32 rounding of
  // ~1e-7 in a loss of order 1 give FD errors of ~1e-4 relative to the largest gradient; tolerance 2e-3.
  const int64_t N = 2, C = 3, H = 3, W = 2;
  const Dims shape{N, C, H, W};
  const Vec x = random_vec(N * C * H * W, 1), w = random_vec(C, 2, 0.5, 1.5), b = random_vec(C, 3);
  const Vec dy = random_vec(x.size(), 4);
  Vec y, z, mean, var;
  bn_relu_forward(y, z, mean, var, x, w, b, N, C, H, W);
  REQUIRE(closest_to_kink(z) > 2e-2);  // a step of 1e-3 moves bn(x) by < 1e-2 here: no kink is crossed
  BatchNorm2d bn("layer1.0.bn1", {.channels = C, .fuse_relu = true});
  bn.weight.value.assign(to_float(w));
  bn.bias.value.assign(to_float(b));
  auto loss = [&](const Vec& xx) {
    return weighted_sum(to_double(bn.forward(tensor(shape, xx), Mode::train)), dy);
  };
  const Vec fd = finite_diff(loss, x, 1e-3);
  bn.forward(tensor(shape, x), Mode::train);
  require_close_scaled(to_double(bn.backward(tensor(shape, dy))), fd, 2e-3, "diff_src vs finite differences");
}

TEST_CASE("batchnorm2d fuse_relu is batchnorm then relu in every mode", "[layer][batchnorm2d]") {
  for (const Dims& shape : {Dims{2, 3, 5, 4}, Dims{4, 20, 3, 3}, Dims{1, 16, 7, 5}})
    for (const auto layout : {tag::nchw, tag::nChw16c, tag::nChw8c, tag::nhwc}) {
      INFO(to_string(shape) << " layout " << static_cast<int>(layout));
      const int64_t N = shape[0], C = shape[1], H = shape[2], W = shape[3];
      const Vec x = random_vec(product(shape), C, -1.0, 2.0);  // non-zero channel means
      const Vec w = random_vec(C, C + 1, 0.5, 1.5), b = random_vec(C, C + 2),
                dy = random_vec(x.size(), C + 3);
      auto make = [&] {
        auto bn = std::make_unique<BatchNorm2d>("layer1.0.bn1",
                                                BatchNorm2d::Config{.channels = C, .fuse_relu = true});
        bn->weight.value.assign(to_float(w));
        bn->bias.value.assign(to_float(b));
        return bn;
      };
      auto src = [&](const Vec& v) {
        Tensor t(dnnl::memory::desc(shape, dt::f32, layout));
        t.assign(to_float(v));
        return t;
      };
      auto check_grads = [&](BatchNorm2d& bn, const Vec& dx, const Vec& dw, const Vec& db, const char* what) {
        INFO(what);
        const Tensor& d = bn.backward(tensor(shape, dy));
        REQUIRE(d.desc() == src(x).desc());
        require_close(to_double(d), dx, kRtol, kAtol, "diff_src");
        require_close(to_double(bn.weight.grad), dw, kRtol, kAtol, "diff_weight");
        require_close(to_double(bn.bias.grad), db, kRtol, kAtol, "diff_bias");
      };

      // Training: batch statistics, running averages as the unfused layer's.
      Vec y_ref, z, mean, var, dz, dx_ref, dw_ref, db_ref;
      bn_relu_forward(y_ref, z, mean, var, x, w, b, N, C, H, W);
      ref::relu_backward(dz, dy, z);
      ref::batchnorm2d_backward(dx_ref, dw_ref, db_ref, dz, x, w, mean, var, N, C, H, W, kEps);
      auto bn = make();
      REQUIRE(bn->config().fuse_relu);
      const Tensor& y = bn->forward(src(x), Mode::train);
      // Under ONEDNN_MAX_CPU_ISA=SSE41 (CTest fast/batchnorm2d-sse41) oneDNN 2.6 has the fused training norm
      // of 16 channels in nChw8c only as its reference implementation and the plain one as JIT: the layer
      // runs the norm and a separate ReLU there, held to the same function by every check of this test.
      const char* cap = std::getenv("ONEDNN_MAX_CPU_ISA");
      if (cap && std::string_view(cap) == "SSE41" && layout == tag::nChw8c && C == 16)
        CHECK(!bn->relu_fused());
      REQUIRE(y.desc() == src(x).desc());
      require_close(to_double(y), y_ref, kRtol, kAtol, "dst (train)");
      check_grads(*bn, dx_ref, dw_ref, db_ref, "train");
      Vec running_mean(C, 0.0), running_var(C, 1.0);
      ref::batchnorm2d_update_running(running_mean, running_var, mean, var, N * H * W, 0.1);
      require_close(to_double(bn->running_mean), running_mean, 1e-5, 1e-6, "running_mean");
      require_close(to_double(bn->running_var), running_var, 1e-5, 1e-6, "running_var");

      // Eval: the running statistics, then relu.
      const Vec x2 = random_vec(product(shape), C + 4, -1.0, 2.0);
      Vec e, y_eval;
      ref::batchnorm2d_forward_eval(e, x2, w, b, running_mean, running_var, N, C, H, W, kEps);
      ref::relu_forward(y_eval, e);
      require_close(to_double(bn->forward(src(x2), Mode::eval)), y_eval, kRtol, kAtol, "dst (eval)");

      // Frozen statistics: the eval function with a backward; dy passes where bn(x) > 0, times the gain.
      bn->freeze_stats(true);
      require_close(to_double(bn->forward(src(x2), Mode::train)), y_eval, kRtol, kAtol, "dst (frozen)");
      Vec dx_frozen(x2.size()), dw_frozen(C, 0.0), db_frozen(C, 0.0);
      for (size_t i = 0; i < x2.size(); ++i) {
        const size_t c = (i / static_cast<size_t>(H * W)) % static_cast<size_t>(C);
        const double inv_std = 1 / std::sqrt(running_var[c] + kEps);
        const double g = e[i] > 0 ? dy[i] : 0.0;
        dx_frozen[i] = g * w[c] * inv_std;
        dw_frozen[c] += g * (x2[i] - running_mean[c]) * inv_std;
        db_frozen[c] += g;
      }
      check_grads(*bn, dx_frozen, dw_frozen, db_frozen, "frozen");
      bn->freeze_stats(false);

      // Synced statistics in a world of one: the training function.
      auto synced = make();
      synced->sync_stats(true);
      require_close(to_double(synced->forward(src(x), Mode::train)), y_ref, kRtol, kAtol, "dst (synced)");
      check_grads(*synced, dx_ref, dw_ref, db_ref, "synced");

      // Unfrozen again: batch statistics and the running averages' update, on a new batch.
      const Vec x3 = random_vec(product(shape), C + 5, -1.0, 2.0);
      Vec y3, z3, m3, v3, dz3, dx3, dw3, db3;
      bn_relu_forward(y3, z3, m3, v3, x3, w, b, N, C, H, W);
      ref::relu_backward(dz3, dy, z3);
      ref::batchnorm2d_backward(dx3, dw3, db3, dz3, x3, w, m3, v3, N, C, H, W, kEps);
      require_close(to_double(bn->forward(src(x3), Mode::train)), y3, kRtol, kAtol, "dst (unfrozen)");
      check_grads(*bn, dx3, dw3, db3, "unfrozen");
      REQUIRE(bn->num_batches_tracked == 2);
    }
}
