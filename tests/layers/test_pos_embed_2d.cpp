// PosEmbed2d: learned tables (reference vs finite differences, oneDNN vs reference with square and
// non-square grids, the table reassembled after a parameter update), the sincos table vs the PyTorch
// fixture's and the formula, bad input.
#include <catch2/catch.hpp>

#include "models/layers/pos_embed_2d.hpp"
#include "tests/reference/pos_embed.hpp"
#include "tests/reference/pos_embed_2d.hpp"
#include "tests/support/check.hpp"
#include "tests/support/fixture.hpp"

using namespace vb;
using namespace vb::test;

namespace {
// y = x + table(X, Y, cls); all (B, T) with T = (1 + Gh*Gw) * D.
Vec learned_forward(const Vec& x, const Vec& X, const Vec& Y, const Vec& cls, int64_t B, int64_t Gh,
                    int64_t Gw, int64_t D) {
  const int64_t T = (1 + Gh * Gw) * D;
  Vec table(T), y(B * T);
  ref::pos_embed_2d_learned_forward(table.data(), X.data(), Y.data(), cls.data(), Gh, Gw, D);
  ref::pos_embed_forward(y.data(), x.data(), table.data(), B, T);
  return y;
}
}  // namespace

TEST_CASE("pos_embed_2d reference backward matches finite differences", "[layer][pos_embed_2d]") {
  const int64_t B = 2, Gh = 2, Gw = 3, D = 4, T = (1 + Gh * Gw) * D;
  const Vec x = random_vec(B * T, 1), X = random_vec(Gw * D / 2, 2), Y = random_vec(Gh * D / 2, 3),
            cls = random_vec(D, 4), dy = random_vec(B * T, 5);
  Vec dx(B * T), dtable(T), dX(X.size()), dY(Y.size()), dcls(D);
  ref::pos_embed_backward(dx.data(), dtable.data(), dy.data(), B, T);
  ref::pos_embed_2d_learned_backward(dX.data(), dY.data(), dcls.data(), dtable.data(), Gh, Gw, D);
  auto L = [&](const Vec& xx, const Vec& XX, const Vec& YY, const Vec& cc) {
    return weighted_sum(learned_forward(xx, XX, YY, cc, B, Gh, Gw, D), dy);
  };
  require_gradient_matches_fd([&](const Vec& v) { return L(v, X, Y, cls); }, x, dx, "dx");
  require_gradient_matches_fd([&](const Vec& v) { return L(x, v, Y, cls); }, X, dX, "dX");
  require_gradient_matches_fd([&](const Vec& v) { return L(x, X, v, cls); }, Y, dY, "dY");
  require_gradient_matches_fd([&](const Vec& v) { return L(x, X, Y, v); }, cls, dcls, "dcls");
}

TEST_CASE("pos_embed_2d learned forward and backward match the reference", "[layer][pos_embed_2d]") {
  // The add is one f32 rounding (rtol 1e-7); the grads sum B * Gh (or Gw) f32 values: rtol 1e-6, atol 1e-6.
  struct Case {
    int64_t B, Gh, Gw, D;
  };
  auto c = GENERATE(Case{2, 4, 4, 8}, Case{3, 2, 5, 6}, Case{1, 1, 1, 2}, Case{4, 3, 2, 10});
  const int64_t B = c.B, Gh = c.Gh, Gw = c.Gw, D = c.D, T = (1 + Gh * Gw) * D;
  INFO("B " << B << " grid " << Gh << "x" << Gw << " D " << D);
  PosEmbed2d layer("", {Gh, Gw, D});
  REQUIRE(layer.params().size() == 3);
  REQUIRE(layer.params()[0]->name == "pos_embed_x");
  REQUIRE(layer.params()[0]->value.shape() == Dims{1, Gw, D / 2});
  REQUIRE(layer.params()[1]->name == "pos_embed_y");
  REQUIRE(layer.params()[1]->value.shape() == Dims{1, Gh, D / 2});
  REQUIRE(layer.params()[2]->name == "pos_embed_cls");
  REQUIRE(layer.params()[2]->value.shape() == Dims{1, 1, D});
  for (Param* p : layer.params()) REQUIRE_FALSE(p->decay);
  for (int rep = 0; rep < 2; ++rep) {  // new parameter values between forwards: the table follows them
    INFO("rep " << rep);
    const Vec x = random_vec(B * T, 10 + rep), X = random_vec(Gw * D / 2, 20 + rep),
              Y = random_vec(Gh * D / 2, 30 + rep), cls = random_vec(D, 40 + rep),
              dy = random_vec(B * T, 50 + rep);
    Vec dx(B * T), dtable(T), dX(X.size()), dY(Y.size()), dcls(D);
    ref::pos_embed_backward(dx.data(), dtable.data(), dy.data(), B, T);
    ref::pos_embed_2d_learned_backward(dX.data(), dY.data(), dcls.data(), dtable.data(), Gh, Gw, D);
    layer.params()[0]->value.assign(to_float(X));
    layer.params()[1]->value.assign(to_float(Y));
    layer.params()[2]->value.assign(to_float(cls));
    const Tensor& dst = layer.forward(tensor({B, 1 + Gh * Gw, D}, x), Mode::train);
    require_close(to_double(dst), learned_forward(x, X, Y, cls, B, Gh, Gw, D), 1e-7, 1e-7, "dst");
    const Tensor& diff_src = layer.backward(tensor({B, 1 + Gh * Gw, D}, dy));
    require_close(to_double(diff_src), dx, 0, 0, "diff_src");
    require_close(to_double(layer.params()[0]->grad), dX, 1e-6, 1e-6, "pos_embed_x.grad");
    require_close(to_double(layer.params()[1]->grad), dY, 1e-6, 1e-6, "pos_embed_y.grad");
    require_close(to_double(layer.params()[2]->grad), dcls, 1e-6, 1e-6, "pos_embed_cls.grad");
  }
}

