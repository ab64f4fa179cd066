// TransformerBlock (and the Mlp it holds): the composed double reference vs finite differences, the oneDNN
// block vs the reference (ViT and TNT names and projection layouts, with and without stochastic depth,
// several shapes on one object), parameter names, bad input.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <string>

#include "models/blocks/transformer_block.hpp"
#include "tests/reference/transformer_block.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

namespace {

// Block parameters in double, PyTorch shapes; w_qkv holds [q | k | v] rows (qk stacked on v for TNT).
struct Weights {
  int64_t D, hidden;
  bool qkv_bias;
  Vec norm1_w, norm1_b, w_qkv, b_qkv, w_proj, b_proj, norm2_w, norm2_b, fc1_w, fc1_b, fc2_w, fc2_b;

  Weights(int64_t D_, int64_t hidden_, bool bias, uint64_t seed) : D(D_), hidden(hidden_), qkv_bias(bias) {
    auto scaled = [](Vec v, double lo, double s) {
      for (double& x : v) x = lo + s * x;
      return v;
    };
    const double sd = 1.0 / std::sqrt(double(D)), sh = 1.0 / std::sqrt(double(hidden));
    norm1_w = scaled(random_vec(D, seed + 1), 1.0, 0.2), norm1_b = scaled(random_vec(D, seed + 2), 0, 0.1);
    w_qkv = scaled(random_vec(3 * D * D, seed + 3), 0, 1.7 * sd);
    b_qkv = bias ? scaled(random_vec(3 * D, seed + 4), 0, 0.1) : Vec{};
    w_proj = scaled(random_vec(D * D, seed + 5), 0, 1.7 * sd),
    b_proj = scaled(random_vec(D, seed + 6), 0, 0.1);
    norm2_w = scaled(random_vec(D, seed + 7), 1.0, 0.2), norm2_b = scaled(random_vec(D, seed + 8), 0, 0.1);
    fc1_w = scaled(random_vec(hidden * D, seed + 9), 0, 1.7 * sd);
    fc1_b = scaled(random_vec(hidden, seed + 10), 0, 0.1);
    fc2_w = scaled(random_vec(D * hidden, seed + 11), 0, 1.7 * sh);
    fc2_b = scaled(random_vec(D, seed + 12), 0, 0.1);
  }
  static Weights zeros_like(const Weights& w) {
    Weights z = w;
    for (Vec* v : z.all()) std::fill(v->begin(), v->end(), 0.0);
    return z;
  }
  std::vector<Vec*> all() {
    return {&norm1_w, &norm1_b, &w_qkv, &b_qkv, &w_proj, &b_proj,
            &norm2_w, &norm2_b, &fc1_w, &fc1_b, &fc2_w,  &fc2_b};
  }
  ref::TransformerBlockParams<const double> cview() const {
    return {norm1_w.data(), norm1_b.data(), w_qkv.data(),   qkv_bias ? b_qkv.data() : nullptr,
            w_proj.data(),  b_proj.data(),  norm2_w.data(), norm2_b.data(),
            fc1_w.data(),   fc1_b.data(),   fc2_w.data(),   fc2_b.data()};
  }
  ref::TransformerBlockParams<double> view() {
    return {norm1_w.data(), norm1_b.data(), w_qkv.data(),   qkv_bias ? b_qkv.data() : nullptr,
            w_proj.data(),  b_proj.data(),  norm2_w.data(), norm2_b.data(),
            fc1_w.data(),   fc1_b.data(),   fc2_w.data(),   fc2_b.data()};
  }
  // The block's parameters by name (relative to the block) as the reference sees them: for the separate
  // qk / v layout, slices of w_qkv / b_qkv.
  std::map<std::string, Vec> by_name(const TransformerBlock::Names& n, QkvLayout layout) const {
    std::map<std::string, Vec> m;
    m[n.norm1 + ".weight"] = norm1_w, m[n.norm1 + ".bias"] = norm1_b;
    if (layout == QkvLayout::fused) {
      m[n.attn + ".qkv.weight"] = w_qkv;
      if (qkv_bias) m[n.attn + ".qkv.bias"] = b_qkv;
    } else {
      m[n.attn + ".qk.weight"] = Vec(w_qkv.begin(), w_qkv.begin() + 2 * D * D);
      m[n.attn + ".v.weight"] = Vec(w_qkv.begin() + 2 * D * D, w_qkv.end());
      if (qkv_bias) {
        m[n.attn + ".qk.bias"] = Vec(b_qkv.begin(), b_qkv.begin() + 2 * D);
        m[n.attn + ".v.bias"] = Vec(b_qkv.begin() + 2 * D, b_qkv.end());
      }
    }
    m[n.attn + ".proj.weight"] = w_proj, m[n.attn + ".proj.bias"] = b_proj;
    m[n.norm2 + ".weight"] = norm2_w, m[n.norm2 + ".bias"] = norm2_b;
    m[n.mlp + ".fc1.weight"] = fc1_w, m[n.mlp + ".fc1.bias"] = fc1_b;
    m[n.mlp + ".fc2.weight"] = fc2_w, m[n.mlp + ".fc2.bias"] = fc2_b;
    return m;
  }
};

double ref_loss(const Vec& x, const Weights& w, const Vec& m1, const Vec& m2, const Vec& dy, int64_t B,
                int64_t N, int64_t H, double eps) {
  Vec y(x.size());
  ref::TransformerBlockSaved s;
  ref::transformer_block_forward(y.data(), s, x.data(), w.cview(), m1.data(), m2.data(), B, N, w.D, H,
                                 w.hidden, eps);
  return weighted_sum(y, dy);
}

}  // namespace

