// ViT beyond the PyTorch parity of tests/models/test_parity.cpp: taps (backward_from vs finite differences),
// attention probabilities, initialisation, stochastic depth, rebuilds for another batch size, bad input.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>

#include "models/layers/cross_entropy.hpp"
#include "models/model.hpp"
#include "tests/support/check.hpp"
#include "tests/support/fixture.hpp"

using namespace vb;
using namespace vb::test;

namespace {

Vec slice(const Vec& v, size_t from, size_t n) {
  return Vec(v.begin() + from, v.begin() + from + n);
}

// The smallest ViT: 8x8 images, 2x2 patches of 4 px, D 8, 2 heads, depth 2, 3 classes.
ModelConfig tiny_config(PosEmbed pos = PosEmbed::learned_1d) {
  ModelConfig c = preset("vit_tiny_patch4_32");
  c.name = "vit_test_tiny";
  c.img_size = 8, c.patch_size = 4, c.embed_dim = 8, c.num_heads = 2, c.depth = 2, c.mlp_dim = 16;
  c.num_classes = 3, c.pos_embed = pos;
  return c;
}

}  // namespace

TEST_CASE("vit taps: names, shapes, backward_from vs finite differences", "[model][vit]") {
  // f32 model, central differences with h = 1e-2 on <tap, d>: truncation O(h^2) and rounding ~1e-6 / h:
  // rtol 2e-2 + atol 2e-3 of the gradient's scale.
  const PosEmbed pos = GENERATE(PosEmbed::learned_1d, PosEmbed::none);
  auto model = create_model(tiny_config(pos));
  set_counter_weights(*model, 11);
  const int64_t B = 2, N1 = 5, D = 8;
  const Vec x = random_vec(B * 3 * 8 * 8, 12, -2, 2);
  model->forward(tensor({B, 3, 8, 8}, x), Mode::train);
  REQUIRE(model->taps() == std::vector<std::string>{"patch_embed", "blocks.0", "blocks.1"});
  for (size_t i = 0; i < model->taps().size(); ++i) {
    INFO("tap " << model->taps()[i]);
    REQUIRE(model->tap(i).shape() == Dims{B, N1, D});
  }
  // Block i's input is tap i: the last block's output is not the head's input through the tap only, so
  // every tap is checked by finite differences of <tap(i), d> with respect to a few pixels.
  for (size_t i = 0; i < model->taps().size(); ++i) {
    INFO("tap " << model->taps()[i]);
    const Vec d = random_vec(B * N1 * D, 20 + i);
    auto f = [&](const Vec& xs) {
      model->forward(tensor({B, 3, 8, 8}, xs), Mode::train);
      return weighted_sum(to_double(model->tap(i)), d);
    };
    model->forward(tensor({B, 3, 8, 8}, x), Mode::train);
    const Vec analytic = to_double(model->backward_from(i, tensor({B, N1, D}, d)));
    Vec fd, an;
    for (size_t j : {0ul, 17ul, 64ul, 101ul, 200ul, 255ul, 300ul, 383ul}) {
      Vec xp = x, xm = x;
      xp[j] += 1e-2, xm[j] -= 1e-2;
      fd.push_back((f(xp) - f(xm)) / 2e-2);
      an.push_back(analytic[j]);
    }
    double scale = 0;
    for (double g : analytic) scale = std::max(scale, std::abs(g));
    REQUIRE(scale > 1e-3);
    require_close(an, fd, 2e-2, 2e-3 * scale, "backward_from vs finite differences");
  }
  REQUIRE_THROWS_WITH(model->tap(3), Catch::Contains("vit_test_tiny"));
  REQUIRE_THROWS_WITH(model->backward_from(1, Tensor({B, N1 + 1, D})), Catch::Contains("vit_test_tiny"));
}

