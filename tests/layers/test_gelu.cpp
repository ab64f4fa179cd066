// GELU (erf): reference vs finite differences, oneDNN vs reference in plain and blocked layouts, bad input.
#include <catch2/catch.hpp>

#include "models/layers/gelu.hpp"
#include "tests/reference/gelu.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

namespace {

// Forward + backward on src of desc `md` (values x), diff_dst of desc `diff_md`, compared with the reference.
void check_layer(GELU& gelu, const dnnl::memory::desc& md, const dnnl::memory::desc& diff_md, uint64_t seed) {
  // oneDNN evaluates erf with a polynomial in f32: ~1e-6 relative; 1e-5 leaves margin.
  const double rtol = 1e-5, atol = 1e-6;
  const int64_t n = product(md.dims());
  const Vec x = random_vec(n, seed, -6, 6), dy = random_vec(n, seed + 1);
  Vec y(n), dx(n);
  ref::gelu_forward(y.data(), x.data(), n);
  ref::gelu_backward(dx.data(), dy.data(), x.data(), n);
  Tensor src(md), diff_dst(diff_md);
  src.assign(to_float(x));
  diff_dst.assign(to_float(dy));
  const Tensor& dst = gelu.forward(src, Mode::train);
  REQUIRE(dst.desc() == md);
  require_close(to_double(dst), y, rtol, atol, "dst");
  const Tensor& diff_src = gelu.backward(diff_dst);
  REQUIRE(diff_src.desc() == md);
  require_close(to_double(diff_src), dx, rtol, atol, "diff_src");
}

}  // namespace

TEST_CASE("gelu reference backward matches finite differences", "[layer][gelu]") {
  const int64_t n = 40;
  const Vec x = random_vec(n, 1, -4, 4), dy = random_vec(n, 2);
  Vec dx(n);
  ref::gelu_backward(dx.data(), dy.data(), x.data(), n);
  require_gradient_matches_fd(
      [&](const Vec& v) {
        Vec y(n);
        ref::gelu_forward(y.data(), v.data(), n);
        return weighted_sum(y, dy);
      },
      x, dx, "dx");
  // Sanity of the formula itself: GELU(0) = 0, GELU(x) -> x for large x, GELU'(0) = 1/2.
  double y0, y8, d0, one = 1, zero = 0, eight = 8;
  ref::gelu_forward(&y0, &zero, 1);
  ref::gelu_forward(&y8, &eight, 1);
  ref::gelu_backward(&d0, &one, &zero, 1);
  REQUIRE(y0 == 0);
  REQUIRE(y8 == Approx(8).epsilon(1e-12));
  REQUIRE(d0 == Approx(0.5));
}

TEST_CASE("gelu forward and backward match the reference", "[layer][gelu]") {
  GELU gelu("blocks.0.mlp.act");
  uint64_t seed = 10;
  // Shapes change between iterations: the layer rebuilds each time (and once goes back to an earlier shape).
  for (const Dims& shape : {Dims{7}, Dims{3, 5}, Dims{2, 9, 48}, Dims{2, 3, 4, 5}, Dims{3, 5}}) {
    INFO("src " << to_string(shape));
    check_layer(gelu, plain_desc(shape), plain_desc(shape), seed += 10);
  }
}

TEST_CASE("gelu keeps a blocked layout and converts diff_dst to it", "[layer][gelu]") {
  GELU gelu("act");
  const dnnl::memory::desc blocked({2, 16, 3, 3}, dt::f32, tag::nChw16c), plain = plain_desc({2, 16, 3, 3});
  check_layer(gelu, blocked, plain, 30);    // diff_dst plain, src blocked
  check_layer(gelu, blocked, blocked, 40);  // both blocked
  check_layer(gelu, plain, blocked, 50);    // src plain, diff_dst blocked
}

TEST_CASE("gelu refuses bad input and misuse", "[layer][gelu]") {
  const auto name = Catch::Contains("blocks.5.mlp.act");
  GELU gelu("blocks.5.mlp.act");
  REQUIRE_THROWS_AS(gelu.backward(Tensor({2, 3})), std::logic_error);
  REQUIRE_THROWS_WITH(gelu.forward(Tensor(), Mode::train), name);
  REQUIRE_THROWS_WITH(gelu.forward(Tensor({2, 3}, DType::bf16), Mode::train),
                      name && Catch::Contains("bf16"));
  REQUIRE_THROWS_WITH(gelu.forward(Tensor({1, 1, 1, 1, 1, 2, 2}), Mode::train), name);
  gelu.forward(Tensor({2, 3}), Mode::eval);
  REQUIRE_THROWS_WITH(gelu.backward(Tensor({2, 3})), name);
  gelu.forward(Tensor({2, 3}), Mode::train);
  REQUIRE_THROWS_WITH(gelu.backward(Tensor({3, 2})), name && Catch::Contains("[3, 2]"));
  REQUIRE_THROWS_WITH(gelu.backward(Tensor({2, 3}, DType::bf16)), name);
  REQUIRE_NOTHROW(gelu.backward(Tensor({2, 3})));
}
