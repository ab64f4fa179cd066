// Mean attention distance on hand-made attention with exact answers: uniform, identity, one-hot to a known
// token, the cls token left out and the rest renormalised, several heads and rows.
#include <catch2/catch.hpp>
#include <cmath>

#include "harness/rf/attention_distance.hpp"

using namespace vb;
using namespace vb::rf;

namespace {

// (rows, heads, T, T) probabilities from a function of (row, head, query, key).
template <class F>
std::vector<float> make_probs(int64_t R, int64_t H, int64_t T, F f) {
  std::vector<float> p(static_cast<size_t>(R * H * T * T));
  for (int64_t r = 0; r < R; ++r)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t q = 0; q < T; ++q)
        for (int64_t k = 0; k < T; ++k) p[static_cast<size_t>(((r * H + h) * T + q) * T + k)] = f(r, h, q, k);
  return p;
}

}  // namespace

TEST_CASE("rf: attention distance on hand-made attention", "[rf]") {
  // 2x2 patches of 16 px plus cls (T = 5). From any patch the others are 0, 16, 16, 16 sqrt(2) px away.
  const auto pos = grid_positions(2, 16);
  const double uniform = (0 + 16 + 16 + 16 * std::sqrt(2.0)) / 4;
  const int64_t T = 5;

  SECTION("uniform over all tokens, cls included: renormalised over the 4 patches") {
    AttentionDistance acc;
    add_attention(make_probs(1, 1, T, [](auto, auto, auto, auto) { return 0.2f; }), {1, 1, T, T}, pos, 1,
                  acc);
    CHECK(acc.mean().at(0) == Approx(uniform).epsilon(1e-6));
    CHECK(acc.queries == 4);
  }
  SECTION("identity: distance 0") {
    AttentionDistance acc;
    add_attention(make_probs(1, 1, T, [](auto, auto, auto q, auto k) { return q == k ? 1.f : 0.f; }),
                  {1, 1, T, T}, pos, 1, acc);
    CHECK(acc.mean().at(0) == 0);
  }
  SECTION("half on cls, half on patch 0: as one-hot to patch 0") {
    AttentionDistance acc;
    add_attention(make_probs(1, 1, T, [](auto, auto, auto, auto k) { return k == 0 || k == 1 ? 0.5f : 0.f; }),
                  {1, 1, T, T}, pos, 1, acc);
    CHECK(acc.mean().at(0) == Approx((0 + 16 + 16 + 16 * std::sqrt(2.0)) / 4).epsilon(1e-6));
  }
  SECTION("two heads and two rows: per-head means over rows and queries") {
    // Head 0 one-hot to patch 3 (the bottom-right); head 1 uniform in row 0, identity in row 1.
    AttentionDistance acc;
    const auto probs = make_probs(2, 2, T, [](int64_t r, int64_t h, int64_t q, int64_t k) {
      if (h == 0) return k == 4 ? 1.f : 0.f;
      if (r == 0) return 0.2f;
      return q == k ? 1.f : 0.f;
    });
    add_attention(probs, {2, 2, T, T}, pos, 1, acc);
    const auto m = acc.mean();
    CHECK(m.at(0) == Approx((16 * std::sqrt(2.0) + 16 + 16 + 0) / 4).epsilon(1e-6));
    CHECK(m.at(1) == Approx(uniform / 2).epsilon(1e-6));
    CHECK(acc.queries == 8);
  }
  SECTION("words: no cls, 2x2 words 4 px apart") {
    AttentionDistance acc;
    add_attention(make_probs(3, 1, 4, [](auto, auto, auto, auto) { return 0.25f; }), {3, 1, 4, 4},
                  grid_positions(2, 4), 0, acc);
    CHECK(acc.mean().at(0) == Approx(uniform / 4).epsilon(1e-6));
  }
  SECTION("bad input") {
    AttentionDistance acc;
    CHECK_THROWS_WITH(add_attention(std::vector<float>(25, 0.2f), {1, 1, 5, 5}, grid_positions(3, 1), 1, acc),
                      Catch::Contains("5 tokens, 1 skipped, 9 positions"));
    CHECK_THROWS_WITH(
        add_attention(make_probs(1, 1, T, [](auto, auto, auto, auto k) { return k == 0 ? 1.f : 0.f; }),
                      {1, 1, T, T}, pos, 1, acc),
        Catch::Contains("no weight on the patch keys"));
  }
}
