// TNT beyond the PyTorch parity of tests/models/test_parity.cpp: taps and backward_from (finite differences),
// attention probabilities, init, drop path, rebuilds for another batch size, bad input.

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "models/layers/cross_entropy.hpp"
#include "models/model.hpp"
#include "tests/support/check.hpp"
#include "tests/support/fixture.hpp"

using namespace vb;
using namespace vb::test;

namespace {

// Tolerances (the fixtures are float64 torch; the model runs in f32 with oneDNN's blocked reductions):
constexpr double kLogitTol = 1e-4;  // logits and losses
constexpr double kGradTol = 1e-3;   // gradients (two more chains of f32 rounding; LayerNorm backward cancels)

// The first `b` images of a (B, C, H, W) batch.
Tensor first_images(const Tensor& x, int64_t b) {
  const auto v = x.to_vector();
  Dims shape = x.shape();
  const int64_t per = x.numel() / shape[0];
  shape[0] = b;
  return Tensor::from(shape, std::vector<float>(v.begin(), v.begin() + b * per));
}

ModelConfig tiny_config(const std::string& fixture = "tnt_pos_both") {
  return Fixture(fixture).config();
}

}  // namespace

TEST_CASE("tnt rebuilds for another batch size", "[model][tnt]") {
  Fixture fx("tnt_pos_inner");
  const ModelConfig cfg = fx.config();
  auto model = create_model(cfg);
  set_counter_weights(*model);
  const Tensor input = fx.input();
  const Vec logits = fx.read("logits_eval");
  const auto labels = fx.read_int("labels");
  // Train forward + backward at batch 2 first, then everything at batch 4 against the fixture.
  CrossEntropy ce("loss", {cfg.num_classes, static_cast<float>(fx.number("label_smoothing"))});
  ce.forward(model->forward(first_images(input, 2), Mode::train), {labels[0], labels[1]});
  model->backward(ce.backward());
  require_close_scaled(to_double(model->forward(first_images(input, 1), Mode::eval)),
                       Vec(logits.begin(), logits.begin() + cfg.num_classes), kLogitTol,
                       "logits_eval batch 1");
  require_close_scaled(to_double(model->forward(input, Mode::eval)), logits, kLogitTol,
                       "logits_eval batch 4");
  ce.forward(model->forward(input, Mode::train), labels);
  const Tensor& diff_images = model->backward(ce.backward());
  for (const StateEntry& e : model->state())
    require_close_scaled(to_double(e.param->grad), fx.read("grads/" + e.key), kGradTol, "grad " + e.key);
  require_close_scaled(to_double(diff_images), fx.read("grad_input"), kGradTol, "grad_input");
}

