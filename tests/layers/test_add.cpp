// Add: reference vs finite differences, oneDNN vs reference on plain and blocked layouts (mixed layouts of a
// and b), backward returning diff_dst in a's layout, rebuilds, bad input.
#include <catch2/catch.hpp>

#include "models/layers/add.hpp"
#include "tests/reference/add.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

namespace {
Tensor in_layout(const Dims& shape, tag t, const Vec& v) {
  Tensor x(dnnl::memory::desc(shape, dt::f32, t));
  x.assign(to_float(v));
  return x;
}
}  // namespace

TEST_CASE("add reference backward matches finite differences", "[layer][add]") {
  const int64_t n = 12;
  const Vec a = random_vec(n, 1), b = random_vec(n, 2), dy = random_vec(n, 3);
  Vec da(n), db(n);
  ref::add_backward(da.data(), db.data(), dy.data(), n);
  auto loss = [&](const Vec& aa, const Vec& bb) {
    Vec y(n);
    ref::add_forward(y.data(), aa.data(), bb.data(), n);
    return weighted_sum(y, dy);
  };
  require_gradient_matches_fd([&](const Vec& v) { return loss(v, b); }, a, da, "da");
  require_gradient_matches_fd([&](const Vec& v) { return loss(a, v); }, b, db, "db");
}

TEST_CASE("add forward and backward match the reference in plain and blocked layouts", "[layer][add]") {
  // One f32 addition against double: error <= 1 ulp of the sum.
  const double rtol = 1e-6, atol = 1e-7;
  struct Case {
    Dims shape;
    tag a_tag, b_tag, dy_tag;
  };
  auto c =
      GENERATE(Case{{2, 5, 7}, tag::abc, tag::abc, tag::abc}, Case{{3, 4, 5}, tag::abc, tag::acb, tag::acb},
               Case{{2, 32, 3, 3}, tag::nChw16c, tag::nChw16c, tag::nChw16c},
               Case{{2, 20, 3, 5}, tag::nChw16c, tag::abcd, tag::abcd},  // padded channel blocks
               Case{{2, 16, 3, 3}, tag::abcd, tag::nChw16c, tag::nhwc});
  INFO("shape " << to_string(c.shape));
  const int64_t n = product(c.shape);
  const Vec a = random_vec(n, 11), b = random_vec(n, 12), dy = random_vec(n, 13);
  Vec y(n), da(n), db(n);
  ref::add_forward(y.data(), a.data(), b.data(), n);
  ref::add_backward(da.data(), db.data(), dy.data(), n);

  Add add("layer1.0.add");
  const Tensor ta = in_layout(c.shape, c.a_tag, a), tb = in_layout(c.shape, c.b_tag, b);
  const Tensor& dst = add.forward(ta, tb);
  REQUIRE(dst.desc() == ta.desc());
  require_close(to_double(dst), y, rtol, atol, "dst");
  const Tensor tdy = in_layout(c.shape, c.dy_tag, dy);
  const Tensor& diff = add.backward(tdy);
  REQUIRE(diff.desc() == ta.desc());
  require_close(to_double(diff), da, 0, 0, "diff (for a)");
  require_close(to_double(diff), db, 0, 0, "diff (for b)");
  if (c.dy_tag == c.a_tag) REQUIRE(diff.mem().get_data_handle() == tdy.mem().get_data_handle());
}

TEST_CASE("add rebuilds for a new shape or layout", "[layer][add]") {
  Add add("blocks.0.add");
  for (const Dims& shape : {Dims{2, 3, 4}, Dims{1, 5, 4}, Dims{2, 3, 4}}) {
    const int64_t n = product(shape);
    const Vec a = random_vec(n, n), b = random_vec(n, n + 1);
    Vec y(n);
    ref::add_forward(y.data(), a.data(), b.data(), n);
    require_close(to_double(add.forward(tensor(shape, a), tensor(shape, b))), y, 1e-6, 1e-7, "dst");
    // A diff_dst in another layout, then in a's: both give the values back in a's layout.
    const Vec dy = random_vec(n, n + 2);
    require_close(to_double(add.backward(in_layout(shape, tag::acb, dy))), dy, 0, 0, "diff (reordered)");
    require_close(to_double(add.backward(tensor(shape, dy))), dy, 0, 0, "diff (same layout)");
  }
}

TEST_CASE("add refuses bad input with its name", "[layer][add]") {
  Add add("blocks.3.add");
  REQUIRE_THROWS_AS(add.backward(Tensor({2, 3})), std::logic_error);
  REQUIRE_THROWS_WITH(add.forward(Tensor({2, 3}), Tensor({2, 4})),
                      Catch::Contains("blocks.3.add") && Catch::Contains("[2, 4]"));
  REQUIRE_THROWS_WITH(add.forward(Tensor({2, 3}), Tensor({2, 3}, DType::bf16)),
                      Catch::Contains("blocks.3.add"));
  REQUIRE_THROWS_WITH(add.forward(Tensor(), Tensor({2, 3})), Catch::Contains("blocks.3.add"));
  add.forward(Tensor({2, 3}), Tensor({2, 3}));
  REQUIRE_THROWS_WITH(add.backward(Tensor({3, 2})), Catch::Contains("blocks.3.add"));
}
