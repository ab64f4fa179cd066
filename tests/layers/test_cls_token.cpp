// ClsToken: reference vs finite differences, oneDNN vs reference (incl. B = 1 and non-plain src/diff_dst),
// rebuilds, bad input.
#include <catch2/catch.hpp>

#include "models/layers/cls_token.hpp"
#include "tests/reference/cls_token.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

TEST_CASE("cls_token reference backward matches finite differences", "[layer][cls_token]") {
  const int64_t B = 2, N = 3, D = 4;
  const Vec x = random_vec(B * N * D, 1), cls = random_vec(D, 2), dy = random_vec(B * (N + 1) * D, 3);
  Vec dx(B * N * D), dcls(D);
  ref::cls_token_backward(dx.data(), dcls.data(), dy.data(), B, N, D);
  auto loss = [&](const Vec& xx, const Vec& cc) {
    Vec y(B * (N + 1) * D);
    ref::cls_token_forward(y.data(), xx.data(), cc.data(), B, N, D);
    return weighted_sum(y, dy);
  };
  require_gradient_matches_fd([&](const Vec& v) { return loss(v, cls); }, x, dx, "dx");
  require_gradient_matches_fd([&](const Vec& v) { return loss(x, v); }, cls, dcls, "dcls");
}

TEST_CASE("cls_token forward and backward match the reference", "[layer][cls_token]") {
  // Copies are exact; the token gradient sums B <= 5 f32 values: rtol 1e-6.
  struct Case {
    int64_t B, N, D;
    tag src_tag, dy_tag;
  };
  auto c = GENERATE(Case{2, 5, 7, tag::abc, tag::abc}, Case{1, 4, 3, tag::abc, tag::abc},
                    Case{3, 1, 16, tag::abc, tag::abc}, Case{5, 6, 8, tag::acb, tag::bac});
  const int64_t B = c.B, N = c.N, D = c.D;
  INFO("B " << B << " N " << N << " D " << D);
  const Vec x = random_vec(B * N * D, 21), cls = random_vec(D, 22), dy = random_vec(B * (N + 1) * D, 23);
  Vec y(B * (N + 1) * D), dx(B * N * D), dcls(D);
  ref::cls_token_forward(y.data(), x.data(), cls.data(), B, N, D);
  ref::cls_token_backward(dx.data(), dcls.data(), dy.data(), B, N, D);

  ClsToken layer("", {D});
  REQUIRE(layer.params().size() == 1);
  REQUIRE(layer.cls_token().name == "cls_token");
  REQUIRE(layer.cls_token().value.shape() == Dims{1, 1, D});
  REQUIRE_FALSE(layer.cls_token().decay);
  layer.cls_token().value.assign(to_float(cls));
  Tensor src(dnnl::memory::desc({B, N, D}, dt::f32, c.src_tag));
  src.assign(to_float(x));
  const Tensor& dst = layer.forward(src, Mode::train);
  REQUIRE(dst.shape() == Dims{B, N + 1, D});
  require_close(to_double(dst), y, 0, 0, "dst");
  Tensor diff_dst(dnnl::memory::desc({B, N + 1, D}, dt::f32, c.dy_tag));
  diff_dst.assign(to_float(dy));
  const Tensor& diff_src = layer.backward(diff_dst);
  REQUIRE(diff_src.desc() == src.desc());
  require_close(to_double(diff_src), dx, 0, 0, "diff_src");
  require_close(to_double(layer.cls_token().grad), dcls, 1e-6, 1e-7, "cls_token.grad");
}

TEST_CASE("cls_token rebuilds for a new shape", "[layer][cls_token]") {
  const int64_t D = 6;
  ClsToken layer("", {D});
  const Vec cls = random_vec(D, 30);
  layer.cls_token().value.assign(to_float(cls));
  for (auto [B, N] : {std::pair<int64_t, int64_t>{2, 3}, {4, 9}, {1, 3}, {2, 3}}) {
    INFO("B " << B << " N " << N);
    const Vec x = random_vec(B * N * D, B * 10 + N), dy = random_vec(B * (N + 1) * D, B * 10 + N + 1);
    Vec y(B * (N + 1) * D), dx(B * N * D), dcls(D);
    ref::cls_token_forward(y.data(), x.data(), cls.data(), B, N, D);
    ref::cls_token_backward(dx.data(), dcls.data(), dy.data(), B, N, D);
    require_close(to_double(layer.forward(tensor({B, N, D}, x), Mode::train)), y, 0, 0, "dst");
    require_close(to_double(layer.backward(tensor({B, N + 1, D}, dy))), dx, 0, 0, "diff_src");
    require_close(to_double(layer.cls_token().grad), dcls, 1e-6, 1e-7, "cls_token.grad");
  }
}

TEST_CASE("cls_token refuses bad input with its name", "[layer][cls_token]") {
  REQUIRE_THROWS_WITH(ClsToken("vit.cls", {0}), Catch::Contains("vit.cls"));
  ClsToken layer("vit.cls", {4});
  REQUIRE_THROWS_AS(layer.backward(Tensor({2, 4, 4})), std::logic_error);
  REQUIRE_THROWS_WITH(layer.forward(Tensor({2, 3, 5}), Mode::train),
                      Catch::Contains("vit.cls") && Catch::Contains("[2, 3, 5]"));
  REQUIRE_THROWS_WITH(layer.forward(Tensor({2, 12}), Mode::train), Catch::Contains("vit.cls"));
  REQUIRE_THROWS_WITH(layer.forward(Tensor({2, 3, 4}, DType::bf16), Mode::train), Catch::Contains("vit.cls"));
  layer.forward(Tensor({2, 3, 4}), Mode::eval);
  REQUIRE_THROWS_AS(layer.backward(Tensor({2, 4, 4})), std::logic_error);
  layer.forward(Tensor({2, 3, 4}), Mode::train);
  REQUIRE_THROWS_WITH(layer.backward(Tensor({2, 3, 4})),
                      Catch::Contains("vit.cls") && Catch::Contains("[2, 3, 4]"));
}
