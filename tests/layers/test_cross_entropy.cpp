// CrossEntropy: reference vs finite differences (labels, smoothing, soft targets), layer vs reference, known
// values, stability with large logits, NaN propagation, non-plain logits, rebuilds, bad input.
#include <catch2/catch.hpp>
#include <cmath>

#include "models/layers/cross_entropy.hpp"
#include "tests/reference/cross_entropy.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

namespace {
struct Expected {
  double loss;
  Vec probs, dx;
};
Expected reference(const Vec& x, const Vec& t, int64_t B, int64_t K) {
  Expected e{0, Vec(B * K), Vec(B * K)};
  e.loss = ref::cross_entropy_forward(e.probs.data(), x.data(), t.data(), B, K);
  ref::cross_entropy_backward(e.dx.data(), e.probs.data(), t.data(), B, K);
  return e;
}
Vec label_targets(const std::vector<int64_t>& labels, double eps, int64_t K) {
  const int64_t B = static_cast<int64_t>(labels.size());
  Vec t(B * K);
  ref::smoothed_targets(t.data(), labels.data(), eps, B, K);
  return t;
}
// Random soft targets, rows normalised to 1 (as mixup makes them) unless `normalise` is false.
Vec soft_targets(int64_t B, int64_t K, uint64_t seed, bool normalise = true) {
  Vec t = random_vec(B * K, seed, 0.0, 1.0);
  if (normalise)
    for (int64_t b = 0; b < B; ++b) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += t[b * K + k];
      for (int64_t k = 0; k < K; ++k) t[b * K + k] /= s;
    }
  return t;
}
}  // namespace

TEST_CASE("cross_entropy reference backward matches finite differences", "[layer][cross_entropy]") {
  const int64_t B = 3, K = 5;
  const Vec x = random_vec(B * K, 1, -2, 2);
  for (const Vec& t : {label_targets({0, 4, 2}, 0.0, K), label_targets({1, 1, 3}, 0.1, K),
                       soft_targets(B, K, 2), soft_targets(B, K, 3, false)}) {
    const auto e = reference(x, t, B, K);
    Vec probs(B * K);
    require_gradient_matches_fd(
        [&](const Vec& v) { return ref::cross_entropy_forward(probs.data(), v.data(), t.data(), B, K); }, x,
        e.dx, "dx");
  }
}

TEST_CASE("cross_entropy matches the reference with labels and label smoothing", "[layer][cross_entropy]") {
  // The loss is computed in double from f32 logits: rtol 1e-12. probs and diff are rounded to f32 once: rtol
  // 1e-6 (atol 1e-9 for entries that cancel to ~0).
  struct Case {
    int64_t B, K;
    float eps;
  };
  auto c = GENERATE(Case{4, 5, 0.f}, Case{4, 5, 0.1f}, Case{1, 1, 0.f}, Case{7, 10, 0.3f}, Case{3, 2, 1.f});
  INFO("B " << c.B << " K " << c.K << " eps " << c.eps);
  const Vec x = random_vec(c.B * c.K, 11, -3, 3);
  std::vector<int64_t> labels(c.B);
  for (int64_t b = 0; b < c.B; ++b) labels[b] = (3 * b + 1) % c.K;
  const Vec xf = to_double(to_float(x));  // the logits the layer sees
  const auto e = reference(xf, label_targets(labels, static_cast<double>(c.eps), c.K), c.B, c.K);
  CrossEntropy ce("loss", {c.K, c.eps});
  const double loss = ce.forward(tensor({c.B, c.K}, x), labels);
  CHECK(std::abs(loss - e.loss) <= 1e-12 * std::abs(e.loss) + 1e-12);
  require_close(to_double(ce.softmax()), e.probs, 1e-6, 1e-9, "softmax");
  const Tensor& diff = ce.backward();
  REQUIRE(diff.shape() == Dims{c.B, c.K});
  require_close(to_double(diff), e.dx, 1e-6, 1e-9, "diff_logits");
}

TEST_CASE("cross_entropy matches the reference with soft targets", "[layer][cross_entropy]") {
  const int64_t B = 5, K = 7;
  const float eps = GENERATE(0.f, 0.2f);
  const bool normalise = GENERATE(true, false);
  INFO("eps " << eps << " normalised " << normalise);
  const Vec xf = to_double(to_float(random_vec(B * K, 21, -3, 3)));
  const Vec soft = to_double(to_float(soft_targets(B, K, 22, normalise)));
  Vec t(B * K);
  ref::smoothed_soft_targets(t.data(), soft.data(), static_cast<double>(eps), B, K);
  const auto e = reference(xf, t, B, K);
  CrossEntropy ce("loss", {K, eps});
  Tensor targets(dnnl::memory::desc({B, K}, dt::f32, tag::ba));  // any layout
  targets.assign(to_float(soft));
  const double loss = ce.forward(tensor({B, K}, xf), targets);
  CHECK(std::abs(loss - e.loss) <= 1e-12 * std::abs(e.loss) + 1e-12);
  require_close(to_double(ce.backward()), e.dx, 1e-6, 1e-9, "diff_logits");
}

