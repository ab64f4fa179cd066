// LayerNorm: reference vs finite differences, oneDNN vs reference (eps 1e-5/1e-6, large mean offset),
// layouts, rebuilds, bad input.
#include <catch2/catch.hpp>

#include "models/layers/layernorm.hpp"
#include "tests/reference/layernorm.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

namespace {

struct Expected {
  Vec y, dx, dw, db;
};

Expected reference(const Vec& x, const Vec& w, const Vec& b, const Vec& dy, int64_t M, int64_t C,
                   double eps) {
  Expected e{Vec(M * C), Vec(M * C), Vec(C), Vec(C)};
  Vec mean(M), rstd(M);
  ref::layernorm_forward(e.y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), M, C, eps);
  ref::layernorm_backward(e.dx.data(), e.dw.data(), e.db.data(), dy.data(), x.data(), w.data(), mean.data(),
                          rstd.data(), M, C);
  return e;
}

// Runs forward + backward of `ln` on src (values x, given desc) and compares everything with the reference.
void check_layer(LayerNorm& ln, const dnnl::memory::desc& src_md, const Vec& x_in, uint64_t seed, double rtol,
                 double atol) {
  const Dims shape = src_md.dims();
  const int64_t C = shape.back(), M = product(shape) / C;
  const Vec x = to_double(to_float(x_in));  // what the f32 tensor holds
  const Vec w = random_vec(C, seed + 1, 0.5, 1.5), b = random_vec(C, seed + 2),
            dy = random_vec(M * C, seed + 3);
  ln.weight().value.assign(to_float(w));
  ln.bias().value.assign(to_float(b));
  const auto e = reference(x, w, b, dy, M, C, ln.config().eps);
  Tensor src(src_md);
  src.assign(to_float(x));
  const Tensor& y = ln.forward(src, Mode::train);
  REQUIRE(y.desc() == src_md);
  require_close(to_double(y), e.y, rtol, atol, "dst");
  const Tensor& dx = ln.backward(tensor(shape, dy));
  REQUIRE(dx.desc() == src_md);
  require_close(to_double(dx), e.dx, rtol, atol, "diff_src");
  // weight/bias grads sum M rows of O(1) terms.
  require_close(to_double(ln.weight().grad), e.dw, rtol, atol * M, "diff_weight");
  require_close(to_double(ln.bias().grad), e.db, rtol, atol * M, "diff_bias");
}

}  // namespace

TEST_CASE("layernorm reference backward matches finite differences", "[layer][layernorm]") {
  const int64_t M = 3, C = 6;
  const double eps = 1e-5;
  const Vec x = random_vec(M * C, 1, -2, 2), w = random_vec(C, 2, 0.5, 1.5), b = random_vec(C, 3),
            dy = random_vec(M * C, 4);
  Vec mean(M), rstd(M), dx(M * C), dw(C), db(C);
  Vec y(M * C);
  ref::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), M, C, eps);
  ref::layernorm_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), mean.data(),
                          rstd.data(), M, C);
  auto loss = [&](const Vec& xx, const Vec& ww, const Vec& bb) {
    Vec yy(M * C), mm(M), rr(M);
    ref::layernorm_forward(yy.data(), mm.data(), rr.data(), xx.data(), ww.data(), bb.data(), M, C, eps);
    return weighted_sum(yy, dy);
  };
  require_gradient_matches_fd([&](const Vec& v) { return loss(v, w, b); }, x, dx, "dx");
  require_gradient_matches_fd([&](const Vec& v) { return loss(x, v, b); }, w, dw, "dw");
  require_gradient_matches_fd([&](const Vec& v) { return loss(x, w, v); }, b, db, "db");
}

TEST_CASE("layernorm forward and backward match the reference", "[layer][layernorm]") {
  // Normalised values are O(1); f32 sums over <= 384 elements: errors ~1e-6.
  struct Case {
    Dims shape;
    float eps;
  };
  auto c = GENERATE(Case{{3, 8}, 1e-5f}, Case{{2, 5, 16}, 1e-6f}, Case{{2, 3, 4, 7}, 1e-5f},
                    Case{{2, 7, 384}, 1e-6f}, Case{{4, 1, 3}, 1e-6f}, Case{{64, 16, 12}, 1e-5f},
                    Case{{3, 5, LayerNorm::kHostBackwardMaxDim}, 1e-6f},
                    Case{{3, 5, LayerNorm::kHostBackwardMaxDim + 1}, 1e-6f});
  INFO("src " << to_string(c.shape) << " eps " << c.eps);
  LayerNorm ln("blocks.0.norm1", {c.shape.back(), c.eps});
  check_layer(ln, plain_desc(c.shape), random_vec(product(c.shape), 10, -2, 3), 10, 1e-5, 2e-5);
  // Both backward paths are checked: the host loop up to kHostBackwardMaxDim, oneDNN's above it.
  REQUIRE(ln.host_backward() == (c.shape.back() <= LayerNorm::kHostBackwardMaxDim));
}

