// Multi-head self-attention: double reference vs finite differences, oneDNN layer vs reference (both QKV
// layouts, with and without qkv bias, one and several heads, odd token counts), probabilities, the q/k/v and
// head order of the fused projection (timm's reshape(B, N, 3, H, dh)), bad input, rebuild on a new shape.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <map>

#include "models/layers/attention.hpp"
#include "tests/reference/attention.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

namespace {

struct Case {
  int64_t B, N, D, H;
  bool qkv_bias;
  QkvLayout qkv;
};

std::string describe(const Case& c) {
  return fmt::format("B {} N {} D {} H {} qkv_bias {} layout {}", c.B, c.N, c.D, c.H, c.qkv_bias,
                     c.qkv == QkvLayout::fused ? "fused" : "separate_qk_v");
}

// Parameters (or their gradients) in the reference's fused form: w_qkv (3D, D) rows q, k, v; b_qkv (3D) or
// empty; w_proj (D, D); b_proj (D). separate_qk_v's qk (2D, D) and v (D, D) are the first 2D and last D rows.
struct Weights {
  Vec w_qkv, b_qkv, w_proj, b_proj;
};

Weights random_weights(const Case& c, uint64_t seed) {
  const auto D = static_cast<size_t>(c.D);
  // qkv weights in +-sqrt(12 / D) (+-1 at D = 12) make logits of order 1: the softmax is far from uniform, so
  // its gradient matters, yet not saturated.
  const double a = std::sqrt(12.0 / c.D);
  return {random_vec(3 * D * D, seed + 1, -a, a), c.qkv_bias ? random_vec(3 * D, seed + 2, -0.5, 0.5) : Vec{},
          random_vec(D * D, seed + 3, -0.5, 0.5), random_vec(D, seed + 4, -0.5, 0.5)};
}

std::map<std::string, Param*> by_name(Attention& a) {
  std::map<std::string, Param*> m;
  for (Param* p : a.params()) m[p->name] = p;
  return m;
}

Vec slice(const Vec& v, size_t from, size_t to) {
  return Vec(v.begin() + from, v.begin() + to);
}
Vec concat(const Vec& a, const Vec& b) {
  Vec r = a;
  r.insert(r.end(), b.begin(), b.end());
  return r;
}

void load(Attention& a, const Weights& w) {
  const auto D = static_cast<size_t>(a.config().dim);
  auto ps = by_name(a);
  if (a.config().qkv == QkvLayout::fused) {
    ps.at("qkv.weight")->value.assign(to_float(w.w_qkv));
    if (a.config().qkv_bias) ps.at("qkv.bias")->value.assign(to_float(w.b_qkv));
  } else {
    ps.at("qk.weight")->value.assign(to_float(slice(w.w_qkv, 0, 2 * D * D)));
    ps.at("v.weight")->value.assign(to_float(slice(w.w_qkv, 2 * D * D, 3 * D * D)));
    if (a.config().qkv_bias) {
      ps.at("qk.bias")->value.assign(to_float(slice(w.b_qkv, 0, 2 * D)));
      ps.at("v.bias")->value.assign(to_float(slice(w.b_qkv, 2 * D, 3 * D)));
    }
  }
  ps.at("proj.weight")->value.assign(to_float(w.w_proj));
  ps.at("proj.bias")->value.assign(to_float(w.b_proj));
}

Weights grads(Attention& a) {
  auto ps = by_name(a);
  Weights g;
  if (a.config().qkv == QkvLayout::fused) {
    g.w_qkv = to_double(ps.at("qkv.weight")->grad);
    if (a.config().qkv_bias) g.b_qkv = to_double(ps.at("qkv.bias")->grad);
  } else {
    g.w_qkv = concat(to_double(ps.at("qk.weight")->grad), to_double(ps.at("v.weight")->grad));
    if (a.config().qkv_bias)
      g.b_qkv = concat(to_double(ps.at("qk.bias")->grad), to_double(ps.at("v.bias")->grad));
  }
  g.w_proj = to_double(ps.at("proj.weight")->grad);
  g.b_proj = to_double(ps.at("proj.bias")->grad);
  return g;
}

Vec ref_forward(const Case& c, const Vec& x, const Weights& w, ref::AttentionSaved& saved) {
  Vec y(c.B * c.N * c.D);
  ref::attention_forward(y.data(), saved, x.data(), w.w_qkv.data(), c.qkv_bias ? w.b_qkv.data() : nullptr,
                         w.w_proj.data(), w.b_proj.data(), c.B, c.N, c.D, c.H);
  return y;
}

// Reference gradients of loss = weighted_sum(y, dy): returns d_x and fills g.
Vec ref_backward(const Case& c, const Vec& x, const Weights& w, const Vec& dy, Weights& g) {
  ref::AttentionSaved saved;
  ref_forward(c, x, w, saved);
  const auto D = static_cast<size_t>(c.D);
  Vec dx(x.size());
  g = {Vec(3 * D * D), c.qkv_bias ? Vec(3 * D) : Vec{}, Vec(D * D), Vec(D)};
  ref::attention_backward(dx.data(), g.w_qkv.data(), c.qkv_bias ? g.b_qkv.data() : nullptr, g.w_proj.data(),
                          g.b_proj.data(), dy.data(), saved, x.data(), w.w_qkv.data(), w.w_proj.data(), c.B,
                          c.N, c.D, c.H);
  return dx;
}

// f32 layer vs double reference: relative 1e-4, absolute 1e-5 of the largest expected magnitude (gradients
// of weights sum B*N token contributions, so their scale varies with the case).
void require_close_scaled(const Vec& actual, const Vec& expected, const std::string& what, double rtol = 1e-4,
                          double atol_rel = 1e-5) {
  double mx = 1.0;
  for (double e : expected) mx = std::max(mx, std::abs(e));
  require_close(actual, expected, rtol, atol_rel * mx, what);
}

void require_rows_sum_to_one(const Vec& probs, int64_t N, double tol = 1e-5) {
  double worst = 0;
  for (size_t r = 0; r < probs.size() / N; ++r) {
    double s = 0;
    for (int64_t j = 0; j < N; ++j) s += probs[r * N + j];
    worst = std::max(worst, std::abs(s - 1.0));
  }
  INFO("worst |row sum - 1| = " << worst);
  REQUIRE(worst < tol);
}

Weights round_bf16(Weights w) {
  using vb::test::round_bf16;  // the Vec overload (this one hides it)
  return {round_bf16(w.w_qkv), round_bf16(w.b_qkv), round_bf16(w.w_proj), round_bf16(w.b_proj)};
}

// Forward (train) + backward of the layer vs the reference for one case.
void check_against_reference(Attention& a, const Case& c, uint64_t seed) {
  INFO(describe(c));
  const Weights w = random_weights(c, seed);
  load(a, w);
  const Vec x = random_vec(c.B * c.N * c.D, seed + 10);
  const Vec dy = random_vec(c.B * c.N * c.D, seed + 11);
  ref::AttentionSaved saved;
  const Vec y_ref = ref_forward(c, x, w, saved);

  const Tensor& y = a.forward(tensor({c.B, c.N, c.D}, x), Mode::train);
  REQUIRE(y.shape() == Dims{c.B, c.N, c.D});
  require_close_scaled(to_double(y), y_ref, "dst");
  REQUIRE(a.probs().shape() == Dims{c.B, c.H, c.N, c.N});
  const Vec probs = to_double(a.probs());
  require_close(probs, saved.probs, 1e-4, 1e-6, "probs");
  require_rows_sum_to_one(probs, c.N);

  Weights g_ref;
  const Vec dx_ref = ref_backward(c, x, w, dy, g_ref);
  const Tensor dy_t = tensor({c.B, c.N, c.D}, dy);
  for (int pass = 0; pass < 2; ++pass) {  // twice: grads are overwritten, not accumulated
    INFO("backward pass " << pass);
    const Vec dx = to_double(a.backward(dy_t));
    require_close_scaled(dx, dx_ref, "diff_src");
    const Weights g = grads(a);
    require_close_scaled(g.w_qkv, g_ref.w_qkv, "diff qkv weight");
    if (c.qkv_bias) require_close_scaled(g.b_qkv, g_ref.b_qkv, "diff qkv bias");
    require_close_scaled(g.w_proj, g_ref.w_proj, "diff proj weight");
    require_close_scaled(g.b_proj, g_ref.b_proj, "diff proj bias");
  }
}

}  // namespace

