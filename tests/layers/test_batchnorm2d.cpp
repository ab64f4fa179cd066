// BatchNorm2d: reference vs finite differences, oneDNN training forward/backward vs reference, running
// statistics (unbiased variance) after two steps, eval forward, rebuilds, bad inputs; and a
// conv -> bn -> relu -> conv chain in oneDNN's blocked layout with no reorder between the memory-bound ops.
#include <catch2/catch.hpp>

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
    for (const auto layout : {tag::nchw, tag::nChw16c, tag::nhwc}) {
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