TEST_CASE("vit attention probabilities are named and normalised", "[model][vit]") {
  auto model = create_model(tiny_config());
  model->init(3);
  model->forward(tensor({3, 3, 8, 8}, random_vec(3 * 3 * 64, 4)), Mode::eval);
  const auto probs = model->attention_probs();
  REQUIRE(probs.size() == 2);
  for (size_t i = 0; i < probs.size(); ++i) {
    REQUIRE(probs[i].first == fmt::format("blocks.{}.attn", i));
    REQUIRE(probs[i].second->shape() == Dims{3, 2, 5, 5});
    const auto p = probs[i].second->to_vector();
    for (size_t r = 0; r < p.size(); r += 5) {
      double s = 0;
      for (size_t j = 0; j < 5; ++j) s += p[r + j];
      REQUIRE(s == Approx(1.0).epsilon(1e-5));
    }
  }
}

TEST_CASE("vit runs two batch sizes", "[model][vit]") {
  // Rebuilt primitives for batch 2, then batch 4 again; same tolerances as the parity test.
  const Fixture fx("vit_pos_learned_1d");
  auto model = create_model(fx.config());
  set_counter_weights(*model);
  const Vec in = to_double(fx.input()), eval = fx.read("logits_eval"), train = fx.read("logits_train");
  const int64_t classes = model->config().num_classes, per_image = 3 * 16 * 16;
  require_close(to_double(model->forward(tensor({4, 3, 16, 16}, in), Mode::eval)), eval, 1e-4, 1e-5,
                "batch 4");
  require_close(to_double(model->forward(tensor({2, 3, 16, 16}, slice(in, 0, 2 * per_image)), Mode::eval)),
                slice(eval, 0, 2 * classes), 1e-4, 1e-5, "batch 2");
  require_close(
      to_double(model->forward(tensor({1, 3, 16, 16}, slice(in, 3 * per_image, per_image)), Mode::train)),
      slice(train, 3 * classes, classes), 1e-4, 1e-5, "batch 1");
  require_close(to_double(model->forward(tensor({4, 3, 16, 16}, in), Mode::train)), train, 1e-4, 1e-5,
                "batch 4 again");
}

TEST_CASE("vit init follows timm", "[model][vit]") {
  ModelConfig cfg = preset("vit_tiny_patch4_32");
  cfg.pos_embed = PosEmbed::learned_2d;
  auto a = create_model(cfg), b = create_model(cfg), c = create_model(cfg);
  a->init(7), b->init(7), c->init(8);
  auto stats = [](const std::vector<float>& v) {
    double m = 0, s = 0;
    for (float x : v) m += x;
    m /= v.size();
    for (float x : v) s += (x - m) * (x - m);
    return std::pair<double, double>{m, std::sqrt(s / v.size())};
  };
  const auto sa = a->state(), sb = b->state(), sc = c->state();
  for (size_t i = 0; i < sa.size(); ++i) {
    const std::string& k = sa[i].key;
    INFO(k);
    const auto v = sa[i].param->value.to_vector();
    REQUIRE(v == sb[i].param->value.to_vector());  // deterministic in the seed
    const auto [mean, sd] = stats(v);
    if (k.find("norm") != std::string::npos && k.ends_with(".weight")) {
      REQUIRE(v == std::vector<float>(v.size(), 1.f));
    } else if (k.ends_with(".bias")) {
      REQUIRE(v == std::vector<float>(v.size(), 0.f));
    } else {
      REQUIRE(v != sc[i].param->value.to_vector());  // another seed, other values
      // std 0.02 (Linear, cls, position tables) or 1/sqrt(fan_in) (patch conv, lecun normal); the sample
      // estimate of n >= 192 values is within 15 %, the mean within 4 standard errors.
      const double expected = k == "patch_embed.proj.weight" ? 1.0 / std::sqrt(48.0) : 0.02;
      REQUIRE(v.size() >= 192);
      CHECK(sd == Approx(expected).epsilon(0.15));
      CHECK(std::abs(mean) < 4 * expected / std::sqrt(double(v.size())));
    }
  }
}