TEST_CASE("transformer_block reference backward matches finite differences", "[model][transformer_block]") {
  const int64_t B = 2, N = 3, D = 4, H = 2, hidden = 6;
  const double eps = 1e-6;
  const Weights w(D, hidden, true, 100);
  const Vec x = random_vec(B * N * D, 1), dy = random_vec(B * N * D, 2);
  for (const auto& [m1, m2] : {std::pair<Vec, Vec>{{1, 1}, {1, 1}}, {{2, 0}, {0, 1.25}}}) {
    Vec dx(x.size());
    Weights g = Weights::zeros_like(w);
    ref::TransformerBlockSaved s;
    Vec y(x.size());
    ref::transformer_block_forward(y.data(), s, x.data(), w.cview(), m1.data(), m2.data(), B, N, D, H, hidden,
                                   eps);
    ref::transformer_block_backward(dx.data(), g.view(), dy.data(), s, x.data(), w.cview(), m1.data(),
                                    m2.data(), B, N, D, H, hidden);
    require_gradient_matches_fd([&](const Vec& v) { return ref_loss(v, w, m1, m2, dy, B, N, H, eps); }, x, dx,
                                "dx");
    Weights wp = w;
    const auto params = wp.all();
    const auto grads = g.all();
    for (size_t k = 0; k < params.size(); ++k) {
      const Vec p0 = *params[k];
      auto loss = [&](const Vec& v) {
        *params[k] = v;
        const double l = ref_loss(x, wp, m1, m2, dy, B, N, H, eps);
        *params[k] = p0;
        return l;
      };
      require_gradient_matches_fd(loss, p0, *grads[k], "param " + std::to_string(k));
    }
  }
}

