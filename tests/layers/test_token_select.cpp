// TokenSelect: reference vs finite differences, oneDNN vs reference (token 0 and another row, non-plain src
// and diff_dst), repeated backward keeps the other rows zero, rebuilds, bad input.
#include <catch2/catch.hpp>

#include "models/layers/token_select.hpp"
#include "tests/reference/token_select.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

TEST_CASE("token_select reference backward matches finite differences", "[layer][token_select]") {
  const int64_t B = 2, N = 3, D = 4, t = 1;
  const Vec x = random_vec(B * N * D, 1), dy = random_vec(B * D, 2);
  Vec dx(x.size());
  ref::token_select_backward(dx.data(), dy.data(), t, B, N, D);
  auto loss = [&](const Vec& v) {
    Vec y(B * D);
    ref::token_select_forward(y.data(), v.data(), t, B, N, D);
    return weighted_sum(y, dy);
  };
  require_gradient_matches_fd(loss, x, dx, "dx");
}

TEST_CASE("token_select forward and backward match the reference", "[layer][token_select]") {
  // Pure data movement: exact (tolerance 0).
  struct Case {
    int64_t B, N, D, t;
    tag src_tag, dy_tag;
  };
  auto c = GENERATE(Case{2, 5, 7, 0, tag::abc, tag::ab}, Case{1, 1, 3, 0, tag::abc, tag::ab},
                    Case{3, 4, 8, 2, tag::abc, tag::ba}, Case{4, 6, 5, 0, tag::acb, tag::ab},
                    Case{2, 3, 4, 2, tag::bac, tag::ba});
  const int64_t B = c.B, N = c.N, D = c.D;
  INFO("B " << B << " N " << N << " D " << D << " token " << c.t);
  TokenSelect layer("head_select", {c.t});
  Tensor src(dnnl::memory::desc({B, N, D}, dt::f32, c.src_tag));
  for (int rep = 0; rep < 2; ++rep) {  // the second backward must not see the first one's values
    const Vec x = random_vec(B * N * D, 11 + rep), dy = random_vec(B * D, 12 + rep);
    Vec y(B * D), dx(x.size());
    ref::token_select_forward(y.data(), x.data(), c.t, B, N, D);
    ref::token_select_backward(dx.data(), dy.data(), c.t, B, N, D);
    src.assign(to_float(x));
    const Tensor& dst = layer.forward(src, Mode::train);
    REQUIRE(dst.shape() == Dims{B, D});
    require_close(to_double(dst), y, 0, 0, "dst");
    Tensor diff_dst(dnnl::memory::desc({B, D}, dt::f32, c.dy_tag));
    diff_dst.assign(to_float(dy));
    const Tensor& diff_src = layer.backward(diff_dst);
    REQUIRE(diff_src.desc() == src.desc());
    require_close(to_double(diff_src), dx, 0, 0, "diff_src");
  }
}

TEST_CASE("token_select rebuilds for a new shape", "[layer][token_select]") {
  TokenSelect layer("sel");
  for (auto [B, N, D] : {std::array<int64_t, 3>{2, 3, 4}, {5, 1, 4}, {1, 7, 9}, {2, 3, 4}}) {
    INFO("B " << B << " N " << N << " D " << D);
    const Vec x = random_vec(B * N * D, B + N + D), dy = random_vec(B * D, B + N + D + 50);
    Vec y(B * D), dx(x.size());
    ref::token_select_forward(y.data(), x.data(), 0, B, N, D);
    ref::token_select_backward(dx.data(), dy.data(), 0, B, N, D);
    require_close(to_double(layer.forward(tensor({B, N, D}, x), Mode::train)), y, 0, 0, "dst");
    require_close(to_double(layer.backward(tensor({B, D}, dy))), dx, 0, 0, "diff_src");
  }
}

TEST_CASE("token_select refuses bad input with its name", "[layer][token_select]") {
  REQUIRE_THROWS_WITH(TokenSelect("sel", {-1}), Catch::Contains("sel"));
  TokenSelect layer("sel", {2});
  REQUIRE_THROWS_AS(layer.backward(Tensor({2, 4})), std::logic_error);
  REQUIRE_THROWS_WITH(layer.forward(Tensor({2, 2, 4}), Mode::train),
                      Catch::Contains("sel") && Catch::Contains("[2, 2, 4]"));
  REQUIRE_THROWS_WITH(layer.forward(Tensor({2, 4}), Mode::train), Catch::Contains("sel"));
  REQUIRE_THROWS_WITH(layer.forward(Tensor({2, 3, 4}, DType::bf16), Mode::train), Catch::Contains("sel"));
  layer.forward(Tensor({2, 3, 4}), Mode::eval);
  REQUIRE_THROWS_AS(layer.backward(Tensor({2, 4})), std::logic_error);
  layer.forward(Tensor({2, 3, 4}), Mode::train);
  REQUIRE_THROWS_WITH(layer.backward(Tensor({2, 5})), Catch::Contains("sel") && Catch::Contains("[2, 5]"));
}
