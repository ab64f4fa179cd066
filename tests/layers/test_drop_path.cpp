// DropPath: reference vs finite differences, oneDNN vs a reference given the documented mask (plain, blocked
// and batch-inner layouts), determinism in (seed, step), statistics of the mask, eval/p = 0 identity, bad
// input.
#include <catch2/catch.hpp>
#include <cmath>

#include "models/layers/drop_path.hpp"
#include "tests/reference/drop_path.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

TEST_CASE("drop_path reference backward matches finite differences", "[layer][drop_path]") {
  const int64_t B = 4, S = 3;
  const Vec x = random_vec(B * S, 1), dy = random_vec(B * S, 2), mask{0.0, 2.0, 2.0, 0.0};
  Vec dx(B * S);
  ref::drop_path_backward(dx.data(), dy.data(), mask.data(), B, S);
  require_gradient_matches_fd(
      [&](const Vec& v) {
        Vec y(B * S);
        ref::drop_path_forward(y.data(), v.data(), mask.data(), B, S);
        return weighted_sum(y, dy);
      },
      x, dx, "dx");
}

TEST_CASE("drop_path forward and backward match the reference given the mask", "[layer][drop_path]") {
  // One f32 multiply by 1/(1-p) (itself rounded to f32): rtol 1e-6.
  const double rtol = 1e-6, atol = 0;
  struct Case {
    Dims shape;
    tag src_tag, dy_tag;
    float p;
  };
  auto c = GENERATE(Case{{16, 5, 7}, tag::abc, tag::abc, 0.5f},           // (1, B, S) view
                    Case{{12, 20, 3, 3}, tag::nChw16c, tag::abcd, 0.3f},  // blocked, padded channels
                    Case{{10, 4, 6}, tag::bac, tag::abc, 0.4f},           // batch not outermost: general path
                    Case{{7, 9}, tag::ab, tag::ab, 0.25f});
  const int64_t B = c.shape[0], n = product(c.shape), S = n / B;
  INFO("shape " << to_string(c.shape) << " p " << c.p);
  const uint64_t seed = 1234;
  DropPath layer("blocks.3.drop_path", {c.p, seed});
  Tensor src(dnnl::memory::desc(c.shape, dt::f32, c.src_tag)),
      diff_dst(dnnl::memory::desc(c.shape, dt::f32, c.dy_tag));
  for (int64_t step = 0; step < 3; ++step) {
    INFO("step " << step);
    const Vec x = random_vec(n, 10 + step), dy = random_vec(n, 20 + step);
    Vec mask(B), y(n), dx(n);
    ref::drop_path_mask(mask.data(), seed, step, c.p, B);
    ref::drop_path_forward(y.data(), x.data(), mask.data(), B, S);
    ref::drop_path_backward(dx.data(), dy.data(), mask.data(), B, S);
    src.assign(to_float(x));
    diff_dst.assign(to_float(dy));
    REQUIRE(layer.step() == step);
    const Tensor& dst = layer.forward(src, Mode::train);
    REQUIRE(dst.desc() == src.desc());
    require_close(to_double(dst), y, rtol, atol, "dst");
    require_close(to_double(layer.mask()), mask, rtol, atol, "mask");
    const Tensor& diff_src = layer.backward(diff_dst);
    REQUIRE(diff_src.desc() == src.desc());
    require_close(to_double(diff_src), dx, rtol, atol, "diff_src");
  }
}

TEST_CASE("drop_path masks are deterministic in (seed, step) and resumable", "[layer][drop_path]") {
  const Dims shape{64, 3};
  const Tensor src = tensor(shape, random_vec(product(shape), 1, 0.5, 1.5));
  DropPath a("dp", {0.5f, 77}), b("dp", {0.5f, 77}), other_seed("dp", {0.5f, 78});
  std::vector<Vec> masks;
  for (int i = 0; i < 3; ++i) {
    const Vec ya = to_double(a.forward(src, Mode::train)), yb = to_double(b.forward(src, Mode::train));
    REQUIRE(ya == yb);
    masks.push_back(to_double(a.mask()));
    REQUIRE(to_double(other_seed.forward(src, Mode::train)) != ya);
  }
  REQUIRE(masks[0] != masks[1]);
  REQUIRE(masks[1] != masks[2]);
  DropPath resumed("dp", {0.5f, 77});
  resumed.set_step(2);
  resumed.forward(src, Mode::train);
  REQUIRE(to_double(resumed.mask()) == masks[2]);
  REQUIRE(resumed.step() == 3);
  REQUIRE_THROWS_WITH(resumed.set_step(-1), Catch::Contains("dp"));
}

