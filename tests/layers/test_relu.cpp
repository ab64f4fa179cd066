// ReLU: reference vs finite differences, oneDNN vs reference on plain and blocked inputs, rebuilds, bad
// inputs.
#include <catch2/catch.hpp>

#include "models/layers/relu.hpp"
#include "tests/reference/relu.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

namespace {

// Values with |x| in [0.05, 1): away from the kink at 0, both signs; exactly representable in f32 so that
// the oneDNN results can be compared exactly.
Vec away_from_zero(size_t n, uint64_t seed) {
  Vec v = random_vec(n, seed, 0.05, 1.0);
  for (size_t i = 0; i < n; ++i)
    if (rng::uniform(seed + 1000, i) < 0.5f) v[i] = -v[i];
  return to_double(to_float(v));
}

}  // namespace

TEST_CASE("relu reference backward matches finite differences", "[layer][relu]") {
  const Vec x = away_from_zero(60, 1), dy = random_vec(60, 2);
  Vec dx;
  ref::relu_backward(dx, dy, x);
  require_gradient_matches_fd(
      [&](const Vec& v) {
        Vec y;
        ref::relu_forward(y, v);
        return weighted_sum(y, dy);
      },
      x, dx, "dinp");
}

TEST_CASE("relu forward and backward match the reference in plain and blocked layouts", "[layer][relu]") {
  const Dims shape{2, 20, 5, 3};  // 20 channels: the blocked layout has a padded tail block
  const size_t n = product(shape);
  const Vec x = away_from_zero(n, 3), dy = random_vec(n, 4);
  Vec y_ref, dx_ref;
  ref::relu_forward(y_ref, x);
  ref::relu_backward(dx_ref, dy, x);
  for (const auto layout : {tag::nchw, tag::nChw16c, tag::nhwc}) {
    INFO("layout " << static_cast<int>(layout));
    ReLU relu("layer1.0.relu");
    Tensor src(dnnl::memory::desc(shape, dt::f32, layout));
    src.assign(to_float(x));
    const Tensor& y = relu.forward(src, Mode::train);
    REQUIRE(y.desc() == src.desc());                  // memory-bound: takes its input's layout
    require_close(to_double(y), y_ref, 0, 0, "dst");  // exact: a select
    // diff_dst arrives plain; diff_src comes back in src's layout.
    const Tensor& dx = relu.backward(tensor(shape, dy));
    REQUIRE(dx.desc() == src.desc());
    require_close(to_double(dx), dx_ref, 0, 0, "diff_src");
  }
}

TEST_CASE("relu rebuilds for a new shape", "[layer][relu]") {
  ReLU relu("relu");
  for (const Dims& shape : {Dims{2, 3, 4, 4}, Dims{5, 7}, Dims{2, 3, 4, 4}}) {
    const size_t n = product(shape);
    const Vec x = away_from_zero(n, n), dy = random_vec(n, n + 1);
    Vec y_ref, dx_ref;
    ref::relu_forward(y_ref, x);
    ref::relu_backward(dx_ref, dy, x);
    require_close(to_double(relu.forward(tensor(shape, x), Mode::train)), y_ref, 0, 0, "dst");
    require_close(to_double(relu.backward(tensor(shape, dy))), dx_ref, 0, 0, "diff_src");
  }
}

TEST_CASE("relu refuses bad inputs with its name", "[layer][relu]") {
  ReLU relu("layer2.1.relu");
  REQUIRE_THROWS_AS(relu.backward(Tensor({2, 3})), std::logic_error);
  REQUIRE_THROWS_WITH(relu.backward(Tensor({2, 3})), Catch::Contains("layer2.1.relu"));
  REQUIRE_THROWS_WITH(relu.forward(Tensor(), Mode::train), Catch::Contains("layer2.1.relu"));
  REQUIRE_THROWS_WITH(relu.forward(Tensor({2, 3}, DType::bf16), Mode::train),
                      Catch::Contains("layer2.1.relu"));
  relu.forward(Tensor({2, 3}), Mode::eval);
  REQUIRE_THROWS_AS(relu.backward(Tensor({2, 3})), std::logic_error);
  relu.forward(Tensor({2, 3}), Mode::train);
  REQUIRE_THROWS_WITH(relu.backward(Tensor({3, 2})),
                      Catch::Contains("layer2.1.relu") && Catch::Contains("[2, 3]"));
}
