// Runtime core: tensors, layouts, reorders and the argument checks.
#include <catch2/catch.hpp>

#include "models/core/rng.hpp"
#include "models/core/tensor.hpp"

using namespace vb;

TEST_CASE("tensor round-trips values through a blocked layout", "[core]") {
  const Dims shape{2, 16, 3, 3};
  std::vector<float> v(product(shape));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) * 0.5f - 7.0f;
  Tensor blocked(dnnl::memory::desc(shape, dt::f32, tag::nChw16c));
  REQUIRE_FALSE(blocked.plain());
  blocked.assign(v);
  REQUIRE(blocked.to_vector() == v);
  Tensor plain(shape);
  REQUIRE(plain.plain());
  Reorder to_plain(blocked.desc(), plain.desc());
  REQUIRE(to_plain.needed());
  to_plain.into(blocked.mem(), plain.mem());
  Runtime::wait();
  REQUIRE(std::vector<float>(plain.data(), plain.data() + plain.numel()) == v);
}

TEST_CASE("reorder between equal layouts is a no-op returning its input", "[core]") {
  Tensor t({4, 5});
  Reorder r(t.desc(), t.desc());
  REQUIRE_FALSE(r.needed());
  REQUIRE(r(t.mem()).get_data_handle() == t.mem().get_data_handle());
}

TEST_CASE("bad tensors and shapes are refused with the layer's name", "[core]") {
  REQUIRE_THROWS_WITH(Tensor(Dims{0, 3}), Catch::Contains("empty"));
  REQUIRE_THROWS_WITH(Tensor::from({2, 2}, {1, 2, 3}), Catch::Contains("3 values"));
  REQUIRE_THROWS_WITH(
      check_shape("blocks.0.mlp.fc1", "src", {2, 3}, {2, 4}),
      Catch::Contains("blocks.0.mlp.fc1") && Catch::Contains("[2, 4]") && Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_AS(Tensor({2, 2}, DType::bf16).data(), std::logic_error);
}

TEST_CASE("counter-based rng is deterministic and roughly uniform/normal", "[core]") {
  REQUIRE(rng::uniform(7, 123) == rng::uniform(7, 123));
  REQUIRE(rng::uniform(7, 123) != rng::uniform(8, 123));
  double mean = 0, sq = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const double z = rng::normal(1, i);
    mean += z / n;
    sq += z * z / n;
  }
  REQUIRE(std::abs(mean) < 0.02);
  REQUIRE(std::abs(sq - 1.0) < 0.03);
}

TEST_CASE("reshaped shares the buffer and refuses other sizes or layouts", "[core]") {
  Tensor t = Tensor::from({2, 6}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  Tensor v = t.reshaped({3, 2, 2});
  REQUIRE(v.shape() == Dims{3, 2, 2});
  v.data()[5] = 42;
  REQUIRE(t.to_vector()[5] == 42);
  REQUIRE_THROWS_AS(t.reshaped({5, 2}), std::invalid_argument);
  REQUIRE_THROWS_AS(Tensor(dnnl::memory::desc({2, 16, 1, 1}, dt::f32, tag::nChw16c)).reshaped({32}),
                    std::invalid_argument);
}