TEST_CASE("layernorm is stable for inputs with a large mean", "[layer][layernorm]") {
  // x = 100 + U(-1, 1): a one-pass E[x^2] - mean^2 in f32 would lose ~3 digits of the variance (1e-3 errors);
  // oneDNN's result must stay within 1e-4 of the double reference on the same f32 inputs.
  const Dims shape{4, 9, 64};
  for (float eps : {1e-5f, 1e-6f}) {
    INFO("eps " << eps);
    LayerNorm ln("norm", {64, eps});
    Vec x = random_vec(product(shape), 20);
    for (auto& v : x) v += 100.0;
    check_layer(ln, plain_desc(shape), x, 20, 1e-4, 1e-4);
  }
}

TEST_CASE("layernorm takes the layout of its input and rebuilds for new shapes", "[layer][layernorm]") {
  LayerNorm ln("tnt.norm", {12});
  uint64_t seed = 30;
  for (const auto& md : {plain_desc({2, 3, 12}), dnnl::memory::desc({2, 3, 12}, dt::f32, tag::acb),
                         plain_desc({5, 12}), plain_desc({2, 2, 3, 12}), plain_desc({2, 3, 12})}) {
    INFO("src " << to_string(md.dims()));
    seed += 10;
    check_layer(ln, md, random_vec(product(md.dims()), seed, -2, 2), seed, 1e-5, 2e-5);
  }
}

TEST_CASE("layernorm eval forward matches train forward and forbids backward", "[layer][layernorm]") {
  LayerNorm ln("norm", {10});
  ln.weight().value.assign(to_float(random_vec(10, 41)));
  const Tensor src = tensor({3, 10}, random_vec(30, 42, -2, 2));
  const auto y_train = to_double(ln.forward(src, Mode::train));
  const auto y_eval = to_double(ln.forward(src, Mode::eval));
  require_close(y_eval, y_train, 1e-6, 1e-6, "eval vs train dst");
  REQUIRE_THROWS_WITH(ln.backward(Tensor({3, 10})), Catch::Contains("norm"));
}

TEST_CASE("layernorm refuses bad input and misuse", "[layer][layernorm]") {
  const auto name = Catch::Contains("blocks.3.norm2");
  REQUIRE_THROWS_WITH(LayerNorm("blocks.3.norm2", {0}), name);
  REQUIRE_THROWS_WITH(LayerNorm("blocks.3.norm2", {8, -1.0f}), name);
  REQUIRE_THROWS_WITH(LayerNorm("blocks.3.norm2", {8, 1e-6f, DType::bf16}), name && Catch::Contains("bf16"));
  LayerNorm ln("blocks.3.norm2", {8});
  REQUIRE(ln.weight().value.to_vector() == std::vector<float>(8, 1.0f));
  REQUIRE(ln.bias().value.to_vector() == std::vector<float>(8, 0.0f));
  REQUIRE_FALSE(ln.weight().decay);
  REQUIRE_FALSE(ln.bias().decay);
  REQUIRE_THROWS_AS(ln.backward(Tensor({2, 8})), std::logic_error);
  REQUIRE_THROWS_WITH(ln.forward(Tensor({2, 7}), Mode::train), name && Catch::Contains("[2, 7]"));
  REQUIRE_THROWS_WITH(ln.forward(Tensor({8}), Mode::train), name);
  REQUIRE_THROWS_WITH(ln.forward(Tensor({1, 1, 1, 2, 8}), Mode::train), name);
  REQUIRE_THROWS_WITH(ln.forward(Tensor(), Mode::train), name);
  REQUIRE_THROWS_WITH(ln.forward(Tensor({2, 8}, DType::bf16), Mode::train), name);
  ln.forward(Tensor({2, 8}), Mode::train);
  REQUIRE_THROWS_WITH(ln.backward(Tensor({2, 9})), name && Catch::Contains("[2, 9]"));
  REQUIRE_NOTHROW(ln.backward(Tensor({2, 8})));
}
