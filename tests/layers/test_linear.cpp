// Linear: reference vs finite differences, oneDNN vs reference (f32 and bf16), layouts, rebuilds, bad input.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

#include "models/layers/linear.hpp"
#include "tests/reference/linear.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

namespace {

struct Case {
  Dims src_shape;
  int64_t out;
  bool bias;
};

struct Expected {
  Vec y, dx, dw, db;
};

Expected reference(const Vec& x, const Vec& w, const Vec& b, const Vec& dy, int64_t M, int64_t in,
                   int64_t out, bool bias) {
  Expected e{Vec(M * out), Vec(M * in), Vec(out * in), Vec(bias ? out : 0)};
  ref::linear_forward(e.y.data(), x.data(), w.data(), bias ? b.data() : nullptr, M, in, out);
  ref::linear_backward(e.dx.data(), e.dw.data(), bias ? e.db.data() : nullptr, dy.data(), x.data(), w.data(),
                       M, in, out);
  return e;
}

}  // namespace

TEST_CASE("linear reference backward matches finite differences", "[layer][linear]") {
  const int64_t M = 3, in = 5, out = 4;
  const Vec x = random_vec(M * in, 1), w = random_vec(out * in, 2), b = random_vec(out, 3),
            dy = random_vec(M * out, 4);
  Vec dx(M * in), dw(out * in), db(out);
  ref::linear_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), M, in, out);
  auto loss = [&](const Vec& xx, const Vec& ww, const Vec& bb) {
    Vec y(M * out);
    ref::linear_forward(y.data(), xx.data(), ww.data(), bb.data(), M, in, out);
    return weighted_sum(y, dy);
  };
  require_gradient_matches_fd([&](const Vec& v) { return loss(v, w, b); }, x, dx, "dx");
  require_gradient_matches_fd([&](const Vec& v) { return loss(x, v, b); }, w, dw, "dw");
  require_gradient_matches_fd([&](const Vec& v) { return loss(x, w, v); }, b, db, "db");
}

TEST_CASE("linear f32 forward and backward match the reference", "[layer][linear]") {
  // f32 dot products of <= 37 terms of magnitude <= 1 against double: errors ~1e-6.
  const double rtol = 1e-5, atol = 1e-5;
  auto c = GENERATE(Case{{5, 7}, 3, true}, Case{{2, 3, 7}, 5, false}, Case{{1, 1}, 1, true},
                    Case{{3, 13, 37}, 19, true}, Case{{2, 197, 16}, 48, true});
  const int64_t in = c.src_shape.back(), M = product(c.src_shape) / in;
  INFO("src " << to_string(c.src_shape) << " out " << c.out << " bias " << c.bias);
  Linear lin("blocks.0.mlp.fc1", {in, c.out, c.bias});
  REQUIRE(lin.params().size() == (c.bias ? 2u : 1u));
  const Vec x = random_vec(M * in, 11), w = random_vec(c.out * in, 12), b = random_vec(c.out, 13),
            dy = random_vec(M * c.out, 14);
  lin.weight().value.assign(to_float(w));
  if (c.bias) lin.bias().value.assign(to_float(b));
  const auto e = reference(x, w, b, dy, M, in, c.out, c.bias);

  Dims dst_shape = c.src_shape;
  dst_shape.back() = c.out;
  const Tensor& y = lin.forward(tensor(c.src_shape, x), Mode::train);
  REQUIRE(y.shape() == dst_shape);
  REQUIRE(y.plain());
  require_close(to_double(y), e.y, rtol, atol, "dst");
  // Backward twice: gradients are overwritten, not accumulated.
  for (int rep = 0; rep < 2; ++rep) {
    const Tensor& dx = lin.backward(tensor(dst_shape, dy));
    REQUIRE(dx.shape() == c.src_shape);
    REQUIRE(dx.plain());
    require_close(to_double(dx), e.dx, rtol, atol, "diff_src");
    require_close(to_double(lin.weight().grad), e.dw, rtol, atol * M, "diff_weights");
    if (c.bias) require_close(to_double(lin.bias().grad), e.db, rtol, atol * M, "diff_bias");
  }
}

