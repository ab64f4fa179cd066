// MaxPool2d: reference vs finite differences, oneDNN vs reference (plain and blocked, train and eval),
// rebuilds, bad configs and inputs. Inputs are distinct values 0.01 apart, so no window has a tie.
#include <algorithm>
#include <catch2/catch.hpp>

#include "models/layers/maxpool2d.hpp"
#include "tests/reference/maxpool2d.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

namespace {

// A random permutation of (i - n/2) * 0.01, rounded to f32: no ties, so max and its gradient are well
// defined, and the forward can be compared exactly.
Vec distinct_values(size_t n, uint64_t seed) {
  std::vector<std::pair<float, size_t>> keys(n);
  for (size_t i = 0; i < n; ++i) keys[i] = {rng::uniform(seed, i), i};
  std::sort(keys.begin(), keys.end());
  Vec v(n);
  for (size_t j = 0; j < n; ++j) v[keys[j].second] = (static_cast<double>(j) - n / 2.0) * 0.01;
  return to_double(to_float(v));
}

struct Shape {
  int64_t N, C, H, W, k, stride, pad;
};

std::string describe(const Shape& s) {
  return fmt::format("N{} C{} H{} W{} k{} stride{} pad{}", s.N, s.C, s.H, s.W, s.k, s.stride, s.pad);
}

const Shape kShapes[] = {
    {2, 3, 8, 8, 3, 2, 1},   // ResNet stem pool
    {1, 2, 7, 9, 3, 2, 1},   // odd sizes
    {2, 3, 6, 5, 2, 2, 0},   // 2x2 stride 2, floor drops the last column
    {1, 4, 5, 5, 3, 1, 1},   // overlapping windows, stride 1
    {1, 2, 9, 7, 5, 3, 2},   // 5x5 window, padding 2
    {2, 20, 7, 7, 3, 2, 0},  // 20 channels: blocked tail
};

}  // namespace

TEST_CASE("maxpool2d reference backward matches finite differences", "[layer][maxpool2d]") {
  for (const Shape& s : {Shape{1, 2, 7, 6, 3, 2, 1}, Shape{2, 1, 5, 5, 3, 1, 1}}) {
    INFO(describe(s));
    const Vec x = distinct_values(s.N * s.C * s.H * s.W, 1);
    const int64_t Ho = ref::maxpool2d_out_size(s.H, s.k, s.stride, s.pad);
    const int64_t Wo = ref::maxpool2d_out_size(s.W, s.k, s.stride, s.pad);
    const Vec dy = random_vec(s.N * s.C * Ho * Wo, 2);
    Vec dx;
    ref::maxpool2d_backward(dx, dy, x, s.N, s.C, s.H, s.W, s.k, s.stride, s.pad);
    require_gradient_matches_fd(
        [&](const Vec& v) {
          Vec y;
          ref::maxpool2d_forward(y, v, s.N, s.C, s.H, s.W, s.k, s.stride, s.pad);
          return weighted_sum(y, dy);
        },
        x, dx, "dinp");
  }
}

TEST_CASE("maxpool2d forward and backward match the reference", "[layer][maxpool2d]") {
  uint64_t seed = 10;
  for (const Shape& s : kShapes)
    for (const auto layout : {tag::nchw, tag::nChw16c}) {
      INFO(describe(s) << " layout " << static_cast<int>(layout));
      const Dims shape{s.N, s.C, s.H, s.W};
      const Vec x = distinct_values(product(shape), ++seed);
      const int64_t Ho = ref::maxpool2d_out_size(s.H, s.k, s.stride, s.pad);
      const int64_t Wo = ref::maxpool2d_out_size(s.W, s.k, s.stride, s.pad);
      Vec y_ref, dx_ref;
      ref::maxpool2d_forward(y_ref, x, s.N, s.C, s.H, s.W, s.k, s.stride, s.pad);
      const Vec dy = random_vec(y_ref.size(), ++seed);
      ref::maxpool2d_backward(dx_ref, dy, x, s.N, s.C, s.H, s.W, s.k, s.stride, s.pad);

      MaxPool2d pool("maxpool", {.kernel = s.k, .stride = s.stride, .padding = s.pad});
      Tensor src(dnnl::memory::desc(shape, dt::f32, layout));
      src.assign(to_float(x));
      // Eval first (no workspace), then train: both pick the max exactly.
      require_close(to_double(pool.forward(src, Mode::eval)), y_ref, 0, 0, "dst (eval)");
      const Tensor& y = pool.forward(src, Mode::train);
      REQUIRE(y.shape() == Dims{s.N, s.C, Ho, Wo});
      require_close(to_double(y), y_ref, 0, 0, "dst (train)");
      const Tensor& dx = pool.backward(tensor(y.shape(), dy));
      REQUIRE(dx.desc() == src.desc());
      // Overlapping windows add up to k*k/stride^2 f32 values of magnitude < 1.
      require_close(to_double(dx), dx_ref, 1e-6, 1e-6, "diff_src");
    }
}

