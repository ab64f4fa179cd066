// Shared test helpers: random inputs, the randomly weighted loss, central finite differences of a double
// reference, and tolerance checks that report the worst element. Every layer test uses these three steps:
//   1. reference backward == finite differences of reference forward (double precision),
//   2. oneDNN forward  == reference forward  (per-layer tolerance),
//   3. oneDNN backward == reference backward (per-layer tolerance).
#pragma once

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "models/core/cpu.hpp"
#include "models/core/rng.hpp"
#include "models/core/tensor.hpp"

namespace vb::test {

// Skipped, not passed: a test that needs what this CPU lacks prints this marker with the reason and returns.
// CTest's SKIP_REGULAR_EXPRESSION (CMakeLists.txt) reports the test as skipped; the summary lists it.
inline void skip(const std::string& reason) {
  fmt::print("VITBENCH_SKIP: {}\n", reason);
}

}  // namespace vb::test

// At the top of a TEST_CASE that computes in bf16: skipped on a CPU without bf16 (docs/portability.md).
#define VB_REQUIRE_BF16()                                                              \
  do {                                                                                 \
    if (!::vb::bf16_supported()) {                                                     \
      ::vb::test::skip(fmt::format("bf16 {}", ::vb::dtype_status(::vb::DType::bf16))); \
      return;                                                                          \
    }                                                                                  \
  } while (0)

// At the top of a TEST_CASE that checks bf16's refusal: skipped where bf16 is available (CI's capped run
// under ONEDNN_MAX_CPU_ISA=AVX2 takes it on every machine).
#define VB_REQUIRE_NO_BF16()                                                                     \
  do {                                                                                           \
    if (::vb::bf16_supported()) {                                                                \
      ::vb::test::skip("this CPU has bf16; the refusal is tested with ONEDNN_MAX_CPU_ISA=AVX2"); \
      return;                                                                                    \
    }                                                                                            \
  } while (0)

namespace vb::test {

using Vec = std::vector<double>;

// Nearest bf16 (ties to even), as oneDNN's f32 -> bf16 conversion.
inline double round_bf16(double v) {
  float f = static_cast<float>(v);
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  u &= 0xffff0000u;
  std::memcpy(&f, &u, 4);
  return f;
}
inline Vec round_bf16(Vec v) {
  for (auto& x : v) x = round_bf16(x);
  return v;
}

// Uniform values in [lo, hi), deterministic in `seed`.
inline Vec random_vec(size_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Vec v(n);
  for (size_t i = 0; i < n; ++i) v[i] = lo + (hi - lo) * rng::uniform(seed, i);
  return v;
}

inline std::vector<float> to_float(const Vec& v) {
  return {v.begin(), v.end()};
}
inline Vec to_double(const std::vector<float>& v) {
  return {v.begin(), v.end()};
}
inline Vec to_double(const Tensor& t) {
  return to_double(t.to_vector());
}
inline Tensor tensor(const Dims& shape, const Vec& v) {
  return Tensor::from(shape, to_float(v));
}

// loss = sum_i w_i * y_i with random w: its gradient dL/dy = w is what the backward passes receive.
inline double weighted_sum(const Vec& y, const Vec& w) {
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i) s += w[i] * y[i];
  return s;
}

// Central differences of a scalar function of x: (f(x+h) - f(x-h)) / 2h per element.
inline Vec finite_diff(const std::function<double(const Vec&)>& f, Vec x, double h = 1e-5) {
  Vec g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double x0 = x[i];
    x[i] = x0 + h;
    const double fp = f(x);
    x[i] = x0 - h;
    const double fm = f(x);
    x[i] = x0;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

// Passes when |a_i - b_i| <= atol + rtol * |b_i| for every i; on failure reports the worst element.
inline void require_close(const Vec& actual, const Vec& expected, double rtol, double atol,
                          const std::string& what) {
  INFO(what);
  REQUIRE(actual.size() == expected.size());
  REQUIRE(!expected.empty());
  size_t worst = 0;
  double worst_excess = -1e300;
  bool ok = true;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double err = std::abs(actual[i] - expected[i]);
    const double excess = err - (atol + rtol * std::abs(expected[i]));
    if (!(excess <= 0)) ok = false;  // also catches NaN
    if (excess > worst_excess || std::isnan(err)) worst_excess = excess, worst = i;
  }
  INFO(fmt::format("worst element {}: actual {} expected {} (rtol {}, atol {})", worst, actual[worst],
                   expected[worst], rtol, atol));
  CHECK(ok);
}

inline double max_abs(const Vec& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

// |a_i - e_i| <= tol * (|e_i| + max|e|): relative per element with an absolute floor at tol times the
// tensor's largest magnitude (a gradient's small entries carry the rounding error of its large ones).
inline void require_close_scaled(const Vec& actual, const Vec& expected, double tol,
                                 const std::string& what) {
  require_close(actual, expected, tol, tol * max_abs(expected), what);
}

// Reference backward checked against finite differences of the reference forward.
// `loss(x)` runs the reference forward and returns weighted_sum(y, w); `analytic` is the reference's dL/dx.
inline void require_gradient_matches_fd(const std::function<double(const Vec&)>& loss, const Vec& x,
                                        const Vec& analytic, const std::string& what, double tol = 1e-6) {
  require_close(analytic, finite_diff(loss, x), tol, tol,
                what + " (reference backward vs finite differences)");
}

}  // namespace vb::test
