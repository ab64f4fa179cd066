// Effective receptive fields: the scalars on maps with known answers (a delta, a uniform square, a Gaussian
// of known sigma), Luo et al.'s sqrt(n) growth on a stack of uniform 3x3 convolutions (vs 2n + 1
// theoretical), and a single attention block with uniform attention reaching every pixel vs one 3x3 conv
// reaching 9 per channel.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <memory>

#include "harness/rf/erf.hpp"
#include "harness/rf/theoretical.hpp"
#include "models/layers/conv2d.hpp"
#include "models/model.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::rf;

namespace {

Map zeros(int64_t h, int64_t w) {
  return Map{h, w, std::vector<double>(static_cast<size_t>(h * w), 0.0)};
}
void set(Map& m, int64_t y, int64_t x, double v) {
  m.values[static_cast<size_t>(y * m.width + x)] = v;
}

}  // namespace

TEST_CASE("rf: scalars of a delta", "[rf]") {
  Map m = zeros(32, 32);
  set(m, 16, 16, 3.0);
  const ErfScalars s = erf_scalars(m, 16);
  CHECK(s.side20 == 1);
  CHECK(s.side50 == 1);
  CHECK(s.side90 == 1);
  CHECK(s.side99 == 1);
  CHECK(s.area90 == 1.0 / (32 * 32));
  CHECK(s.sigma == 0);
  CHECK(s.centroid_y == 16);
  CHECK(s.centroid_x == 16);
  CHECK(s.mass == 3.0);
  // Seen from a unit centred elsewhere, the same delta needs a square reaching it: Chebyshev distance 4 ->
  // side 9.
  CHECK(centred_square_side(m, 12, 0.5) == 9);
  CHECK_THROWS_WITH(erf_scalars(zeros(4, 4), 2), Catch::Contains("no gradient reached the input"));
}

TEST_CASE("rf: scalars of a uniform square", "[rf]") {
  // A 21x21 square of ones centred at (30, 30) in a 64x64 map: mass 441.
  Map m = zeros(64, 64);
  for (int64_t y = 20; y <= 40; ++y)
    for (int64_t x = 20; x <= 40; ++x) set(m, y, x, 1.0);
  const ErfScalars s = erf_scalars(m, 30);
  CHECK(s.side20 == 11);  // 11^2 = 121 >= 88.2 > 9^2
  CHECK(s.side50 == 15);  // 225 >= 220.5 > 169
  CHECK(s.side90 == 21);  // 441 >= 396.9 > 361
  CHECK(s.side99 == 21);
  CHECK(s.area90 == 397.0 / (64 * 64));  // 397 of the equal pixels hold 90%
  CHECK(s.sigma == Approx(std::sqrt((21.0 * 21.0 - 1) / 12)).epsilon(1e-12));  // discrete uniform per axis
  CHECK(s.centroid_y == Approx(30));
  // A half-integer centre: a 2x2 block around (7.5, 7.5) sits in the side-2 square.
  Map q = zeros(16, 16);
  for (int64_t y : {7, 8})
    for (int64_t x : {7, 8}) set(q, y, x, 1.0);
  CHECK(centred_square_side(q, 7.5, 0.99) == 2);
  CHECK(centred_square_side(q, 7.0, 0.99) == 3);
}

TEST_CASE("rf: scalars of a Gaussian of known sigma", "[rf]") {
  // Sampled isotropic Gaussian, sigma 6, centred at (50, 50) of 101x101 (8 sigma of margin: no truncation).
  const double sigma = 6;
  Map m = zeros(101, 101);
  for (int64_t y = 0; y < 101; ++y)
    for (int64_t x = 0; x < 101; ++x)
      set(m, y, x, std::exp(-((y - 50.0) * (y - 50.0) + (x - 50.0) * (x - 50.0)) / (2 * sigma * sigma)));
  const ErfScalars s = erf_scalars(m, 50);
  CHECK(s.sigma == Approx(sigma).epsilon(1e-6));  // a sampled Gaussian of sigma >= 1 keeps its variance
  CHECK(s.centroid_x == Approx(50));
  // The square holding 90%: each axis must hold sqrt(0.9) = 0.9487, i.e. |t| <= 1.9545 sigma = 11.7 px, so
  // half-width 12 (side 25) in the sampled grid; 99%: sqrt(0.99) -> 2.806 sigma = 16.8 px -> side 35.
  CHECK(s.side90 == 25);
  CHECK(s.side99 == 35);
  // The smallest region holding 90% is a disc of radius sigma sqrt(-2 ln 0.1) = 2.146 sigma: area pi r^2.
  CHECK(s.area90 * 101 * 101 == Approx(M_PI * std::pow(2.146 * sigma, 2)).epsilon(0.02));
}