TEST_CASE("reference attention backward matches finite differences", "[layer][attention]") {
  const auto heads = GENERATE(1, 2);
  const auto qkv_bias = GENERATE(true, false);
  const Case c{2, 5, 8, heads, qkv_bias, QkvLayout::fused};
  INFO(describe(c));
  const Weights w = random_weights(c, 100 + heads);
  const Vec x = random_vec(c.B * c.N * c.D, 200);
  const Vec dy = random_vec(c.B * c.N * c.D, 201);
  Weights g;
  const Vec dx = ref_backward(c, x, w, dy, g);
  auto loss_with = [&](auto set) {
    return [&, set](const Vec& v) {
      Weights w2 = w;
      Vec x2 = x;
      set(w2, x2, v);
      ref::AttentionSaved s;
      return weighted_sum(ref_forward(c, x2, w2, s), dy);
    };
  };
  require_gradient_matches_fd(loss_with([](Weights&, Vec& x2, const Vec& v) { x2 = v; }), x, dx, "d_src");
  require_gradient_matches_fd(loss_with([](Weights& w2, Vec&, const Vec& v) { w2.w_qkv = v; }), w.w_qkv,
                              g.w_qkv, "d_w_qkv");
  if (qkv_bias)
    require_gradient_matches_fd(loss_with([](Weights& w2, Vec&, const Vec& v) { w2.b_qkv = v; }), w.b_qkv,
                                g.b_qkv, "d_b_qkv");
  require_gradient_matches_fd(loss_with([](Weights& w2, Vec&, const Vec& v) { w2.w_proj = v; }), w.w_proj,
                              g.w_proj, "d_w_proj");
  require_gradient_matches_fd(loss_with([](Weights& w2, Vec&, const Vec& v) { w2.b_proj = v; }), w.b_proj,
                              g.b_proj, "d_b_proj");
}