TEST_CASE("tnt taps, attention probabilities and backward_from", "[model][tnt]") {
  const ModelConfig cfg = tiny_config();  // 16 px, patch 8: N 4, words 4x4, c 8, d 32, depth 2
  auto model = create_model(cfg);
  set_counter_weights(*model);
  const int64_t B = 2, N = 4, m = 16, c = 8, d = 32;
  REQUIRE(model->taps() == std::vector<std::string>{"patch_embed", "blocks.0.inner", "blocks.0",
                                                    "blocks.1.inner", "blocks.1"});
  REQUIRE_THROWS_AS(model->tap(0), std::logic_error);
  REQUIRE(model->attention_probs().empty());

  const Tensor input = first_images(Fixture("tnt_pos_both").input(), B);
  model->forward(input, Mode::train);
  for (size_t i = 0; i < model->taps().size(); ++i) {
    INFO(model->taps()[i]);
    REQUIRE(model->tap(i).shape() == (i % 2 == 1 ? Dims{B * N, m, c} : Dims{B, N + 1, d}));
  }
  REQUIRE_THROWS_WITH(model->tap(5), Catch::Contains(cfg.name));

  const auto probs = model->attention_probs();
  REQUIRE(probs.size() == 4);
  for (size_t k = 0; k < probs.size(); ++k) {
    const bool inner = k % 2 == 0;
    INFO(probs[k].first);
    REQUIRE(probs[k].first == fmt::format("blocks.{}.attn_{}", k / 2, inner ? "in" : "out"));
    const Tensor& p = *probs[k].second;
    REQUIRE(p.shape() == (inner ? Dims{B * N, 2, m, m} : Dims{B, 2, N + 1, N + 1}));
    const Vec v = to_double(p);
    const int64_t L = p.dim(3);
    Vec row_sums(v.size() / L);
    for (size_t r = 0; r < row_sums.size(); ++r)
      for (int64_t j = 0; j < L; ++j) row_sums[r] += v[r * L + j];
    require_close(row_sums, Vec(row_sums.size(), 1.0), 0, 1e-5, "rows sum to 1");
  }

  // backward_from(i, g) == d<tap(i), g>/d images by central differences of the f32 model at a few pixels.
  // f32 forward: h 1e-2 balances rounding (~1e-6 |loss| / h) against O(h^2) truncation; tolerance 1e-2.
  const std::vector<float> x = input.to_vector();
  const std::vector<size_t> pixels{0, 77, 200, 383, 512, 700, 1001, 1535};
  for (size_t i = 0; i < model->taps().size(); ++i) {
    INFO(model->taps()[i]);
    const Vec g = random_vec(product(model->tap(i).shape()), 40 + i);
    auto loss = [&](const std::vector<float>& xs) {
      model->forward(Tensor::from(input.shape(), xs), Mode::eval);
      return weighted_sum(to_double(model->tap(i)), g);
    };
    Vec fd;
    for (size_t p : pixels) {
      const float h = 1e-2f;
      std::vector<float> xp = x, xm = x;
      xp[p] += h;
      xm[p] -= h;
      fd.push_back((loss(xp) - loss(xm)) / (static_cast<double>(xp[p]) - xm[p]));
    }
    model->forward(input, Mode::train);
    const Vec analytic = to_double(model->backward_from(i, tensor(model->tap(i).shape(), g)));
    Vec picked;
    for (size_t p : pixels) picked.push_back(analytic[p]);
    require_close_scaled(picked, fd, 1e-2, "backward_from vs finite differences");
    // Parameters the tap does not depend on get zero gradients; those below it do get some.
    const auto st = model->state();
    auto grad_norm = [&](const std::string& key) {
      for (const StateEntry& e : st)
        if (e.key == key) return max_abs(to_double(e.param->grad));
      FAIL("no key " << key);
      return 0.0;
    };
    CHECK(grad_norm("pixel_embed.proj.weight") > 0);
    CHECK(grad_norm("head.weight") == 0);
    CHECK((grad_norm("proj.weight") > 0) == (i % 2 == 0));  // the patch embedding feeds patch-token taps only
    if (i >= 1) CHECK((grad_norm("blocks.0.proj.weight") > 0) == (i % 2 == 0));
  }
}

TEST_CASE("tnt init follows timm and is deterministic", "[model][tnt]") {
  auto model = create_model(tiny_config());  // conv weight (8, 3, 3, 3); Linear weights up to 64 x 128
  model->init(5);
  std::vector<Vec> first;
  for (const StateEntry& e : model->state()) first.push_back(to_double(e.param->value));
  model->init(5);
  const auto st = model->state();
  for (size_t k = 0; k < st.size(); ++k)
    require_close(to_double(st[k].param->value), first[k], 0, 0, st[k].key);
  auto rms = [](const Vec& v) {
    double s = 0;
    for (double x : v) s += x * x;
    return std::sqrt(s / v.size());
  };
  for (size_t k = 0; k < st.size(); ++k) {
    const std::string& key = st[k].key;
    INFO(key);
    const Vec& v = first[k];
    if (key == "pixel_embed.proj.weight") {
      CHECK(rms(v) == Approx(1.0 / std::sqrt(27.0)).epsilon(0.15));  // 216 samples: 3 sigma
    } else if (st[k].param->value.shape().size() == 1) {  // LayerNorm 1 / 0, Linear and conv biases 0
      const double expected = key.ends_with(".weight") ? 1.0 : 0.0;
      require_close(v, Vec(v.size(), expected), 0, 0, key);
    } else if (key == "cls_token" || key == "patch_pos" || key == "pixel_pos") {  // 32 to 160 samples
      CHECK(rms(v) == Approx(0.02).epsilon(0.3));
    } else if (v.size() >= 1000) {  // Linear weights: trunc-normal std 0.02
      CHECK(rms(v) == Approx(0.02).epsilon(0.1));
    }
  }
  model->init(6);
  CHECK(to_double(model->state()[0].param->value) != first[0]);
}

