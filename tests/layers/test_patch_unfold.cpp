// PatchUnfold: reference (torch's im2col index formula) vs finite differences, oneDNN vs reference,
// fold(unfold(x))
// == x, a blocked src, rebuilds, bad input.
#include <catch2/catch.hpp>

#include "models/layers/patch_unfold.hpp"
#include "tests/reference/patch_unfold.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

namespace {
struct Case {
  int64_t B, C, H, W, P;
};
struct Expected {
  Vec y, dx;
};
Expected reference(const Case& c, const Vec& x, const Vec& dy) {
  const int64_t L = (c.H / c.P) * (c.W / c.P);
  Expected e{Vec(c.B * L * c.C * c.P * c.P), Vec(x.size())};
  ref::patch_unfold_forward(e.y.data(), x.data(), c.B, c.C, c.H, c.W, c.P);
  ref::patch_unfold_backward(e.dx.data(), dy.data(), c.B, c.C, c.H, c.W, c.P);
  return e;
}
}  // namespace

TEST_CASE("patch_unfold reference backward matches finite differences", "[layer][patch_unfold]") {
  const Case c{2, 2, 4, 6, 2};
  const int64_t n = c.B * c.C * c.H * c.W;
  const Vec x = random_vec(n, 1), dy = random_vec(n, 2);
  const auto e = reference(c, x, dy);
  require_gradient_matches_fd([&](const Vec& v) { return weighted_sum(reference(c, v, dy).y, dy); }, x, e.dx,
                              "dx");
}

TEST_CASE("patch_unfold reference follows torch's unfold layout", "[layer][patch_unfold]") {
  // x[b, c, h, w] = 1000 c + 10 h + w, one image, C = 2, 4x4, P = 2: row l = patch (gh, gw) row-major; within
  // it channel-major, then kernel row, then column.
  const Case c{1, 2, 4, 4, 2};
  Vec x(32);
  for (int64_t ch = 0; ch < 2; ++ch)
    for (int64_t h = 0; h < 4; ++h)
      for (int64_t w = 0; w < 4; ++w) x[(ch * 4 + h) * 4 + w] = 1000.0 * ch + 10.0 * h + w;
  const auto e = reference(c, x, Vec(32));
  // Patch l = 1 is (gh 0, gw 1): rows 0..1, columns 2..3.
  const Vec row1(e.y.begin() + 8, e.y.begin() + 16);
  REQUIRE(row1 == Vec{2, 3, 12, 13, 1002, 1003, 1012, 1013});
  // Patch l = 2 is (gh 1, gw 0).
  REQUIRE(e.y[16] == 20);
}

TEST_CASE("patch_unfold forward and backward match the reference, fold(unfold(x)) == x",
          "[layer][patch_unfold]") {
  // Pure data movement: exact.
  auto c = GENERATE(Case{2, 3, 8, 12, 4}, Case{1, 2, 6, 6, 3}, Case{2, 3, 5, 4, 1}, Case{3, 2, 4, 4, 4},
                    Case{1, 3, 32, 48, 16});
  INFO("B " << c.B << " C " << c.C << " H " << c.H << " W " << c.W << " P " << c.P);
  const int64_t n = c.B * c.C * c.H * c.W, L = (c.H / c.P) * (c.W / c.P);
  const Vec x = random_vec(n, 11), dy = random_vec(n, 12);
  const auto e = reference(c, x, dy);
  PatchUnfold layer("patch_embed.unfold", {c.P});
  const Tensor& dst = layer.forward(tensor({c.B, c.C, c.H, c.W}, x), Mode::train);
  REQUIRE(dst.shape() == Dims{c.B, L, c.C * c.P * c.P});
  REQUIRE(dst.plain());
  require_close(to_double(dst), e.y, 0, 0, "dst");
  const Tensor unfolded = Tensor::from(dst.shape(), dst.to_vector());
  require_close(to_double(layer.backward(tensor(dst.shape(), dy))), e.dx, 0, 0, "diff_src");
  require_close(to_double(layer.backward(unfolded)), x, 0, 0, "fold(unfold(x))");
}

TEST_CASE("patch_unfold takes a blocked src and a non-plain diff_dst", "[layer][patch_unfold]") {
  const Case c{2, 16, 4, 4, 2};
  const int64_t n = c.B * c.C * c.H * c.W, L = 4;
  const Vec x = random_vec(n, 21), dy = random_vec(n, 22);
  const auto e = reference(c, x, dy);
  PatchUnfold layer("unfold", {c.P});
  Tensor src(dnnl::memory::desc({c.B, c.C, c.H, c.W}, dt::f32, tag::nChw16c));
  src.assign(to_float(x));
  require_close(to_double(layer.forward(src, Mode::train)), e.y, 0, 0, "dst");
  Tensor diff_dst(dnnl::memory::desc({c.B, L, c.C * c.P * c.P}, dt::f32, tag::acb));
  diff_dst.assign(to_float(dy));
  const Tensor& diff_src = layer.backward(diff_dst);
  REQUIRE(diff_src.desc() == src.desc());
  require_close(to_double(diff_src), e.dx, 0, 0, "diff_src");
}

TEST_CASE("patch_unfold rebuilds for a new shape", "[layer][patch_unfold]") {
  PatchUnfold layer("unfold", {2});
  for (const Case& c : {Case{2, 3, 4, 6, 2}, Case{1, 1, 8, 2, 2}, Case{2, 3, 4, 6, 2}}) {
    const int64_t n = c.B * c.C * c.H * c.W;
    const Vec x = random_vec(n, n), dy = random_vec(n, n + 1);
    const auto e = reference(c, x, dy);
    const Tensor& dst = layer.forward(tensor({c.B, c.C, c.H, c.W}, x), Mode::train);
    require_close(to_double(dst), e.y, 0, 0, "dst");
    require_close(to_double(layer.backward(tensor(dst.shape(), dy))), e.dx, 0, 0, "diff_src");
  }
}

TEST_CASE("patch_unfold refuses bad input with its name", "[layer][patch_unfold]") {
  REQUIRE_THROWS_WITH(PatchUnfold("unfold", {0}), Catch::Contains("unfold"));
  PatchUnfold layer("patch_embed.unfold", {4});
  REQUIRE_THROWS_AS(layer.backward(Tensor({1, 4, 48})), std::logic_error);
  REQUIRE_THROWS_WITH(layer.forward(Tensor({1, 3, 8, 10}), Mode::train),
                      Catch::Contains("patch_embed.unfold") && Catch::Contains("divisible") &&
                          Catch::Contains("[1, 3, 8, 10]"));
  REQUIRE_THROWS_WITH(layer.forward(Tensor({1, 3, 2, 2}), Mode::train),
                      Catch::Contains("patch_embed.unfold"));
  REQUIRE_THROWS_WITH(layer.forward(Tensor({3, 8, 8}), Mode::train), Catch::Contains("patch_embed.unfold"));
  layer.forward(Tensor({1, 3, 8, 8}), Mode::eval);
  REQUIRE_THROWS_AS(layer.backward(Tensor({1, 4, 48})), std::logic_error);
  layer.forward(Tensor({1, 3, 8, 8}), Mode::train);
  REQUIRE_THROWS_WITH(layer.backward(Tensor({1, 4, 47})), Catch::Contains("patch_embed.unfold"));
}