TEST_CASE("cross_entropy known values, stability, NaN", "[layer][cross_entropy]") {
  const int64_t K = 4;
  CrossEntropy ce("loss", {K, 0.f});
  // Equal logits: loss log K for any label, diff (1/K - onehot) / B.
  CHECK(std::abs(ce.forward(tensor({2, K}, Vec(2 * K, 0.3)), {0, 3}) - std::log(4.0)) < 1e-15);
  require_close(to_double(ce.backward()), {-0.375, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125, -0.375}, 1e-7, 0,
                "diff_logits");
  // Huge logits: exp would overflow without the max subtraction. Row 0: the label has the max logit,
  // loss = log(1 + 3 e^-1000) ~ 0; row 1: the label is 1000 below, loss ~ 1000.
  const double loss = ce.forward(tensor({2, K}, {1000, 0, 0, 0, 1000, 0, 0, 0}), {0, 1});
  CHECK(std::abs(loss - 500.0) < 1e-9);
  require_close(to_double(ce.softmax()), {1, 0, 0, 0, 1, 0, 0, 0}, 0, 1e-30, "softmax");
  // A NaN logit makes the loss NaN, not a silently finite number.
  CHECK(std::isnan(ce.forward(tensor({2, K}, {0.1, NAN, 0.2, 0.3, 0, 0, 0, 0}), {0, 1})));
  CHECK(std::isnan(ce.forward(tensor({2, K}, {0.1, 0.5, 0.2, NAN, 0, 0, 0, 0}), {3, 1})));
}

TEST_CASE("cross_entropy takes non-plain logits and rebuilds for a new batch", "[layer][cross_entropy]") {
  const int64_t K = 6;
  CrossEntropy ce("loss", {K, 0.1f});
  for (int64_t B : {3, 5, 3}) {
    INFO("B " << B);
    const Vec xf = to_double(to_float(random_vec(B * K, B, -2, 2)));
    std::vector<int64_t> labels(B);
    for (int64_t b = 0; b < B; ++b) labels[b] = (b * 5) % K;
    const auto e =
        reference(xf, label_targets(labels, static_cast<double>(0.1f), K), B, K);  // eps as the layer has it
    Tensor logits(dnnl::memory::desc({B, K}, dt::f32, B == 5 ? tag::ba : tag::ab));
    logits.assign(to_float(xf));
    CHECK(std::abs(ce.forward(logits, labels) - e.loss) < 1e-12);
    const Tensor& diff = ce.backward();
    REQUIRE(diff.desc() == logits.desc());
    require_close(to_double(diff), e.dx, 1e-6, 1e-9, "diff_logits");
  }
}

TEST_CASE("cross_entropy refuses bad input with its name", "[layer][cross_entropy]") {
  REQUIRE_THROWS_WITH(CrossEntropy("criterion", {0}), Catch::Contains("criterion"));
  REQUIRE_THROWS_WITH(CrossEntropy("criterion", {10, 1.5f}), Catch::Contains("criterion"));
  CrossEntropy ce("criterion", {3, 0.f});
  REQUIRE_THROWS_AS(ce.backward(), std::logic_error);
  const Tensor logits({2, 3});
  REQUIRE_THROWS_WITH(ce.forward(logits, {0, 3}),
                      Catch::Contains("criterion") && Catch::Contains("label 1 is 3"));
  REQUIRE_THROWS_WITH(ce.forward(logits, {-1, 0}),
                      Catch::Contains("criterion") && Catch::Contains("label 0 is -1"));
  REQUIRE_THROWS_AS(ce.backward(), std::logic_error);  // the failed forward left nothing to differentiate
  REQUIRE_THROWS_WITH(ce.forward(logits, {0}), Catch::Contains("criterion"));
  REQUIRE_THROWS_WITH(ce.forward(Tensor({2, 4}), {0, 1}),
                      Catch::Contains("criterion") && Catch::Contains("[2, 4]"));
  REQUIRE_THROWS_WITH(ce.forward(Tensor({2, 3, 1}), {0, 1}), Catch::Contains("criterion"));
  REQUIRE_THROWS_WITH(ce.forward(logits, Tensor({2, 4})), Catch::Contains("criterion"));
}