TEST_CASE("drop_path keeps a fraction 1-p of the samples and preserves the expectation",
          "[layer][drop_path]") {
  const float p = 0.3f;
  const int64_t B = 40000, S = 2;
  DropPath layer("dp", {p, 5});
  const Tensor src = tensor({B, S}, Vec(B * S, 1.0));
  const Vec y = to_double(layer.forward(src, Mode::train));
  double kept = 0, mean = 0;
  int64_t bad = 0;  // samples not wholly kept (scaled) or wholly dropped
  for (int64_t b = 0; b < B; ++b) {
    bad += y[b * S] != y[b * S + 1] || !(y[b * S] == 0.0 || std::abs(y[b * S] - 1.0 / (1.0 - p)) < 1e-6);
    kept += y[b * S] != 0.0;
    mean += y[b * S] / B;
  }
  REQUIRE(bad == 0);
  const double sigma = std::sqrt(p * (1.0 - p) / B);  // of the kept fraction
  CHECK(std::abs(kept / B - (1.0 - p)) < 4 * sigma);
  CHECK(std::abs(mean - 1.0) < 4 * sigma / (1.0 - p));
}

TEST_CASE("drop_path is the identity in eval and with p = 0", "[layer][drop_path]") {
  const Dims shape{4, 3, 5};
  const Vec x = random_vec(product(shape), 3), dy = random_vec(product(shape), 4);
  const Tensor src = tensor(shape, x);
  DropPath layer("dp", {0.5f, 1});
  const Tensor& dst = layer.forward(src, Mode::eval);
  REQUIRE(dst.mem().get_data_handle() == src.mem().get_data_handle());
  REQUIRE(layer.step() == 0);
  REQUIRE_THROWS_AS(layer.backward(tensor(shape, dy)), std::logic_error);

  DropPath off("dp", {0.f, 1});
  REQUIRE(off.forward(src, Mode::train).mem().get_data_handle() == src.mem().get_data_handle());
  REQUIRE(off.step() == 1);
  const Tensor diff_dst = tensor(shape, dy);
  REQUIRE(off.backward(diff_dst).mem().get_data_handle() == diff_dst.mem().get_data_handle());
  Tensor diff_other(dnnl::memory::desc(shape, dt::f32, tag::acb));  // reordered into src's layout
  diff_other.assign(to_float(dy));
  const Tensor& diff_src = off.backward(diff_other);
  REQUIRE(diff_src.desc() == src.desc());
  require_close(to_double(diff_src), dy, 0, 0, "diff_src");
}

TEST_CASE("drop_path refuses bad input with its name", "[layer][drop_path]") {
  REQUIRE_THROWS_WITH(DropPath("blocks.0.drop_path", {1.f, 0}), Catch::Contains("blocks.0.drop_path"));
  REQUIRE_THROWS_WITH(DropPath("blocks.0.drop_path", {-0.1f, 0}), Catch::Contains("blocks.0.drop_path"));
  DropPath layer("blocks.0.drop_path", {0.2f, 0});
  REQUIRE_THROWS_AS(layer.backward(Tensor({2, 3})), std::logic_error);
  REQUIRE_THROWS_WITH(layer.forward(Tensor(), Mode::train), Catch::Contains("blocks.0.drop_path"));
  REQUIRE_THROWS_WITH(layer.forward(Tensor({2, 3}, DType::bf16), Mode::train),
                      Catch::Contains("blocks.0.drop_path"));
  layer.forward(Tensor({2, 3}), Mode::train);
  REQUIRE_THROWS_WITH(layer.backward(Tensor({3, 2})), Catch::Contains("blocks.0.drop_path"));
}