TEST_CASE("linear with fuse_gelu_eval: eval forward is exact GELU of the train forward", "[layer][linear]") {
  // The GELU post-op runs on the f32 accumulator; exact GELU(v) = v/2 (1 + erf(v / sqrt 2)) in double.
  auto c = GENERATE(Case{{2, 197, 16}, 48, true}, Case{{5, 7}, 3, false});
  const int64_t in = c.src_shape.back(), M = product(c.src_shape) / in;
  Linear lin("blocks.0.mlp.fc1", {in, c.out, c.bias, DType::f32, DType::f32, true});
  const Vec x = random_vec(M * in, 21), w = random_vec(c.out * in, 22), b = random_vec(c.out, 23);
  lin.weight().value.assign(to_float(w));
  if (c.bias) lin.bias().value.assign(to_float(b));
  const auto e = reference(x, w, b, Vec(M * c.out), M, in, c.out, c.bias);
  Vec gelu(e.y.size());
  for (size_t i = 0; i < gelu.size(); ++i) gelu[i] = 0.5 * e.y[i] * (1.0 + std::erf(e.y[i] / std::sqrt(2.0)));

  require_close(to_double(lin.forward(tensor(c.src_shape, x), Mode::train)), e.y, 1e-5, 1e-5, "train dst");
  REQUIRE(lin.gelu_fused_in_eval());
  require_close(to_double(lin.forward(tensor(c.src_shape, x), Mode::eval)), gelu, 1e-5, 1e-5, "eval dst");
  // Back to train: the plain product again, and backward works after it.
  require_close(to_double(lin.forward(tensor(c.src_shape, x), Mode::train)), e.y, 1e-5, 1e-5,
                "train dst again");
  lin.backward(tensor(lin.forward(tensor(c.src_shape, x), Mode::train).shape(), random_vec(M * c.out, 24)));
}

TEST_CASE("linear forward_accumulate adds x W^T + b into dst, fused or by the binary-add fallback",
          "[layer][linear]") {
  // fuse_sum_eval = false runs the path oneDNN takes where it has no sum post-op kernel (the layer's own dst,
  // then a binary add), so both paths are checked on every CPU; dst is the residual stream r: r + x W^T + b.
  auto c = GENERATE(Case{{2, 17, 24}, 40, true}, Case{{5, 7}, 3, false});
  const bool fuse = GENERATE(true, false);
  const int64_t in = c.src_shape.back(), M = product(c.src_shape) / in;
  Linear::Config cfg{in, c.out, c.bias};
  cfg.fuse_sum_eval = fuse;
  Linear lin("blocks.0.attn.proj", cfg);
  const Vec x = random_vec(M * in, 31), w = random_vec(c.out * in, 32), b = random_vec(c.out, 33),
            r = random_vec(M * c.out, 34);
  lin.weight().value.assign(to_float(w));
  if (c.bias) lin.bias().value.assign(to_float(b));
  const auto e = reference(x, w, b, Vec(M * c.out), M, in, c.out, c.bias);
  Vec want(r.size());
  for (size_t i = 0; i < want.size(); ++i) want[i] = r[i] + e.y[i];
  Dims dst_shape = c.src_shape;
  dst_shape.back() = c.out;
  const Tensor src = tensor(c.src_shape, x);
  Tensor dst = tensor(dst_shape, r);
  lin.forward_accumulate(src, dst);
  if (!fuse) REQUIRE_FALSE(lin.sum_fused());  // the fallback ran (with fuse, oneDNN decides)
  require_close(to_double(dst), want, 1e-5, 1e-5, "dst after one accumulation");
  lin.forward_accumulate(src, dst);  // again: r + 2 (x W^T + b), the primitives reused
  for (size_t i = 0; i < want.size(); ++i) want[i] += e.y[i];
  require_close(to_double(dst), want, 1e-5, 1e-5, "dst after two accumulations");
  // A plain eval forward afterwards returns the product alone, in the layer's own dst.
  require_close(to_double(lin.forward(src, Mode::eval)), e.y, 1e-5, 1e-5, "eval dst");
}