TEST_CASE("transformer_block forward and backward match the reference", "[model][transformer_block]") {
  // f32 against double through LN, attention (softmax) and GELU with O(1) activations: forward rtol 2e-5 +
  // atol 2e-5; gradients are sums over B*N rows, rtol 1e-4 + atol 1e-4 (scaled by their magnitude ~1).
  struct Case {
    const char* what;
    TransformerBlock::Names names;
    QkvLayout layout;
    bool qkv_bias;
    float eps, drop;
    int64_t D, H, hidden;
  };
  const TransformerBlock::Names vit{}, inner{"norm_in", "attn_in", "norm_mlp_in", "mlp_in"},
      outer{"norm_out", "attn_out", "norm_mlp", "mlp"};
  auto c = GENERATE_COPY(
      Case{"vit", vit, QkvLayout::fused, true, 1e-6f, 0.f, 8, 2, 16},
      Case{"vit drop_path", vit, QkvLayout::fused, true, 1e-6f, 0.5f, 12, 3, 20},
      Case{"tnt inner", inner, QkvLayout::separate_qk_v, false, 1e-5f, 0.f, 8, 2, 16},
      Case{"tnt outer drop_path", outer, QkvLayout::separate_qk_v, false, 1e-5f, 0.4f, 6, 2, 12},
      Case{"separate with bias", vit, QkvLayout::separate_qk_v, true, 1e-6f, 0.f, 4, 1, 6});
  INFO(c.what);
  const int64_t D = c.D, H = c.H, hidden = c.hidden;
  const uint64_t seed = 7;
  TransformerBlock block("blocks.3",
                         {D, H, c.qkv_bias, c.layout, hidden, c.eps, c.drop, seed, DType::f32, c.names});
  const Weights w(D, hidden, c.qkv_bias, 200);
  auto values = w.by_name(c.names, c.layout);
  REQUIRE(block.params().size() == values.size());
  for (Param* p : block.params()) {
    INFO(p->name);
    REQUIRE(values.count(p->name) == 1);
    p->value.assign(to_float(values[p->name]));
  }
  bool dropped = false, kept = false;
  int64_t step = 0;
  // Several shapes on one block (rebuilds), and a repeated shape (next drop-path step).
  for (auto [B, N] : {std::pair<int64_t, int64_t>{4, 5}, {4, 5}, {2, 9}, {6, 1}, {4, 5}}) {
    INFO("B " << B << " N " << N << " step " << step);
    const Vec x = random_vec(B * N * D, 10 * B + N + step, -1.5, 1.5),
              dy = random_vec(B * N * D, 20 * B + N + step);
    Vec m1(B, 1.0), m2(B, 1.0);
    if (c.drop > 0) {
      ref::drop_path_mask(m1.data(), seed, step, c.drop, B);
      ref::drop_path_mask(m2.data(), seed + 1, step, c.drop, B);
      for (double m : m1) (m == 0 ? dropped : kept) = true;
      for (double m : m2) (m == 0 ? dropped : kept) = true;
    }
    Vec y(x.size()), dx(x.size());
    ref::TransformerBlockSaved s;
    Weights g = Weights::zeros_like(w);
    ref::transformer_block_forward(y.data(), s, x.data(), w.cview(), m1.data(), m2.data(), B, N, D, H, hidden,
                                   c.eps);
    ref::transformer_block_backward(dx.data(), g.view(), dy.data(), s, x.data(), w.cview(), m1.data(),
                                    m2.data(), B, N, D, H, hidden);
    const Tensor& dst = block.forward(tensor({B, N, D}, x), Mode::train);
    ++step;
    REQUIRE(dst.shape() == Dims{B, N, D});
    require_close(to_double(dst), y, 2e-5, 2e-5, "dst");
    // Attention probabilities exposed: rows of block 0's probs match the reference's.
    require_close(to_double(block.attn().probs()), s.attn.probs, 1e-5, 1e-6, "attn probs");
    const Tensor& diff_src = block.backward(tensor({B, N, D}, dy));
    require_close(to_double(diff_src), dx, 1e-4, 1e-4, "diff_src");
    const auto grads = g.by_name(c.names, c.layout);
    for (Param* p : block.params()) require_close(to_double(p->grad), grads.at(p->name), 1e-4, 1e-4, p->name);
  }
  REQUIRE(block.drop_path1().step() == step);
  if (c.drop > 0) REQUIRE((dropped && kept));  // the masks really dropped some samples and kept others
  // Eval: no stochastic depth, same weights.
  const int64_t B = 3, N = 4;
  const Vec x = random_vec(B * N * D, 99);
  Vec y(x.size()), ones(B, 1.0);
  ref::TransformerBlockSaved s;
  ref::transformer_block_forward(y.data(), s, x.data(), w.cview(), ones.data(), ones.data(), B, N, D, H,
                                 hidden, c.eps);
  require_close(to_double(block.forward(tensor({B, N, D}, x), Mode::eval)), y, 2e-5, 2e-5, "eval dst");
}