TEST_CASE("attention forward and backward match the reference", "[layer][attention]") {
  const auto layout = GENERATE(QkvLayout::fused, QkvLayout::separate_qk_v);
  const auto qkv_bias = GENERATE(true, false);
  const auto heads = GENERATE(1, 3);
  const Case c{2, heads == 1 ? 5 : 7, 12, heads, qkv_bias, layout};
  Attention a("blocks.0.attn", {c.D, c.H, c.qkv_bias, c.qkv});
  check_against_reference(a, c, 300 + 7 * heads + (qkv_bias ? 1 : 0));
}

TEST_CASE("attention parameters are named relative to the layer with PyTorch shapes", "[layer][attention]") {
  auto names_and_shapes = [](Attention& a) {
    std::vector<std::pair<std::string, Dims>> r;
    for (Param* p : a.params()) r.emplace_back(p->name, p->value.shape());
    return r;
  };
  using V = std::vector<std::pair<std::string, Dims>>;
  Attention fused("attn", {8, 2, true, QkvLayout::fused});
  REQUIRE(names_and_shapes(fused) ==
          V{{"qkv.weight", {24, 8}}, {"qkv.bias", {24}}, {"proj.weight", {8, 8}}, {"proj.bias", {8}}});
  Attention fused_nb("attn", {8, 2, false, QkvLayout::fused});
  REQUIRE(names_and_shapes(fused_nb) ==
          V{{"qkv.weight", {24, 8}}, {"proj.weight", {8, 8}}, {"proj.bias", {8}}});
  Attention sep("attn", {8, 2, true, QkvLayout::separate_qk_v});
  REQUIRE(names_and_shapes(sep) == V{{"qk.weight", {16, 8}},
                                     {"qk.bias", {16}},
                                     {"v.weight", {8, 8}},
                                     {"v.bias", {8}},
                                     {"proj.weight", {8, 8}},
                                     {"proj.bias", {8}}});
  Attention sep_nb("attn", {8, 2, false, QkvLayout::separate_qk_v});
  REQUIRE(names_and_shapes(sep_nb) ==
          V{{"qk.weight", {16, 8}}, {"v.weight", {8, 8}}, {"proj.weight", {8, 8}}, {"proj.bias", {8}}});
}