TEST_CASE("linear bf16 matches the reference on bf16-rounded operands", "[layer][linear]") {
  VB_REQUIRE_BF16();
  // The primitive sees bf16 src/weights/diff_dst and accumulates in f32, so the reference is fed the same
  // bf16-rounded values; what remains is f32 accumulation. diff_src is written in f32 directly (brgemm
  // kernels; a CPU where oneDNN only offers a bf16 diff_src would need rtol 1e-2 for it).
  auto c = GENERATE(Case{{6, 32}, 48, true}, Case{{2, 5, 40}, 24, false});
  const int64_t in = c.src_shape.back(), M = product(c.src_shape) / in;
  Linear lin("head", {in, c.out, c.bias, DType::bf16});
  const Vec x = random_vec(M * in, 21), w = random_vec(c.out * in, 22), b = random_vec(c.out, 23),
            dy = random_vec(M * c.out, 24);
  lin.weight().value.assign(to_float(w));
  if (c.bias) lin.bias().value.assign(to_float(b));
  const auto e = reference(round_bf16(x), round_bf16(w), b, round_bf16(dy), M, in, c.out, c.bias);
  Dims dst_shape = c.src_shape;
  dst_shape.back() = c.out;
  const Tensor& y = lin.forward(tensor(c.src_shape, x), Mode::train);
  REQUIRE(y.dtype() == DType::f32);
  require_close(to_double(y), e.y, 1e-5, 1e-5, "dst");
  const Tensor& dx = lin.backward(tensor(dst_shape, dy));
  REQUIRE(dx.dtype() == DType::f32);
  require_close(to_double(dx), e.dx, 1e-5, 1e-4, "diff_src");
  require_close(to_double(lin.weight().grad), e.dw, 1e-5, 1e-4, "diff_weights");
  if (c.bias) require_close(to_double(lin.bias().grad), e.db, 1e-5, 1e-4, "diff_bias");
  // And the bf16 result is close to the exact f32 one (bf16 has an 8-bit mantissa).
  const auto exact = reference(x, w, b, dy, M, in, c.out, c.bias);
  require_close(to_double(y), exact.y, 2e-2, 5e-2, "dst vs unrounded reference");
}

TEST_CASE("linear accepts non-plain src and diff_dst, returns diff_src in the src layout",
          "[layer][linear]") {
  const Dims shape{3, 4, 6};
  const int64_t in = 6, out = 5, M = 12;
  Linear lin("attn.proj", {in, out});
  const Vec x = random_vec(M * in, 31), w = random_vec(out * in, 32), b = random_vec(out, 33),
            dy = random_vec(M * out, 34);
  lin.weight().value.assign(to_float(w));
  lin.bias().value.assign(to_float(b));
  const auto e = reference(x, w, b, dy, M, in, out, true);
  Tensor src(dnnl::memory::desc(shape, dt::f32, tag::acb));  // last axis not contiguous
  src.assign(to_float(x));
  require_close(to_double(lin.forward(src, Mode::train)), e.y, 1e-5, 1e-5, "dst");
  Tensor diff_dst(dnnl::memory::desc({3, 4, out}, dt::f32, tag::bac));
  diff_dst.assign(to_float(dy));
  const Tensor& dx = lin.backward(diff_dst);
  REQUIRE(dx.desc() == src.desc());
  require_close(to_double(dx), e.dx, 1e-5, 1e-5, "diff_src");
  require_close(to_double(lin.weight().grad), e.dw, 1e-5, 1e-4, "diff_weights");
  require_close(to_double(lin.bias().grad), e.db, 1e-5, 1e-4, "diff_bias");
}

TEST_CASE("linear rebuilds for a new shape and picks up new weights", "[layer][linear]") {
  const int64_t in = 8, out = 6;
  Linear lin("fc", {in, out});
  uint64_t seed = 40;
  for (const Dims& shape : {Dims{2, 3, 8}, Dims{5, 8}, Dims{4, 1, 8}, Dims{2, 3, 8}}) {
    INFO("src " << to_string(shape));
    const int64_t M = product(shape) / in;
    const Vec x = random_vec(M * in, ++seed), w = random_vec(out * in, ++seed), b = random_vec(out, ++seed),
              dy = random_vec(M * out, ++seed);
    lin.weight().value.assign(to_float(w));
    lin.bias().value.assign(to_float(b));
    const auto e = reference(x, w, b, dy, M, in, out, true);
    Dims dst_shape = shape;
    dst_shape.back() = out;
    const Tensor& y = lin.forward(tensor(shape, x), Mode::train);
    REQUIRE(y.shape() == dst_shape);
    require_close(to_double(y), e.y, 1e-5, 1e-5, "dst");
    require_close(to_double(lin.backward(tensor(dst_shape, dy))), e.dx, 1e-5, 1e-5, "diff_src");
    require_close(to_double(lin.weight().grad), e.dw, 1e-5, 1e-4, "diff_weights");
  }
}

