// Dropout: reference vs finite differences, oneDNN vs a reference given the documented mask (plain and
// blocked), determinism in (seed, step), statistics of the mask, eval/p = 0 identity, bad input.
#include <catch2/catch.hpp>
#include <cmath>

#include "models/layers/dropout.hpp"
#include "tests/reference/dropout.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

TEST_CASE("dropout reference backward matches finite differences", "[layer][dropout]") {
  const int64_t n = 6;
  const Vec x = random_vec(n, 1), dy = random_vec(n, 2), mask{0.0, 1.25, 1.25, 0.0, 1.25, 1.25};
  Vec dx(n);
  ref::dropout_backward(dx.data(), dy.data(), mask.data(), n);
  require_gradient_matches_fd(
      [&](const Vec& v) {
        Vec y(n);
        ref::dropout_forward(y.data(), v.data(), mask.data(), n);
        return weighted_sum(y, dy);
      },
      x, dx, "dx");
}

TEST_CASE("dropout forward and backward match the reference given the mask", "[layer][dropout]") {
  // One f32 multiply by 1/(1-p) (itself rounded to f32): rtol 1e-6.
  const double rtol = 1e-6, atol = 0;
  struct Case {
    Dims shape;
    tag src_tag, dy_tag;
    float p;
  };
  auto c = GENERATE(Case{{3, 5, 7}, tag::abc, tag::abc, 0.1f},
                    Case{{2, 20, 3, 3}, tag::nChw16c, tag::abcd, 0.5f}, Case{{4, 6}, tag::ba, tag::ab, 0.3f});
  const int64_t n = product(c.shape);
  INFO("shape " << to_string(c.shape) << " p " << c.p);
  const uint64_t seed = 99;
  Dropout layer("blocks.1.attn.attn_drop", {c.p, seed});
  Tensor src(dnnl::memory::desc(c.shape, dt::f32, c.src_tag)),
      diff_dst(dnnl::memory::desc(c.shape, dt::f32, c.dy_tag));
  for (int64_t step = 0; step < 3; ++step) {
    INFO("step " << step);
    const Vec x = random_vec(n, 10 + step), dy = random_vec(n, 20 + step);
    Vec mask(n), y(n), dx(n);
    ref::dropout_mask(mask.data(), seed, step, c.p, n);
    ref::dropout_forward(y.data(), x.data(), mask.data(), n);
    ref::dropout_backward(dx.data(), dy.data(), mask.data(), n);
    src.assign(to_float(x));
    diff_dst.assign(to_float(dy));
    const Tensor& dst = layer.forward(src, Mode::train);
    REQUIRE(dst.desc() == src.desc());
    require_close(to_double(dst), y, rtol, atol, "dst");
    require_close(to_double(layer.mask()), mask, rtol, atol, "mask");
    const Tensor& diff_src = layer.backward(diff_dst);
    REQUIRE(diff_src.desc() == src.desc());
    require_close(to_double(diff_src), dx, rtol, atol, "diff_src");
  }
}

TEST_CASE("dropout masks are deterministic in (seed, step) and resumable", "[layer][dropout]") {
  const Dims shape{8, 16};
  const Tensor src = tensor(shape, random_vec(product(shape), 1, 0.5, 1.5));
  Dropout a("drop", {0.5f, 7}), b("drop", {0.5f, 7}), other_seed("drop", {0.5f, 8});
  std::vector<Vec> masks;
  for (int i = 0; i < 3; ++i) {
    const Vec ya = to_double(a.forward(src, Mode::train)), yb = to_double(b.forward(src, Mode::train));
    REQUIRE(ya == yb);
    masks.push_back(to_double(a.mask()));
    REQUIRE(to_double(other_seed.forward(src, Mode::train)) != ya);
  }
  REQUIRE(masks[0] != masks[1]);
  REQUIRE(masks[1] != masks[2]);
  Dropout resumed("drop", {0.5f, 7});
  resumed.set_step(2);
  resumed.forward(src, Mode::train);
  REQUIRE(to_double(resumed.mask()) == masks[2]);
  REQUIRE_THROWS_WITH(resumed.set_step(-3), Catch::Contains("drop"));
}

TEST_CASE("dropout keeps a fraction 1-p of the elements and preserves the expectation", "[layer][dropout]") {
  const float p = 0.25f;
  const Dims shape{200, 500};
  const int64_t n = product(shape);
  Dropout layer("drop", {p, 3});
  const Vec x = random_vec(n, 4, 0.5, 1.5);
  const Vec y = to_double(layer.forward(tensor(shape, x), Mode::train));
  double kept = 0, sum_x = 0, sum_y = 0, var_y = 0;
  int64_t bad = 0;  // elements neither dropped nor kept and scaled
  for (int64_t i = 0; i < n; ++i) {
    bad += !(y[i] == 0.0 || std::abs(y[i] - x[i] / (1.0 - p)) < 1e-6 * y[i]);
    kept += y[i] != 0.0;
    sum_x += x[i];
    sum_y += y[i];
    var_y += x[i] * x[i] * p / (1.0 - p);  // Var(x m) for the fixed x
  }
  REQUIRE(bad == 0);
  const double sigma = std::sqrt(p * (1.0 - p) / n);
  CHECK(std::abs(kept / n - (1.0 - p)) < 4 * sigma);
  CHECK(std::abs(sum_y - sum_x) < 4 * std::sqrt(var_y));
}

TEST_CASE("dropout is the identity in eval and with p = 0", "[layer][dropout]") {
  const Dims shape{4, 3, 5};
  const Vec x = random_vec(product(shape), 3), dy = random_vec(product(shape), 4);
  const Tensor src = tensor(shape, x);
  Dropout layer("drop", {0.5f, 1});
  REQUIRE(layer.forward(src, Mode::eval).mem().get_data_handle() == src.mem().get_data_handle());
  REQUIRE(layer.step() == 0);
  REQUIRE_THROWS_AS(layer.backward(tensor(shape, dy)), std::logic_error);

  Dropout off("drop", {0.f, 1});
  REQUIRE(off.forward(src, Mode::train).mem().get_data_handle() == src.mem().get_data_handle());
  REQUIRE(off.step() == 1);
  const Tensor diff_dst = tensor(shape, dy);
  REQUIRE(off.backward(diff_dst).mem().get_data_handle() == diff_dst.mem().get_data_handle());
  Tensor diff_other(dnnl::memory::desc(shape, dt::f32, tag::acb));
  diff_other.assign(to_float(dy));
  const Tensor& diff_src = off.backward(diff_other);
  REQUIRE(diff_src.desc() == src.desc());
  require_close(to_double(diff_src), dy, 0, 0, "diff_src");
}

TEST_CASE("dropout refuses bad input with its name", "[layer][dropout]") {
  REQUIRE_THROWS_WITH(Dropout("head_drop", {1.5f, 0}), Catch::Contains("head_drop"));
  Dropout layer("head_drop", {0.2f, 0});
  REQUIRE_THROWS_AS(layer.backward(Tensor({2, 3})), std::logic_error);
  REQUIRE_THROWS_WITH(layer.forward(Tensor({2, 3}, DType::bf16), Mode::train), Catch::Contains("head_drop"));
  layer.forward(Tensor({2, 3}), Mode::train);
  REQUIRE_THROWS_WITH(layer.backward(Tensor({2, 4})), Catch::Contains("head_drop"));
}