// Luo et al. 2016: n uniform 3x3 convolutions without non-linearity give the n-fold convolution of a uniform
// kernel (per axis the sum of n uniform {-1, 0, 1} steps): variance 2n/3 per axis, so the ERF's sigma grows
// like sqrt(n) while the theoretical field grows like 2n + 1.
TEST_CASE("rf: ERF of n uniform 3x3 convs grows like sqrt(n), the theoretical field like 2n+1", "[rf]") {
  const int64_t S = 72;
  std::vector<double> sigmas;
  const std::vector<int> depths{1, 2, 4, 8, 16};
  for (int n : depths) {
    std::vector<std::unique_ptr<Conv2d>> convs;
    Field f = image_field(S);
    for (int i = 0; i < n; ++i) {
      convs.push_back(std::make_unique<Conv2d>(
          fmt::format("conv{}", i),
          Conv2d::Config{.in_channels = 1, .out_channels = 1, .kernel = 3, .stride = 1, .padding = 1}));
      convs.back()->weight.value.assign(std::vector<float>(9, 1.f / 9));
      const Conv2d& c = *convs.back();
      f = through(f,
                  {.kernel = c.config().kernel, .stride = c.config().stride, .padding = c.config().padding});
    }
    CHECK(f.size == 2 * n + 1);
    const Tensor x = test::tensor({1, 1, S, S}, test::random_vec(S * S, 7));
    const Tensor* y = &x;
    for (auto& c : convs) y = &c->forward(*y, Mode::train);
    const Tensor* d = nullptr;
    const Tensor diff = centre_diff(y->shape(), TapLayout::feature_map, 1);
    d = &diff;
    for (size_t i = convs.size(); i-- > 0;) d = &convs[i]->backward(*d);
    Map map;
    accumulate_abs(d->to_vector(), d->shape(), map);
    // The gradient reaches exactly the theoretical field, (2n + 1)^2 pixels.
    int64_t support = 0;
    for (double v : map.values) support += v != 0;
    CHECK(support == f.size * f.size);
    const ErfScalars s = erf_scalars(map, S / 2);
    INFO(fmt::format("n {}: sigma {:.4f}, side90 {}, theoretical {}", n, s.sigma, s.side90, f.size));
    CHECK(s.sigma == Approx(std::sqrt(2.0 * n / 3)).epsilon(1e-4));
    CHECK(s.side90 <= f.size);
    sigmas.push_back(s.sigma);
  }
  for (size_t i = 0; i < depths.size(); ++i)
    CHECK(sigmas[i] / sigmas[0] == Approx(std::sqrt(static_cast<double>(depths[i]))).epsilon(1e-4));
  if (std::getenv("VITBENCH_RF_REPORT"))
    for (size_t i = 0; i < depths.size(); ++i)
      fmt::print("sqrt(n) test: n {:2d} sigma {:.4f} sigma/sigma1 {:.4f} sqrt(n) {:.4f} theoretical {}\n",
                 depths[i], sigmas[i], sigmas[i] / sigmas[0], std::sqrt(depths[i]), 2 * depths[i] + 1);
}

TEST_CASE("rf: one attention block with uniform attention reaches every pixel, one 3x3 conv 9 per channel",
          "[rf]") {
  // One ViT block on 32x32 images, 4x4 patches; q and k projections zeroed -> every score 0 -> uniform
  // softmax.
  ModelConfig cfg = preset("vit_tiny_patch4_32");
  cfg.depth = 1;
  auto vit = create_model(cfg);
  vit->init(3);
  for (StateEntry& e : vit->state())
    if (e.key == "blocks.0.attn.qkv.weight" || e.key == "blocks.0.attn.qkv.bias") {
      std::vector<float> v = e.param->value.to_vector();
      const int64_t D = cfg.embed_dim, cols = e.key.ends_with("weight") ? D : 1;
      std::fill(v.begin(), v.begin() + 2 * D * cols, 0.f);  // rows 0 .. 2D-1: q and k
      e.param->value.assign(v);
    }
  const Tensor x = test::tensor({1, 3, 32, 32}, test::random_vec(3 * 32 * 32, 5));
  vit->forward(x, Mode::train);
  const auto probs = vit->attention_probs().at(0).second->to_vector();
  for (float p : probs) REQUIRE(p == Approx(1.0 / 65).epsilon(1e-5));  // 64 patches + cls
  const Tensor& grad = vit->backward_from(1, centre_diff(vit->tap(1).shape(), TapLayout::tokens_with_cls, 1));
  const std::vector<float> g = grad.to_vector();  // (1, 3, 32, 32)
  int64_t zero = 0;
  for (float v : g) zero += v == 0.f;
  CHECK(zero == 0);
  // The patch embedding alone (tap 0) reaches only the centre token's own 4x4 patch in each channel.
  const std::vector<float> g0 =
      vit->backward_from(0, centre_diff(vit->tap(0).shape(), TapLayout::tokens_with_cls, 1)).to_vector();
  int64_t reached = 0;
  for (float v : g0) reached += v != 0.f;
  CHECK(reached == 3 * 16);

  // One 3x3 conv, 3 -> 4 channels, random weights: the centre unit reaches 9 pixels of each input channel.
  Conv2d conv("conv", {.in_channels = 3, .out_channels = 4, .kernel = 3, .stride = 1, .padding = 1});
  conv.weight.value.assign(test::to_float(test::random_vec(4 * 3 * 9, 9, 0.1, 1.0)));
  const Tensor& y = conv.forward(x, Mode::train);
  const std::vector<float> gc = conv.backward(centre_diff(y.shape(), TapLayout::feature_map, 1)).to_vector();
  for (int64_t c = 0; c < 3; ++c) {
    int64_t n = 0;
    for (int64_t yy = 0; yy < 32; ++yy)
      for (int64_t xx = 0; xx < 32; ++xx) {
        const bool inside = std::abs(yy - 16) <= 1 && std::abs(xx - 16) <= 1;
        const bool nonzero = gc[static_cast<size_t>((c * 32 + yy) * 32 + xx)] != 0.f;
        CHECK(nonzero == inside);
        n += nonzero;
      }
    CHECK(n == 9);
  }
}