TEST_CASE("fused qkv is split as q, k, v then heads (timm reshape(B, N, 3, H, dh))", "[layer][attention]") {
  // Zeroing the q rows of head 1 makes only head 1's attention uniform; zeroing all k rows makes every head
  // uniform; zeroing the v rows leaves dst = proj.bias. A different split order would fail these.
  const int64_t B = 1, N = 5, D = 8, H = 2, dh = 4;
  const Case c{B, N, D, H, true, QkvLayout::fused};
  Attention a("attn", {D, H, true, QkvLayout::fused});
  const Vec x = random_vec(B * N * D, 400);
  auto zero_rows = [&](Weights w, int64_t from, int64_t to) {
    for (int64_t r = from; r < to; ++r) {
      for (int64_t i = 0; i < D; ++i) w.w_qkv[r * D + i] = 0;
      w.b_qkv[r] = 0;
    }
    return w;
  };
  auto head_is_uniform = [&](const Vec& probs, int64_t h) {
    for (int64_t i = 0; i < N * N; ++i)
      if (std::abs(probs[h * N * N + i] - 1.0 / N) > 1e-6) return false;
    return true;
  };
  const Weights w = random_weights(c, 401);

  load(a, zero_rows(w, 1 * dh, 2 * dh));  // q of head 1
  a.forward(tensor({B, N, D}, x), Mode::eval);
  Vec probs = to_double(a.probs());
  CHECK_FALSE(head_is_uniform(probs, 0));
  CHECK(head_is_uniform(probs, 1));

  load(a, zero_rows(w, D, 2 * D));  // all k
  a.forward(tensor({B, N, D}, x), Mode::eval);
  probs = to_double(a.probs());
  CHECK(head_is_uniform(probs, 0));
  CHECK(head_is_uniform(probs, 1));

  load(a, zero_rows(w, 2 * D, 3 * D));  // all v
  const Vec y = to_double(a.forward(tensor({B, N, D}, x), Mode::eval));
  Vec expected(B * N * D);
  for (int64_t t = 0; t < B * N; ++t)
    for (int64_t i = 0; i < D; ++i) expected[t * D + i] = static_cast<float>(w.b_proj[i]);
  require_close(y, expected, 0, 1e-6, "dst with v = 0");
}

TEST_CASE("attention keeps probabilities in eval mode and refuses backward after it", "[layer][attention]") {
  const Case c{2, 7, 12, 3, true, QkvLayout::separate_qk_v};
  Attention a("blocks.3.attn", {c.D, c.H, c.qkv_bias, c.qkv});
  REQUIRE(a.probs().empty());
  REQUIRE_THROWS_AS(a.backward(Tensor({c.B, c.N, c.D})), std::logic_error);
  const Weights w = random_weights(c, 500);
  load(a, w);
  const Vec x = random_vec(c.B * c.N * c.D, 501);
  ref::AttentionSaved saved;
  const Vec y_ref = ref_forward(c, x, w, saved);
  require_close_scaled(to_double(a.forward(tensor({c.B, c.N, c.D}, x), Mode::eval)), y_ref, "dst (eval)");
  const Vec probs = to_double(a.probs());
  require_close(probs, saved.probs, 1e-4, 1e-6, "probs (eval)");
  require_rows_sum_to_one(probs, c.N);
  REQUIRE_THROWS_WITH(a.backward(Tensor({c.B, c.N, c.D})), Catch::Contains("blocks.3.attn"));
  REQUIRE_THROWS_AS(a.backward(Tensor({c.B, c.N, c.D})), std::logic_error);
}