TEST_CASE("maxpool2d rebuilds for a new shape", "[layer][maxpool2d]") {
  MaxPool2d pool("maxpool", {.kernel = 3, .stride = 2, .padding = 1});
  for (const Dims& shape : {Dims{2, 3, 8, 8}, Dims{1, 5, 11, 6}, Dims{2, 3, 8, 8}}) {
    INFO(to_string(shape));
    const Vec x = distinct_values(product(shape), shape[1]);
    Vec y_ref, dx_ref;
    ref::maxpool2d_forward(y_ref, x, shape[0], shape[1], shape[2], shape[3], 3, 2, 1);
    const Vec dy = random_vec(y_ref.size(), 7);
    ref::maxpool2d_backward(dx_ref, dy, x, shape[0], shape[1], shape[2], shape[3], 3, 2, 1);
    const Tensor& y = pool.forward(tensor(shape, x), Mode::train);
    require_close(to_double(y), y_ref, 0, 0, "dst");
    require_close(to_double(pool.backward(tensor(y.shape(), dy))), dx_ref, 1e-6, 1e-6, "diff_src");
  }
}

TEST_CASE("maxpool2d refuses bad configs and inputs with its name", "[layer][maxpool2d]") {
  using C = MaxPool2d::Config;
  REQUIRE_THROWS_WITH(MaxPool2d("maxpool", C{.kernel = 0, .stride = 1}),
                      Catch::Contains("maxpool") && Catch::Contains("kernel"));
  REQUIRE_THROWS_WITH(MaxPool2d("maxpool", C{.kernel = 3, .stride = 0}),
                      Catch::Contains("maxpool") && Catch::Contains("stride"));
  REQUIRE_THROWS_WITH(MaxPool2d("maxpool", C{.kernel = 3, .stride = 2, .padding = 2}),
                      Catch::Contains("maxpool") && Catch::Contains("padding"));
  MaxPool2d pool("maxpool", {.kernel = 3, .stride = 2, .padding = 1});
  REQUIRE_THROWS_AS(pool.backward(Tensor({1, 2, 2, 2})), std::logic_error);
  REQUIRE_THROWS_WITH(pool.forward(Tensor({2, 4, 4}), Mode::train), Catch::Contains("maxpool"));
  REQUIRE_THROWS_WITH(pool.forward(Tensor(), Mode::train), Catch::Contains("maxpool"));
  REQUIRE_NOTHROW(pool.forward(Tensor({1, 2, 1, 4}), Mode::train));  // 1 + 2 * padding >= kernel
  MaxPool2d unpadded("maxpool", {.kernel = 3, .stride = 2});
  REQUIRE_THROWS_WITH(unpadded.forward(Tensor({1, 2, 2, 4}), Mode::train),
                      Catch::Contains("maxpool") && Catch::Contains("smaller than the kernel"));
  REQUIRE_THROWS_WITH(pool.forward(Tensor({1, 2, 4, 4}, DType::bf16), Mode::train),
                      Catch::Contains("maxpool"));
  pool.forward(Tensor({1, 2, 4, 4}), Mode::eval);
  REQUIRE_THROWS_AS(pool.backward(Tensor({1, 2, 2, 2})), std::logic_error);
  pool.forward(Tensor({1, 2, 4, 4}), Mode::train);
  REQUIRE_THROWS_WITH(pool.backward(Tensor({1, 2, 3, 2})),
                      Catch::Contains("maxpool") && Catch::Contains("[1, 2, 2, 2]"));
  REQUIRE_NOTHROW(pool.backward(Tensor({1, 2, 2, 2})));
}
