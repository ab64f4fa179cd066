// TokenAdd: reference vs finite differences, oneDNN vs reference (incl. non-plain inputs and diff_dst, B = 1,
// N = 1), the input is not modified, rebuilds, bad input.
#include <catch2/catch.hpp>

#include "models/layers/token_add.hpp"
#include "tests/reference/token_add.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

TEST_CASE("token_add reference backward matches finite differences", "[layer][token_add]") {
  const int64_t B = 2, N = 3, D = 4;
  const Vec t = random_vec(B * (N + 1) * D, 1), x = random_vec(B * N * D, 2),
            dy = random_vec(B * (N + 1) * D, 3);
  Vec dtok(B * (N + 1) * D), dx(B * N * D);
  ref::token_add_backward(dtok.data(), dx.data(), dy.data(), B, N, D);
  auto loss = [&](const Vec& tt, const Vec& xx) {
    Vec y(B * (N + 1) * D);
    ref::token_add_forward(y.data(), tt.data(), xx.data(), B, N, D);
    return weighted_sum(y, dy);
  };
  require_gradient_matches_fd([&](const Vec& v) { return loss(v, x); }, t, dtok, "dtok");
  require_gradient_matches_fd([&](const Vec& v) { return loss(t, v); }, x, dx, "dx");
}

TEST_CASE("token_add forward and backward match the reference", "[layer][token_add]") {
  // One f32 addition per element (0.5 ulp) and exact copies: rtol 1e-6, atol 1e-7.
  struct Case {
    int64_t B, N, D;
    tag t_tag, x_tag, dy_tag;
  };
  auto c = GENERATE(Case{2, 5, 7, tag::abc, tag::abc, tag::abc}, Case{1, 4, 3, tag::abc, tag::abc, tag::abc},
                    Case{3, 1, 16, tag::abc, tag::abc, tag::abc}, Case{4, 6, 8, tag::acb, tag::bac, tag::bac},
                    Case{2, 3, 5, tag::abc, tag::acb, tag::acb});
  const int64_t B = c.B, N = c.N, D = c.D;
  INFO("B " << B << " N " << N << " D " << D);
  const Vec t = random_vec(B * (N + 1) * D, 21), x = random_vec(B * N * D, 22),
            dy = random_vec(B * (N + 1) * D, 23);
  Vec y(B * (N + 1) * D), dtok(B * (N + 1) * D), dx(B * N * D);
  ref::token_add_forward(y.data(), t.data(), x.data(), B, N, D);
  ref::token_add_backward(dtok.data(), dx.data(), dy.data(), B, N, D);

  TokenAdd layer("blocks.0.token_add", {D});
  Tensor tokens(dnnl::memory::desc({B, N + 1, D}, dt::f32, c.t_tag));
  tokens.assign(to_float(t));
  Tensor src(dnnl::memory::desc({B, N, D}, dt::f32, c.x_tag));
  src.assign(to_float(x));
  const Tensor& dst = layer.forward(tokens, src);
  REQUIRE(dst.shape() == Dims{B, N + 1, D});
  REQUIRE(dst.plain());
  require_close(to_double(dst), y, 1e-6, 1e-7, "dst");
  require_close(to_double(tokens), to_double(to_float(t)), 0, 0, "tokens unchanged");
  Tensor diff_dst(dnnl::memory::desc({B, N + 1, D}, dt::f32, c.dy_tag));
  diff_dst.assign(to_float(dy));
  const Tensor& diff_x = layer.backward(diff_dst);
  REQUIRE(diff_x.desc() == src.desc());
  REQUIRE(layer.diff_tokens().desc() == tokens.desc());
  require_close(to_double(diff_x), dx, 0, 0, "diff_x");
  require_close(to_double(layer.diff_tokens()), dtok, 0, 0, "diff_tokens");
}

TEST_CASE("token_add rebuilds for a new shape", "[layer][token_add]") {
  const int64_t D = 6;
  TokenAdd layer("token_add", {D});
  for (auto [B, N] : {std::pair<int64_t, int64_t>{2, 3}, {4, 9}, {1, 3}, {2, 3}}) {
    INFO("B " << B << " N " << N);
    const uint64_t s = B * 10 + N;
    const Vec t = random_vec(B * (N + 1) * D, s), x = random_vec(B * N * D, s + 1),
              dy = random_vec(B * (N + 1) * D, s + 2);
    Vec y(B * (N + 1) * D), dtok(B * (N + 1) * D), dx(B * N * D);
    ref::token_add_forward(y.data(), t.data(), x.data(), B, N, D);
    ref::token_add_backward(dtok.data(), dx.data(), dy.data(), B, N, D);
    require_close(to_double(layer.forward(tensor({B, N + 1, D}, t), tensor({B, N, D}, x))), y, 1e-6, 1e-7,
                  "dst");
    require_close(to_double(layer.backward(tensor({B, N + 1, D}, dy))), dx, 0, 0, "diff_x");
    require_close(to_double(layer.diff_tokens()), dtok, 0, 0, "diff_tokens");
  }
}

TEST_CASE("token_add refuses bad input with its name", "[layer][token_add]") {
  REQUIRE_THROWS_WITH(TokenAdd("blocks.1.token_add", {0}), Catch::Contains("blocks.1.token_add"));
  TokenAdd layer("blocks.1.token_add", {4});
  REQUIRE_THROWS_AS(layer.backward(Tensor({2, 4, 4})), std::logic_error);
  REQUIRE_THROWS_WITH(layer.forward(Tensor({2, 4, 4}), Tensor({2, 3, 5})),
                      Catch::Contains("blocks.1.token_add") && Catch::Contains("[2, 3, 5]"));
  REQUIRE_THROWS_WITH(layer.forward(Tensor({2, 3, 4}), Tensor({2, 3, 4})),
                      Catch::Contains("blocks.1.token_add") && Catch::Contains("[2, 3, 4]"));
  REQUIRE_THROWS_WITH(layer.forward(Tensor({2, 4, 4}), Tensor({6, 4})),
                      Catch::Contains("blocks.1.token_add"));
  REQUIRE_THROWS_WITH(layer.forward(Tensor({2, 4, 4}), Tensor({2, 3, 4}, DType::bf16)),
                      Catch::Contains("blocks.1.token_add"));
  layer.forward(Tensor({2, 4, 4}), Tensor({2, 3, 4}));
  REQUIRE_THROWS_WITH(layer.backward(Tensor({2, 3, 4})),
                      Catch::Contains("blocks.1.token_add") && Catch::Contains("[2, 3, 4]"));
}