TEST_CASE("tnt drop path: identity in eval, seeded masks in training", "[model][tnt]") {
  ModelConfig cfg = tiny_config();
  auto plain = create_model(cfg);
  cfg.drop_path = 0.5;
  auto dropped = create_model(cfg);
  set_counter_weights(*plain);
  set_counter_weights(*dropped);
  dropped->init(9);
  set_counter_weights(*dropped);  // init reseeds the masks; the weights are the fixture's again
  const Tensor input = Fixture("tnt_pos_both").input();
  const Vec eval = to_double(plain->forward(input, Mode::eval));
  require_close(to_double(dropped->forward(input, Mode::eval)), eval, 0, 0, "eval with drop_path");
  const Vec train1 = to_double(dropped->forward(input, Mode::train));
  CHECK(train1 != to_double(plain->forward(input, Mode::train)));
  const Vec diff =
      to_double(dropped->backward(Tensor::from({4, cfg.num_classes}, std::vector<float>(40, 0.1f))));
  for (double v : diff) REQUIRE(std::isfinite(v));
  dropped->init(9);
  set_counter_weights(*dropped);
  require_close(to_double(dropped->forward(input, Mode::train)), train1, 0, 0, "same seed, same masks");
}

TEST_CASE("tnt refuses bad input and bad configs with their names", "[model][tnt]") {
  const ModelConfig cfg = tiny_config();
  auto model = create_model(cfg);
  REQUIRE_THROWS_AS(model->backward(Tensor({2, 10})), std::logic_error);
  REQUIRE_THROWS_WITH(model->forward(Tensor({2, 3, 32, 32}), Mode::train),
                      Catch::Contains(cfg.name) && Catch::Contains("[2, 3, 32, 32]"));
  REQUIRE_THROWS_WITH(model->forward(Tensor({2, 1, 16, 16}), Mode::train),
                      Catch::Contains(cfg.name) && Catch::Contains("[2, 1, 16, 16]"));
  REQUIRE_THROWS_WITH(model->forward(Tensor({3, 16, 16}), Mode::train), Catch::Contains(cfg.name));
  REQUIRE_THROWS_WITH(model->forward(Tensor({1, 3, 16, 16}, DType::bf16), Mode::train),
                      Catch::Contains(cfg.name));
  model->forward(Tensor({2, 3, 16, 16}), Mode::eval);
  REQUIRE_THROWS_AS(model->backward(Tensor({2, 10})), std::logic_error);
  REQUIRE_THROWS_AS(model->backward_from(0, Tensor({2, 5, 32})), std::logic_error);
  model->forward(Tensor({2, 3, 16, 16}), Mode::train);
  REQUIRE_THROWS_WITH(model->backward(Tensor({3, 10})),
                      Catch::Contains(cfg.name) && Catch::Contains("[3, 10]"));
  REQUIRE_THROWS_WITH(model->backward_from(1, Tensor({2, 5, 32})),
                      Catch::Contains(cfg.name) && Catch::Contains("[2, 5, 32]"));

  auto bad = [&](const std::string& a, const std::string& b = "") {
    ModelConfig c = cfg;
    apply_override(c, a);
    if (!b.empty()) apply_override(c, b);
    return c;
  };
  REQUIRE_THROWS_WITH(create_model(bad("num_heads=3")),
                      Catch::Contains(cfg.name) && Catch::Contains("embed_dim"));
  REQUIRE_THROWS_WITH(create_model(bad("inner_heads=3")),
                      Catch::Contains(cfg.name) && Catch::Contains("inner_dim"));
  REQUIRE_THROWS_WITH(create_model(bad("img_size=20")),
                      Catch::Contains(cfg.name) && Catch::Contains("img_size"));
  REQUIRE_THROWS_WITH(create_model(bad("word_kernel=11")),
                      Catch::Contains(cfg.name) && Catch::Contains("word_kernel"));
  REQUIRE_THROWS_WITH(create_model(bad("mlp_ratio=0.01")),
                      Catch::Contains(cfg.name) && Catch::Contains("mlp_ratio"));
}
