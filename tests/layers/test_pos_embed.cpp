// LearnedPosEmbed: reference vs finite differences, oneDNN vs reference for ViT- and TNT-shaped tables (plain
// and blocked src, B = 1), rebuilds, bad input.
#include <catch2/catch.hpp>

#include "models/layers/pos_embed.hpp"
#include "tests/reference/pos_embed.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

TEST_CASE("pos_embed reference backward matches finite differences", "[layer][pos_embed]") {
  const int64_t B = 3, T = 5;
  const Vec x = random_vec(B * T, 1), table = random_vec(T, 2), dy = random_vec(B * T, 3);
  Vec dx(B * T), dtable(T);
  ref::pos_embed_backward(dx.data(), dtable.data(), dy.data(), B, T);
  auto loss = [&](const Vec& xx, const Vec& tt) {
    Vec y(B * T);
    ref::pos_embed_forward(y.data(), xx.data(), tt.data(), B, T);
    return weighted_sum(y, dy);
  };
  require_gradient_matches_fd([&](const Vec& v) { return loss(v, table); }, x, dx, "dx");
  require_gradient_matches_fd([&](const Vec& v) { return loss(x, v); }, table, dtable, "dtable");
}

TEST_CASE("pos_embed forward and backward match the reference", "[layer][pos_embed]") {
  // One f32 add per element; the table gradient sums B <= 4 f32 values: rtol 1e-6.
  const double rtol = 1e-6, atol = 1e-7;
  struct Case {
    Dims table_shape;
    int64_t B;
    tag src_tag, dy_tag;
  };
  auto c = GENERATE(Case{{1, 6, 5}, 3, tag::abc, tag::abc},           // ViT (1, N+1, D)
                    Case{{1, 3, 4, 4}, 2, tag::abcd, tag::abcd},      // TNT pixel_pos (1, c, 4, 4)
                    Case{{1, 4, 7}, 1, tag::abc, tag::abc},           // B = 1: the batch sum is a copy
                    Case{{1, 20, 3, 3}, 4, tag::nChw16c, tag::abcd},  // blocked src, plain diff_dst
                    Case{{1, 5, 3}, 2, tag::acb, tag::acb});
  const Dims& ts = c.table_shape;
  const int64_t B = c.B, T = product(ts);
  Dims shape = ts;
  shape[0] = B;
  INFO("src " << to_string(shape));
  const Vec x = random_vec(B * T, 31), table = random_vec(T, 32), dy = random_vec(B * T, 33);
  Vec y(B * T), dx(B * T), dtable(T);
  ref::pos_embed_forward(y.data(), x.data(), table.data(), B, T);
  ref::pos_embed_backward(dx.data(), dtable.data(), dy.data(), B, T);

  LearnedPosEmbed layer("pixel_embed", {ts, "pixel_pos"});
  REQUIRE(layer.params().size() == 1);
  REQUIRE(layer.table().name == "pixel_pos");
  REQUIRE(layer.table().value.shape() == ts);
  REQUIRE_FALSE(layer.table().decay);
  layer.table().value.assign(to_float(table));
  Tensor src(dnnl::memory::desc(shape, dt::f32, c.src_tag));
  src.assign(to_float(x));
  const Tensor& dst = layer.forward(src, Mode::train);
  REQUIRE(dst.desc() == src.desc());
  require_close(to_double(dst), y, rtol, atol, "dst");
  Tensor diff_dst(dnnl::memory::desc(shape, dt::f32, c.dy_tag));
  diff_dst.assign(to_float(dy));
  const Tensor& diff_src = layer.backward(diff_dst);
  REQUIRE(diff_src.desc() == src.desc());
  require_close(to_double(diff_src), dx, 0, 0, "diff_src");
  require_close(to_double(layer.table().grad), dtable, rtol, atol, "pixel_pos.grad");
}

TEST_CASE("pos_embed rebuilds for a new batch", "[layer][pos_embed]") {
  const Dims ts{1, 5, 4};
  const int64_t T = product(ts);
  LearnedPosEmbed layer("", {ts});
  REQUIRE(layer.table().name == "pos_embed");
  const Vec table = random_vec(T, 40);
  layer.table().value.assign(to_float(table));
  for (int64_t B : {2, 5, 1, 2}) {
    INFO("B " << B);
    const Vec x = random_vec(B * T, B), dy = random_vec(B * T, B + 100);
    Vec y(B * T), dx(B * T), dtable(T);
    ref::pos_embed_forward(y.data(), x.data(), table.data(), B, T);
    ref::pos_embed_backward(dx.data(), dtable.data(), dy.data(), B, T);
    require_close(to_double(layer.forward(tensor({B, 5, 4}, x), Mode::train)), y, 1e-6, 1e-7, "dst");
    require_close(to_double(layer.backward(tensor({B, 5, 4}, dy))), dx, 0, 0, "diff_src");
    require_close(to_double(layer.table().grad), dtable, 1e-6, 1e-7, "pos_embed.grad");
  }
}

TEST_CASE("pos_embed refuses bad input with its name", "[layer][pos_embed]") {
  REQUIRE_THROWS_WITH(LearnedPosEmbed("pe", {{2, 5, 4}}),
                      Catch::Contains("pe") && Catch::Contains("[2, 5, 4]"));
  REQUIRE_THROWS_WITH(LearnedPosEmbed("pe", {{1}}), Catch::Contains("pe"));
  REQUIRE_THROWS_WITH(LearnedPosEmbed("pe", {{1, 0, 4}}), Catch::Contains("pe"));
  LearnedPosEmbed layer("pe", {{1, 5, 4}});
  REQUIRE_THROWS_AS(layer.backward(Tensor({2, 5, 4})), std::logic_error);
  REQUIRE_THROWS_WITH(layer.forward(Tensor({2, 6, 4}), Mode::train),
                      Catch::Contains("pe") && Catch::Contains("[2, 6, 4]") && Catch::Contains("[2, 5, 4]"));
  REQUIRE_THROWS_WITH(layer.forward(Tensor({2, 20}), Mode::train), Catch::Contains("pe"));
  layer.forward(Tensor({2, 5, 4}), Mode::eval);
  REQUIRE_THROWS_AS(layer.backward(Tensor({2, 5, 4})), std::logic_error);
  layer.forward(Tensor({2, 5, 4}), Mode::train);
  REQUIRE_THROWS_WITH(layer.backward(Tensor({3, 5, 4})), Catch::Contains("pe"));
}