TEST_CASE("linear refuses bad input and misuse", "[layer][linear]") {
  REQUIRE_THROWS_WITH(Linear("fc", {0, 3}), Catch::Contains("fc"));
  REQUIRE_THROWS_WITH(Linear("fc", {3, -1}), Catch::Contains("fc"));
  Linear lin("blocks.1.mlp.fc2", {4, 3});
  const auto name = Catch::Contains("blocks.1.mlp.fc2");
  REQUIRE_THROWS_WITH(lin.forward(Tensor({2, 5}), Mode::train), name && Catch::Contains("[2, 5]"));
  REQUIRE_THROWS_WITH(lin.forward(Tensor({4}), Mode::train), name);
  REQUIRE_THROWS_WITH(lin.forward(Tensor({1, 2, 3, 4}), Mode::train), name);
  REQUIRE_THROWS_WITH(lin.forward(Tensor(), Mode::train), name);
  REQUIRE_THROWS_WITH(lin.forward(Tensor({2, 4}, DType::bf16), Mode::train), name && Catch::Contains("bf16"));
  REQUIRE_THROWS_AS(lin.backward(Tensor({2, 3})), std::logic_error);  // before any forward
  lin.forward(Tensor({2, 4}), Mode::eval);
  REQUIRE_THROWS_WITH(lin.backward(Tensor({2, 3})), name);  // after an eval forward
  lin.forward(Tensor({2, 4}), Mode::train);
  REQUIRE_THROWS_WITH(lin.backward(Tensor({2, 4})), name && Catch::Contains("[2, 4]"));
  REQUIRE_NOTHROW(lin.backward(Tensor({2, 3})));
}

TEST_CASE("linear at ViT-S/16 qkv size matches the reference", "[layer][linear][slow]") {
  const Dims shape{2, 197, 384};
  const int64_t in = 384, out = 1152, M = 2 * 197;
  Linear lin("blocks.0.attn.qkv", {in, out});
  const Vec x = random_vec(M * in, 51), w = random_vec(out * in, 52, -0.05, 0.05), b = random_vec(out, 53),
            dy = random_vec(M * out, 54);
  lin.weight().value.assign(to_float(w));
  lin.bias().value.assign(to_float(b));
  const auto e = reference(x, w, b, dy, M, in, out, true);
  require_close(to_double(lin.forward(tensor(shape, x), Mode::train)), e.y, 1e-4, 1e-5, "dst");
  require_close(to_double(lin.backward(tensor({2, 197, out}, dy))), e.dx, 1e-4, 1e-5, "diff_src");
  // diff_weights sums 394 products of magnitude <= 1.
  require_close(to_double(lin.weight().grad), e.dw, 1e-4, 1e-4, "diff_weights");
  require_close(to_double(lin.bias().grad), e.db, 1e-4, 1e-4, "diff_bias");
}

TEST_CASE("linear converts its weight once per change and never uses a stale copy", "[layer][linear]") {
  // in and out of 64: oneDNN's inner product takes its f32 weights blocked on AVX-512/AVX2, so the forward
  // reorders them; where it does not (plain weights), the counts stay 0 and only the values are checked.
  const int64_t M = 32, in = 64, out = 64;
  Linear lin("fc", {in, out});
  const Vec x = random_vec(M * in, 71), b = random_vec(out, 72), dy = random_vec(M * out, 73);
  lin.bias().value.assign(to_float(b));
  Vec w = random_vec(out * in, 74);
  lin.weight().value.assign(to_float(w));
  const Tensor src = tensor({M, in}, x);

  // An eval over several batches, and forward + backward of one step: the weight is converted once.
  require_close(to_double(lin.forward(src, Mode::eval)), reference(x, w, b, dy, M, in, out, true).y, 1e-5,
                1e-5, "dst");
  const int64_t once = lin.weight_reorders();
  REQUIRE(once <= 1);
  for (int i = 0; i < 3; ++i) lin.forward(src, Mode::eval);
  lin.forward(src, Mode::train);
  lin.backward(tensor({M, out}, dy));
  REQUIRE(lin.weight_reorders() == once);

  // Changed through assign(), data() and a pointer kept across a forward (then touch()): each time the next
  // forward and backward see the new weight.
  const auto check = [&](const char* how) {
    INFO(how);
    const auto e = reference(x, w, b, dy, M, in, out, true);
    require_close(to_double(lin.forward(src, Mode::train)), e.y, 1e-5, 1e-5, "dst after the change");
    require_close(to_double(lin.backward(tensor({M, out}, dy))), e.dx, 1e-5, 1e-5,
                  "diff_src after the change");
  };
  const int64_t before = lin.weight_reorders();
  w = random_vec(out * in, 75);
  lin.weight().value.assign(to_float(w));
  check("assign");
  REQUIRE(lin.weight_reorders() == before + once);
  w[5] += 0.5;
  lin.weight().value.data()[5] = static_cast<float>(w[5]);
  check("data()");
  float* kept = lin.weight().value.data();
  lin.forward(src, Mode::eval);
  w[7] -= 0.25;
  kept[7] = static_cast<float>(w[7]);
  lin.weight().value.touch();
  check("a kept pointer and touch()");
}
