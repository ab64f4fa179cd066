// BatchNorm2d with frozen statistics (BatchNorm2d::freeze_stats, used by receptive-field measurements): a
// train forward equals the eval forward, leaves the running statistics alone, and its backward is diff *
// gamma / sqrt(running_var + eps), so no other pixel or image reaches a unit.
#include <catch2/catch.hpp>
#include <cmath>

#include "models/layers/batchnorm2d.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

TEST_CASE("rf: BatchNorm2d with frozen statistics", "[rf]") {
  const int64_t N = 2, C = 3, H = 4, W = 5;
  BatchNorm2d bn("bn", {.channels = C});
  bn.weight.value.assign({0.5f, 1.5f, -2.0f});
  bn.bias.value.assign({0.1f, -0.2f, 0.3f});
  bn.running_mean.assign({0.2f, -0.1f, 0.4f});
  bn.running_var.assign({0.8f, 1.3f, 2.1f});
  const Vec x = random_vec(N * C * H * W, 21, -2, 2);
  const Tensor src = tensor({N, C, H, W}, x);
  const Vec eval = to_double(bn.forward(src, Mode::eval));

  bn.freeze_stats(true);
  const Vec train = to_double(bn.forward(src, Mode::train));
  require_close(train, eval, 1e-6, 1e-6, "frozen train forward vs eval forward");
  CHECK(bn.num_batches_tracked == 0);
  CHECK(to_double(bn.running_mean) == Vec{0.2f, -0.1f, 0.4f});

  const Vec dy = random_vec(N * C * H * W, 22);
  const Vec dx = to_double(bn.backward(tensor({N, C, H, W}, dy)));
  const std::vector<float> gamma{0.5f, 1.5f, -2.0f}, var{0.8f, 1.3f, 2.1f};
  Vec expected(dy.size());
  for (size_t i = 0; i < dy.size(); ++i) {
    const size_t c = (i / (H * W)) % C;
    expected[i] = dy[i] * gamma[c] / std::sqrt(double{var[c]} + 1e-5);
  }
  require_close(dx, expected, 1e-5, 1e-6, "frozen backward = diff * gamma / sqrt(var + eps)");

  // Unfrozen again: batch statistics and running-average updates as before.
  bn.freeze_stats(false);
  bn.forward(src, Mode::train);
  CHECK(bn.num_batches_tracked == 1);
}