TEST_CASE("transformer_block names its parameters in state_dict order", "[model][transformer_block]") {
  TransformerBlock vit("blocks.0", {8, 2, true, QkvLayout::fused, 16});
  std::vector<std::string> names;
  std::vector<Dims> shapes;
  for (Param* p : vit.params()) names.push_back(p->name), shapes.push_back(p->value.shape());
  REQUIRE(names == std::vector<std::string>{"norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias",
                                            "attn.proj.weight", "attn.proj.bias", "norm2.weight",
                                            "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight",
                                            "mlp.fc2.bias"});
  REQUIRE(shapes ==
          std::vector<Dims>{{8}, {8}, {24, 8}, {24}, {8, 8}, {8}, {8}, {8}, {16, 8}, {16}, {8, 16}, {8}});
  // LayerNorm starts at 1 / 0, the rest at zero.
  REQUIRE(vit.params()[0]->value.to_vector() == std::vector<float>(8, 1.f));
  TransformerBlock tnt("blocks.1", {4,
                                    2,
                                    false,
                                    QkvLayout::separate_qk_v,
                                    8,
                                    1e-5f,
                                    0.f,
                                    0,
                                    DType::f32,
                                    {"norm_out", "attn_out", "norm_mlp", "mlp"}});
  names.clear();
  for (Param* p : tnt.params()) names.push_back(p->name);
  REQUIRE(names == std::vector<std::string>{"norm_out.weight", "norm_out.bias", "attn_out.qk.weight",
                                            "attn_out.v.weight", "attn_out.proj.weight", "attn_out.proj.bias",
                                            "norm_mlp.weight", "norm_mlp.bias", "mlp.fc1.weight",
                                            "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"});
}

TEST_CASE("transformer_block refuses bad input with its name", "[model][transformer_block]") {
  using C = TransformerBlock::Config;
  REQUIRE_THROWS_WITH(TransformerBlock("blocks.2", C{6, 4, true, QkvLayout::fused, 8}),
                      Catch::Contains("blocks.2"));
  REQUIRE_THROWS_WITH(TransformerBlock("blocks.2", C{8, 2, true, QkvLayout::fused, 0}),
                      Catch::Contains("blocks.2"));
  REQUIRE_THROWS_WITH(TransformerBlock("blocks.2", C{8, 2, true, QkvLayout::fused, 8, 1e-6f, 1.f}),
                      Catch::Contains("blocks.2"));
  REQUIRE_THROWS_WITH(Mlp("blocks.2.mlp", {8, 0}), Catch::Contains("blocks.2.mlp"));
  TransformerBlock block("blocks.2", C{8, 2, true, QkvLayout::fused, 16});
  REQUIRE_THROWS_AS(block.backward(Tensor({2, 3, 8})), std::logic_error);
  REQUIRE_THROWS_WITH(block.forward(Tensor({2, 3, 6}), Mode::train),
                      Catch::Contains("blocks.2") && Catch::Contains("[2, 3, 6]"));
  REQUIRE_THROWS_WITH(block.forward(Tensor({2, 3, 8}, DType::bf16), Mode::train),
                      Catch::Contains("blocks.2"));
  block.forward(Tensor({2, 3, 8}), Mode::eval);
  REQUIRE_THROWS_AS(block.backward(Tensor({2, 3, 8})), std::logic_error);
  block.forward(Tensor({2, 3, 8}), Mode::train);
  REQUIRE_THROWS_WITH(block.backward(Tensor({2, 4, 8})), Catch::Contains("blocks.2"));
}

