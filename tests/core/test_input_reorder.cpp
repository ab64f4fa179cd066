// InputReorder: the one cached "bring the caller's input into my layout" step every layer uses.
#include <catch2/catch.hpp>

#include "models/core/input_reorder.hpp"

using namespace vb;

namespace {
std::vector<float> ramp(int64_t n) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(i) * 0.25f - 3.0f;
  return v;
}
// The values of memory `m` of `shape` (any layout), read through a plain f32 copy.
std::vector<float> values(const dnnl::memory& m, const Dims& shape) {
  Tensor host(shape);
  Reorder(m.get_desc(), host.desc()).into(m, host.mem());
  return host.to_vector();
}
}  // namespace

TEST_CASE("input reorder passes the target layout through and converts, then re-adapts to, other layouts",
          "[core]") {
  const Dims shape{2, 16, 3, 3};
  const auto v = ramp(product(shape));
  Tensor plain = Tensor::from(shape, v);
  Tensor blocked(dnnl::memory::desc(shape, dt::f32, tag::nChw16c));
  blocked.assign(v);
  Tensor nhwc(dnnl::memory::desc(shape, dt::f32, tag::nhwc));
  nhwc.assign(v);

  InputReorder to_plain(plain.desc());
  REQUIRE_FALSE(to_plain.needed());  // nothing seen yet
  // The target layout itself: the same buffer, no copy.
  REQUIRE(to_plain(plain.mem()).get_data_handle() == plain.mem().get_data_handle());
  REQUIRE_FALSE(to_plain.needed());
  // Another layout: a converted copy in the target desc, with the same values.
  const dnnl::memory& a = to_plain(blocked.mem());
  REQUIRE(to_plain.needed());
  REQUIRE(a.get_desc() == plain.desc());
  REQUIRE(a.get_data_handle() != blocked.mem().get_data_handle());
  REQUIRE(values(a, shape) == v);
  // A third layout after that: rebuilt for it, still the right values.
  REQUIRE(values(to_plain(nhwc.mem()), shape) == v);
  // Back to the target layout: passed through again.
  REQUIRE(to_plain(plain.mem()).get_data_handle() == plain.mem().get_data_handle());
  REQUIRE_FALSE(to_plain.needed());
}

TEST_CASE("input reorder's tensor() hands the input on or its copy in the target layout", "[core]") {
  const Dims shape{2, 16, 3, 3};
  const auto v = ramp(product(shape));
  Tensor blocked(dnnl::memory::desc(shape, dt::f32, tag::nChw16c));
  blocked.assign(v);
  Tensor plain = Tensor::from(shape, v);

  InputReorder to_blocked(blocked.desc());
  const Tensor same = to_blocked.tensor(blocked);
  REQUIRE(same.mem().get_data_handle() == blocked.mem().get_data_handle());
  const Tensor copy = to_blocked.tensor(plain);
  REQUIRE(copy.desc() == blocked.desc());
  REQUIRE(copy.mem().get_data_handle() != plain.mem().get_data_handle());
  REQUIRE(copy.to_vector() == v);
  // into(): the conversion into a caller's buffer, a plain copy when the layouts agree.
  Tensor out(blocked.desc());
  to_blocked.into(blocked.mem(), out.mem());
  REQUIRE(out.to_vector() == v);
}
