// GlobalAvgPool: reference vs finite differences, oneDNN vs reference for plain and blocked inputs
// (dst always plain (N, C), diff_src in src's layout), rebuilds, bad inputs.
#include <catch2/catch.hpp>

#include "models/layers/avgpool.hpp"
#include "tests/reference/avgpool.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

TEST_CASE("avgpool reference backward matches finite differences", "[layer][avgpool]") {
  const int64_t N = 2, C = 3, H = 4, W = 5;
  const Vec x = random_vec(N * C * H * W, 1), dy = random_vec(N * C, 2);
  Vec dx;
  ref::avgpool_backward(dx, dy, N, C, H, W);
  require_gradient_matches_fd(
      [&](const Vec& v) {
        Vec y;
        ref::avgpool_forward(y, v, N, C, H, W);
        return weighted_sum(y, dy);
      },
      x, dx, "dinp");
}

TEST_CASE("avgpool forward and backward match the reference in plain and blocked layouts",
          "[layer][avgpool]") {
  // Means of up to 49 f32 values in [-1, 1): errors ~1e-7.
  for (const Dims& shape : {Dims{2, 20, 7, 7}, Dims{3, 16, 5, 3}, Dims{1, 4, 1, 1}})
    for (const auto layout : {tag::nchw, tag::nChw16c, tag::nhwc}) {
      INFO(to_string(shape) << " layout " << static_cast<int>(layout));
      const int64_t N = shape[0], C = shape[1], H = shape[2], W = shape[3];
      const Vec x = random_vec(product(shape), C + H), dy = random_vec(N * C, C + H + 1);
      Vec y_ref, dx_ref;
      ref::avgpool_forward(y_ref, x, N, C, H, W);
      ref::avgpool_backward(dx_ref, dy, N, C, H, W);
      GlobalAvgPool pool("avgpool");
      Tensor src(dnnl::memory::desc(shape, dt::f32, layout));
      src.assign(to_float(x));
      const Tensor& y = pool.forward(src, Mode::train);
      REQUIRE(y.shape() == Dims{N, C});
      REQUIRE(y.plain());
      require_close(to_double(y), y_ref, 1e-6, 1e-6, "dst");
      const Tensor& dx = pool.backward(tensor({N, C}, dy));
      REQUIRE(dx.desc() == src.desc());
      require_close(to_double(dx), dx_ref, 1e-6, 1e-7, "diff_src");
    }
}

TEST_CASE("avgpool rebuilds for a new shape and takes a non-plain diff_dst", "[layer][avgpool]") {
  GlobalAvgPool pool("avgpool");
  for (const Dims& shape : {Dims{2, 8, 4, 4}, Dims{3, 5, 2, 7}, Dims{2, 8, 4, 4}}) {
    INFO(to_string(shape));
    const int64_t N = shape[0], C = shape[1], H = shape[2], W = shape[3];
    const Vec x = random_vec(product(shape), N + C), dy = random_vec(N * C, N + C + 1);
    Vec y_ref, dx_ref;
    ref::avgpool_forward(y_ref, x, N, C, H, W);
    ref::avgpool_backward(dx_ref, dy, N, C, H, W);
    require_close(to_double(pool.forward(tensor(shape, x), Mode::train)), y_ref, 1e-6, 1e-6, "dst");
    // diff_dst (N, C) stored column-major
    Tensor diff_dst(dnnl::memory::desc({N, C}, dt::f32, tag::ba));
    diff_dst.assign(to_float(dy));
    require_close(to_double(pool.backward(diff_dst)), dx_ref, 1e-6, 1e-7, "diff_src");
  }
}

TEST_CASE("avgpool refuses bad inputs with its name", "[layer][avgpool]") {
  GlobalAvgPool pool("head.pool");
  REQUIRE_THROWS_AS(pool.backward(Tensor({2, 3})), std::logic_error);
  REQUIRE_THROWS_WITH(pool.backward(Tensor({2, 3})), Catch::Contains("head.pool"));
  REQUIRE_THROWS_WITH(pool.forward(Tensor({2, 3, 4}), Mode::train), Catch::Contains("head.pool"));
  REQUIRE_THROWS_WITH(pool.forward(Tensor(), Mode::train), Catch::Contains("head.pool"));
  REQUIRE_THROWS_WITH(pool.forward(Tensor({2, 3, 4, 4}, DType::bf16), Mode::train),
                      Catch::Contains("head.pool"));
  pool.forward(Tensor({2, 3, 4, 4}), Mode::eval);
  REQUIRE_THROWS_AS(pool.backward(Tensor({2, 3})), std::logic_error);
  pool.forward(Tensor({2, 3, 4, 4}), Mode::train);
  REQUIRE_THROWS_WITH(pool.backward(Tensor({3, 2})),
                      Catch::Contains("head.pool") && Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(pool.backward(Tensor({2, 3, 1, 1})), Catch::Contains("head.pool"));
  REQUIRE_NOTHROW(pool.backward(Tensor({2, 3})));
}