namespace {

// The same block twice (same weights), once with the eval residual adds fused into the GEMMs (the default)
// and once with them run separately (fuse_residual_eval false, the training path's adds), compared on
// several shapes, a repeated shape (an accumulation that forgot to restart from x would double the
// branches), and the fused block's own output fed back in (x aliasing the buffer it accumulates into).
void require_fused_residual_matches_unfused(DType dtype) {
  const TransformerBlock::Names vit{}, outer{"norm_out", "attn_out", "norm_mlp", "mlp"};
  for (const auto layout : {QkvLayout::fused, QkvLayout::separate_qk_v}) {
    INFO((layout == QkvLayout::fused ? "vit" : "tnt") << (dtype == DType::bf16 ? " bf16" : " f32"));
    const int64_t D = 16, H = 2, hidden = 40;
    const auto names = layout == QkvLayout::fused ? vit : outer;
    TransformerBlock::Config c{D, H, true, layout, hidden, 1e-6f, 0.f, 3, dtype, names};
    TransformerBlock fused("blocks.1", c);
    c.fuse_residual_eval = false;
    TransformerBlock unfused("blocks.1", c);
    const Weights w(D, hidden, true, 300);
    auto values = w.by_name(names, layout);
    for (TransformerBlock* b : {&fused, &unfused})
      for (Param* p : b->params()) p->value.assign(to_float(values.at(p->name)));
    for (auto [B, N] : {std::pair<int64_t, int64_t>{4, 5}, {4, 5}, {2, 17}, {4, 5}}) {
      INFO("B " << B << " N " << N);
      const Tensor x = tensor({B, N, D}, random_vec(B * N * D, 40 * B + N, -1.5, 1.5));
      const Vec expected = to_double(unfused.forward(x, Mode::eval));
      const Tensor& y = fused.forward(x, Mode::eval);
      REQUIRE(fused.residual_fused());  // oneDNN built the sum post-op kernels (f32 and bf16 on x64)
      // The same function to f32 rounding, not to the bit: the inference pd with the sum post-op may run
      // another GEMM kernel than the training pd the unfused path uses (it does under AVX2, not on AVX-512).
      require_close_scaled(to_double(y), expected, 1e-5, "fused vs unfused");
      REQUIRE(x.to_vector() == to_float(random_vec(B * N * D, 40 * B + N, -1.5, 1.5)));  // x untouched
      const Vec expected2 = to_double(unfused.forward(unfused.forward(x, Mode::eval), Mode::eval));
      require_close_scaled(to_double(fused.forward(fused.forward(x, Mode::eval), Mode::eval)), expected2,
                           1e-5, "fused vs unfused, the block's own output fed back");
    }
    // Training is not fused: after an eval forward, a train forward and backward still work as before.
    const Tensor x = tensor({2, 3, D}, random_vec(2 * 3 * D, 5));
    REQUIRE(fused.forward(x, Mode::train).to_vector() == unfused.forward(x, Mode::train).to_vector());
    REQUIRE(fused.backward(x).to_vector() == unfused.backward(x).to_vector());
    fused.forward(x, Mode::eval);
    REQUIRE_THROWS_AS(fused.backward(x), std::logic_error);  // an eval forward leaves nothing for backward
  }
}

}  // namespace

TEST_CASE("transformer_block eval forward with fused residual adds equals the unfused adds",
          "[model][transformer_block]") {
  require_fused_residual_matches_unfused(DType::f32);
}

TEST_CASE("transformer_block bf16 eval forward with fused residual adds equals the unfused adds",
          "[model][transformer_block][bf16]") {
  VB_REQUIRE_BF16();
  require_fused_residual_matches_unfused(DType::bf16);
}