TEST_CASE("vit stochastic depth is seeded by init", "[model][vit]") {
  ModelConfig cfg = tiny_config();
  cfg.drop_path = 0.6;  // blocks.0: 0, blocks.1: 0.6
  auto a = create_model(cfg), b = create_model(cfg);
  set_counter_weights(*a), set_counter_weights(*b);
  const Tensor x = tensor({8, 3, 8, 8}, random_vec(8 * 3 * 64, 5));
  const Vec eval = to_double(a->forward(x, Mode::eval));
  const Vec ta = to_double(a->forward(x, Mode::train)), tb = to_double(b->forward(x, Mode::train));
  REQUIRE(ta == tb);  // same default seed, same masks
  REQUIRE(ta != eval);
  a->backward(tensor({8, 3}, random_vec(24, 6)));
  a->init(1), b->init(2);
  set_counter_weights(*a), set_counter_weights(*b);
  REQUIRE(to_double(a->forward(x, Mode::train)) != to_double(b->forward(x, Mode::train)));
  cfg.drop_path = 0;
  auto z = create_model(cfg);
  set_counter_weights(*z);
  // Equal up to rounding: eval runs QK^T and PV on strided views of qkv (another oneDNN matmul kernel than
  // training's dense copies, so another summation order); measured differences ~4e-7, f32 epsilon level.
  require_close(to_double(z->forward(x, Mode::eval)), to_double(z->forward(x, Mode::train)), 1e-5, 1e-6,
                "drop_path 0: eval vs train");
}

TEST_CASE("vit refuses bad input and configs, naming the model", "[model][vit]") {
  auto model = create_model(tiny_config());
  REQUIRE_THROWS_AS(model->backward(Tensor({2, 3})), std::logic_error);
  REQUIRE_THROWS_WITH(model->forward(Tensor({2, 3, 12, 12}), Mode::train),
                      Catch::Contains("vit_test_tiny") && Catch::Contains("[2, 3, 12, 12]") &&
                          Catch::Contains("(B, 3, 8, 8)"));
  REQUIRE_THROWS_WITH(model->forward(Tensor({2, 1, 8, 8}), Mode::train), Catch::Contains("vit_test_tiny"));
  REQUIRE_THROWS_WITH(model->forward(Tensor({3, 8, 8}), Mode::train), Catch::Contains("vit_test_tiny"));
  REQUIRE_THROWS_WITH(model->forward(Tensor({1, 3, 8, 8}, DType::bf16), Mode::train),
                      Catch::Contains("vit_test_tiny"));
  REQUIRE_THROWS_WITH(model->forward(Tensor(), Mode::train), Catch::Contains("vit_test_tiny"));
  model->forward(Tensor({2, 3, 8, 8}), Mode::eval);
  REQUIRE_THROWS_AS(model->backward(Tensor({2, 3})), std::logic_error);
  model->forward(Tensor({2, 3, 8, 8}), Mode::train);
  REQUIRE_THROWS_WITH(model->backward(Tensor({2, 4})), Catch::Contains("head"));
  auto bad = [](auto edit) {
    ModelConfig c = tiny_config();
    edit(c);
    return c;
  };
  REQUIRE_THROWS_WITH(create_model(bad([](ModelConfig& c) { c.num_heads = 3; })),
                      Catch::Contains("vit_test_tiny") && Catch::Contains("num_heads"));
  REQUIRE_THROWS_WITH(create_model(bad([](ModelConfig& c) { c.img_size = 10; })),
                      Catch::Contains("vit_test_tiny") && Catch::Contains("patch_size"));
  REQUIRE_THROWS_WITH(create_model(bad([](ModelConfig& c) {
                        c.embed_dim = 6, c.num_heads = 1, c.pos_embed = PosEmbed::sincos_2d;
                      })),
                      Catch::Contains("vit_test_tiny") && Catch::Contains("sincos_2d"));
  REQUIRE_THROWS_WITH(create_model(bad([](ModelConfig& c) {
                        c.embed_dim = 7, c.num_heads = 1, c.pos_embed = PosEmbed::learned_2d;
                      })),
                      Catch::Contains("vit_test_tiny") && Catch::Contains("learned_2d"));
  REQUIRE_THROWS_WITH(create_model(bad([](ModelConfig& c) { c.drop_path = 1.0; })),
                      Catch::Contains("vit_test_tiny") && Catch::Contains("drop_path"));
}
