// FlattenTokens: reference vs finite differences, oneDNN vs reference from plain, channels-last and blocked
// (padded) maps, non-plain diff_dst, rebuilds, bad input.
#include <catch2/catch.hpp>

#include "models/layers/flatten_tokens.hpp"
#include "tests/reference/flatten_tokens.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

TEST_CASE("flatten_tokens reference backward matches finite differences", "[layer][flatten_tokens]") {
  const int64_t B = 2, C = 3, H = 2, W = 3;
  const Vec x = random_vec(B * C * H * W, 1), dy = random_vec(B * H * W * C, 2);
  Vec dx(x.size());
  ref::flatten_tokens_backward(dx.data(), dy.data(), B, C, H, W);
  auto loss = [&](const Vec& v) {
    Vec y(v.size());
    ref::flatten_tokens_forward(y.data(), v.data(), B, C, H, W);
    return weighted_sum(y, dy);
  };
  require_gradient_matches_fd(loss, x, dx, "dx");
}

TEST_CASE("flatten_tokens forward and backward match the reference", "[layer][flatten_tokens]") {
  // Pure data movement: exact (tolerance 0).
  struct Case {
    int64_t B, C, H, W;
    tag src_tag, dy_tag;
  };
  auto c = GENERATE(Case{2, 5, 3, 4, tag::abcd, tag::abc}, Case{1, 8, 2, 2, tag::acdb, tag::abc},
                    Case{3, 20, 3, 3, tag::aBcd16b, tag::abc}, Case{2, 5, 4, 1, tag::aBcd8b, tag::acb},
                    Case{2, 7, 1, 1, tag::abcd, tag::bac});
  const int64_t B = c.B, C = c.C, H = c.H, W = c.W;
  INFO("B " << B << " C " << C << " H " << H << " W " << W);
  const Vec x = random_vec(B * C * H * W, 11), dy = random_vec(B * H * W * C, 12);
  Vec y(x.size()), dx(x.size());
  ref::flatten_tokens_forward(y.data(), x.data(), B, C, H, W);
  ref::flatten_tokens_backward(dx.data(), dy.data(), B, C, H, W);
  FlattenTokens layer("patch_embed.flatten");
  Tensor src(dnnl::memory::desc({B, C, H, W}, dt::f32, c.src_tag));
  src.assign(to_float(x));
  const Tensor& dst = layer.forward(src, Mode::train);
  REQUIRE(dst.shape() == Dims{B, H * W, C});
  REQUIRE(dst.plain());
  require_close(to_double(dst), y, 0, 0, "dst");
  Tensor diff_dst(dnnl::memory::desc({B, H * W, C}, dt::f32, c.dy_tag));
  diff_dst.assign(to_float(dy));
  const Tensor& diff_src = layer.backward(diff_dst);
  REQUIRE(diff_src.desc() == src.desc());
  require_close(to_double(diff_src), dx, 0, 0, "diff_src");
}

TEST_CASE("flatten_tokens rebuilds for a new shape", "[layer][flatten_tokens]") {
  FlattenTokens layer("flat");
  for (auto [B, C, H, W] : {std::array<int64_t, 4>{2, 3, 4, 4}, {1, 6, 2, 3}, {2, 3, 4, 4}}) {
    INFO("B " << B << " C " << C << " H " << H << " W " << W);
    const Vec x = random_vec(B * C * H * W, B + C + H), dy = random_vec(B * C * H * W, B + C + W + 50);
    Vec y(x.size()), dx(x.size());
    ref::flatten_tokens_forward(y.data(), x.data(), B, C, H, W);
    ref::flatten_tokens_backward(dx.data(), dy.data(), B, C, H, W);
    require_close(to_double(layer.forward(tensor({B, C, H, W}, x), Mode::train)), y, 0, 0, "dst");
    require_close(to_double(layer.backward(tensor({B, H * W, C}, dy))), dx, 0, 0, "diff_src");
  }
}

TEST_CASE("flatten_tokens refuses bad input with its name", "[layer][flatten_tokens]") {
  FlattenTokens layer("patch_embed.flatten");
  REQUIRE_THROWS_AS(layer.backward(Tensor({2, 4, 3})), std::logic_error);
  REQUIRE_THROWS_WITH(layer.forward(Tensor({2, 3, 4}), Mode::train), Catch::Contains("patch_embed.flatten"));
  REQUIRE_THROWS_WITH(layer.forward(Tensor({2, 3, 2, 2}, DType::bf16), Mode::train),
                      Catch::Contains("patch_embed.flatten"));
  layer.forward(Tensor({2, 3, 2, 2}), Mode::eval);
  REQUIRE_THROWS_AS(layer.backward(Tensor({2, 4, 3})), std::logic_error);
  layer.forward(Tensor({2, 3, 2, 2}), Mode::train);
  REQUIRE_THROWS_WITH(layer.backward(Tensor({2, 3, 4})),
                      Catch::Contains("patch_embed.flatten") && Catch::Contains("[2, 3, 4]"));
}