TEST_CASE("pos_embed_2d sincos matches the PyTorch table and the formula", "[layer][pos_embed_2d]") {
  // Fixture table: float64 numpy; ours float32 of the same double formula: atol 1e-7 (values in [-1, 1]).
  const Fixture fx("vit_pos_sincos_2d");
  const ModelConfig cfg = fx.config();
  const int64_t G = cfg.img_size / cfg.patch_size, D = cfg.embed_dim;
  PosEmbed2d layer("", {G, G, D, PosEmbed2d::Kind::sincos});
  REQUIRE(layer.params().empty());
  REQUIRE(fx.shape("fixed/pos_embed") == Dims{1, 1 + G * G, D});
  require_close(to_double(layer.table()), fx.read("fixed/pos_embed"), 0, 1e-7, "table vs fixture");
  // A non-square grid against the reference formula, and the add / pass-through gradient.
  const int64_t B = 2, Gh = 2, Gw = 3, D2 = 8, T = (1 + Gh * Gw) * D2;
  PosEmbed2d rect("", {Gh, Gw, D2, PosEmbed2d::Kind::sincos});
  Vec table(T), y(B * T), dx(B * T), dtable(T);
  ref::pos_embed_2d_sincos(table.data(), Gh, Gw, D2);
  require_close(to_double(rect.table()), table, 0, 1e-7, "rect table");
  const Vec x = random_vec(B * T, 3), dy = random_vec(B * T, 4);
  ref::pos_embed_forward(y.data(), x.data(), table.data(), B, T);
  require_close(to_double(rect.forward(tensor({B, 1 + Gh * Gw, D2}, x), Mode::train)), y, 1e-7, 2e-7, "dst");
  require_close(to_double(rect.backward(tensor({B, 1 + Gh * Gw, D2}, dy))), dy, 0, 0, "diff_src");
}

TEST_CASE("pos_embed_2d refuses bad input with its name", "[layer][pos_embed_2d]") {
  REQUIRE_THROWS_WITH(PosEmbed2d("pe", {4, 4, 7}), Catch::Contains("pe") && Catch::Contains("even"));
  REQUIRE_THROWS_WITH(PosEmbed2d("pe", {4, 4, 6, PosEmbed2d::Kind::sincos}), Catch::Contains("pe"));
  REQUIRE_THROWS_WITH(PosEmbed2d("pe", {0, 4, 8}), Catch::Contains("pe"));
  REQUIRE_THROWS_WITH(PosEmbed2d("", {0, 4, 8}), Catch::Contains("pos_embed_2d"));
  PosEmbed2d layer("pe", {2, 2, 4});
  REQUIRE_THROWS_AS(layer.backward(Tensor({2, 5, 4})), std::logic_error);
  REQUIRE_THROWS_WITH(layer.forward(Tensor({2, 4, 4}), Mode::train),
                      Catch::Contains("pe") && Catch::Contains("[2, 4, 4]"));
  layer.forward(Tensor({2, 5, 4}), Mode::eval);
  REQUIRE_THROWS_AS(layer.backward(Tensor({2, 5, 4})), std::logic_error);
}
