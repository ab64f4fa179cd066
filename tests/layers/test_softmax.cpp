// Softmax over the last axis: reference vs finite differences, oneDNN vs reference (incl. large logits and a
// non-plain layout), non-zero weighted gradient, bad input.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "models/layers/softmax.hpp"
#include "tests/reference/softmax.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

namespace {

struct Result {
  Vec y, dx;
};

// Forward + backward of `sm` on src of desc `md` with values x; compares with the reference and returns it.
Result check_layer(Softmax& sm, const dnnl::memory::desc& md, const Vec& x, uint64_t seed) {
  // Probabilities in (0, 1], exp in f32 ~1e-7 relative; rows of <= 197 terms.
  const double rtol = 1e-5, atol = 1e-6;
  const Dims shape = md.dims();
  const int64_t L = shape.back(), M = product(shape) / L;
  const Vec xf = to_double(to_float(x)), dy = random_vec(M * L, seed);
  Result r{Vec(M * L), Vec(M * L)};
  ref::softmax_forward(r.y.data(), xf.data(), M, L);
  ref::softmax_backward(r.dx.data(), dy.data(), r.y.data(), M, L);
  Tensor src(md);
  src.assign(to_float(xf));
  const Tensor& dst = sm.forward(src, Mode::train);
  REQUIRE(dst.desc() == md);
  require_close(to_double(dst), r.y, rtol, atol, "dst");
  const Tensor& diff_src = sm.backward(tensor(shape, dy));
  REQUIRE(diff_src.desc() == md);
  require_close(to_double(diff_src), r.dx, rtol, atol, "diff_src");
  return r;
}

}  // namespace

TEST_CASE("softmax reference backward matches finite differences", "[layer][softmax]") {
  const int64_t M = 3, L = 6;
  const Vec x = random_vec(M * L, 1, -3, 3), dy = random_vec(M * L, 2);
  Vec y(M * L), dx(M * L);
  ref::softmax_forward(y.data(), x.data(), M, L);
  ref::softmax_backward(dx.data(), dy.data(), y.data(), M, L);
  auto loss = [&](const Vec& v, const Vec& w) {
    Vec yy(M * L);
    ref::softmax_forward(yy.data(), v.data(), M, L);
    return weighted_sum(yy, w);
  };
  require_gradient_matches_fd([&](const Vec& v) { return loss(v, dy); }, x, dx, "dx");
  // With a plain sum (all weights 1) every row of softmax sums to 1, so the loss is constant and its gradient
  // is exactly zero: a check using it could not fail. The random weights give a clearly non-zero gradient.
  REQUIRE(max_abs(dx) > 0.05);
  Vec ones(M * L, 1.0), dx_sum(M * L);
  ref::softmax_backward(dx_sum.data(), ones.data(), y.data(), M, L);
  REQUIRE(max_abs(dx_sum) < 1e-12);
}

TEST_CASE("softmax forward and backward match the reference", "[layer][softmax]") {
  Softmax sm("blocks.0.attn.softmax");
  uint64_t seed = 10;
  // Shapes change between iterations: the layer rebuilds each time.
  for (const Dims& shape : {Dims{5}, Dims{3, 7}, Dims{2, 3, 5, 5}, Dims{2, 6, 17, 17}, Dims{1, 197}}) {
    INFO("src " << to_string(shape));
    seed += 10;
    const auto r = check_layer(sm, plain_desc(shape), random_vec(product(shape), seed, -5, 5), seed + 1);
    REQUIRE(max_abs(r.dx) > 1e-3);  // the weighted loss has a non-zero gradient (see the reference test)
  }
}

TEST_CASE("softmax is stable for large logits and keeps a non-plain layout", "[layer][softmax]") {
  Softmax sm("attn.softmax");
  Vec x = random_vec(2 * 3 * 4 * 9, 20, -10, 10);
  for (auto& v : x) v += 80.0;  // exp(90) overflows f32 without subtracting the row max
  check_layer(sm, plain_desc({2, 3, 4, 9}), x, 21);
  // Last axis not contiguous.
  check_layer(sm, dnnl::memory::desc({2, 3, 4, 9}, dt::f32, tag::abdc), random_vec(216, 22, -5, 5), 23);
}

TEST_CASE("softmax refuses bad input and misuse", "[layer][softmax]") {
  const auto name = Catch::Contains("blocks.2.attn.softmax");
  Softmax sm("blocks.2.attn.softmax");
  REQUIRE_THROWS_AS(sm.backward(Tensor({2, 3})), std::logic_error);
  REQUIRE_THROWS_WITH(sm.forward(Tensor(), Mode::train), name);
  REQUIRE_THROWS_WITH(sm.forward(Tensor({2, 3}, DType::bf16), Mode::train), name && Catch::Contains("bf16"));
  REQUIRE_THROWS_WITH(sm.forward(Tensor({1, 1, 1, 1, 1, 2, 2}), Mode::train), name);
  sm.forward(Tensor({2, 3}), Mode::eval);
  REQUIRE_THROWS_WITH(sm.backward(Tensor({2, 3})), name);
  sm.forward(Tensor({2, 3}), Mode::train);
  REQUIRE_THROWS_WITH(sm.backward(Tensor({2, 4})), name && Catch::Contains("[2, 4]"));
  REQUIRE_NOTHROW(sm.backward(Tensor({2, 3})));
}