TEST_CASE("attention refuses bad configs and inputs naming the layer", "[layer][attention]") {
  REQUIRE_THROWS_WITH(Attention("blocks.1.attn", {10, 3}),
                      Catch::Contains("blocks.1.attn") && Catch::Contains("divisible"));
  REQUIRE_THROWS_AS(Attention("blocks.1.attn", {10, 3}), std::invalid_argument);
  REQUIRE_THROWS_WITH(Attention("blocks.1.attn", {0, 1}), Catch::Contains("blocks.1.attn"));
  REQUIRE_THROWS_WITH(Attention("blocks.1.attn", {8, 0}), Catch::Contains("blocks.1.attn"));
  REQUIRE_THROWS_WITH(Attention("blocks.1.attn", {8, -2}), Catch::Contains("blocks.1.attn"));

  Attention a("blocks.1.attn", {8, 2});
  auto refused = [&](const Tensor& t) {
    REQUIRE_THROWS_AS(a.forward(t, Mode::train), std::invalid_argument);
    REQUIRE_THROWS_WITH(a.forward(t, Mode::train), Catch::Contains("blocks.1.attn"));
  };
  refused(Tensor({2, 5, 6}));               // wrong last dim
  refused(Tensor({10, 8}));                 // rank 2
  refused(Tensor({1, 2, 5, 8}));            // rank 4
  refused(Tensor());                        // empty
  refused(Tensor({2, 5, 8}, DType::bf16));  // not f32
  REQUIRE_THROWS_WITH(a.forward(Tensor({2, 5, 6}), Mode::train), Catch::Contains("[2, 5, 6]"));

  a.forward(Tensor({2, 5, 8}), Mode::train);
  REQUIRE_THROWS_AS(a.backward(Tensor({2, 7, 8})), std::invalid_argument);
  REQUIRE_THROWS_WITH(a.backward(Tensor({2, 7, 8})), Catch::Contains("blocks.1.attn"));
}

TEST_CASE("attention rebuilds for a new input shape", "[layer][attention]") {
  for (auto layout : {QkvLayout::fused, QkvLayout::separate_qk_v}) {
    Attention a("blocks.2.attn", {12, 3, true, layout});
    check_against_reference(a, {2, 5, 12, 3, true, layout}, 600);
    check_against_reference(a, {3, 7, 12, 3, true, layout}, 610);
    check_against_reference(a, {2, 5, 12, 3, true, layout}, 620);
  }
}

TEST_CASE("bf16 attention (projections and QK^T / PV in bf16) stays close to the reference",
          "[layer][attention][bf16]") {
  VB_REQUIRE_BF16();
  const auto layout = GENERATE(QkvLayout::fused, QkvLayout::separate_qk_v);
  // The reference is fed the bf16-rounded src, weights and diff_dst the layer's primitives see. What is left
  // is the rounding of the intermediates oneDNN keeps in bf16: q, k, v, the probabilities, the context (and
  // in backward dO, dP, dS, dq, dk, dv), each 2^-9 relative, a handful in sequence: errors of a few 1e-3 of
  // the largest value, so 3e-2 relative with 1e-2 of the max absolute. Row sums of the bf16 probabilities:
  // each p is off by at most 2^-9 p, so |sum - 1| <= 2^-9 (~2e-3), checked at 4e-3.
  const Case c{2, 7, 12, 3, true, layout};
  INFO(describe(c));
  Attention a("blocks.0.attn", {c.D, c.H, c.qkv_bias, c.qkv, DType::bf16});
  const Weights w = round_bf16(random_weights(c, 800));
  load(a, w);
  const Vec x = round_bf16(random_vec(c.B * c.N * c.D, 801)),
            dy = round_bf16(random_vec(c.B * c.N * c.D, 802));
  ref::AttentionSaved saved;
  const Vec y_ref = ref_forward(c, x, w, saved);
  require_close_scaled(to_double(a.forward(tensor({c.B, c.N, c.D}, x), Mode::train)), y_ref, "dst", 3e-2,
                       1e-2);
  REQUIRE(a.probs().dtype() == DType::bf16);
  require_rows_sum_to_one(to_double(a.probs()), c.N, 4e-3);
  require_close_scaled(to_double(a.probs()), saved.probs, "probs", 1e-2, 4e-3);
  Weights g_ref;
  const Vec dx_ref = ref_backward(c, x, w, dy, g_ref);
  require_close_scaled(to_double(a.backward(tensor({c.B, c.N, c.D}, dy))), dx_ref, "diff_src", 3e-2, 1e-2);
  const Weights g = grads(a);
  require_close_scaled(g.w_qkv, g_ref.w_qkv, "diff qkv weight", 3e-2, 1e-2);
  require_close_scaled(g.w_proj, g_ref.w_proj, "diff proj weight", 3e-2, 1e-2);
}

TEST_CASE("attention at ViT-S/16 size matches the reference", "[layer][attention][slow]") {
  const Case c{1, 197, 384, 6, true, QkvLayout::fused};
  Attention a("blocks.0.attn", {c.D, c.H, c.qkv_bias, c.qkv});
  check_against_reference(a, c, 700);
}
