// ViT model: parity with the PyTorch fixtures (logits, loss, every gradient, 5 SGD steps), the 224 presets'
// logits, parameter counts and state_dict keys, taps (backward_from vs finite differences), attention
// probabilities, initialisation, stochastic depth, rebuilds for another batch size, bad input.
// Set VITBENCH_PARITY_REPORT=1 to print the largest errors measured against the fixtures.
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

double attr_double(const Fixture& fx, const std::string& name) {
  double v = 0;
  H5::H5File(fx.path(), H5F_ACC_RDONLY)
      .openGroup("/")
      .openAttribute(name)
      .read(H5::PredType::NATIVE_DOUBLE, &v);
  return v;
}

// Prints the largest absolute and relative (to the largest |expected|) error when VITBENCH_PARITY_REPORT is
// set.
void report(const std::string& what, const Vec& actual, const Vec& expected) {
  if (!std::getenv("VITBENCH_PARITY_REPORT") || actual.size() != expected.size()) return;
  double err = 0, scale = 0;
  for (size_t i = 0; i < actual.size(); ++i)
    err = std::max(err, std::abs(actual[i] - expected[i])), scale = std::max(scale, std::abs(expected[i]));
  fmt::print("  {:<44} max abs err {:.3e}  max |expected| {:.3e}  rel {:.3e}\n", what, err, scale,
             scale > 0 ? err / scale : 0.0);
}

void compare(const std::string& what, const Vec& actual, const Vec& expected, double rtol, double atol) {
  report(what, actual, expected);
  require_close(actual, expected, rtol, atol, what);
}

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

std::vector<std::pair<std::string, Dims>> fixture_state_dict(const Fixture& fx) {
  std::vector<std::pair<std::string, Dims>> out;
  for (const auto& e : nlohmann::json::parse(fx.attr("state_dict")))
    out.emplace_back(e.at(0).get<std::string>(), e.at(1).get<Dims>());
  return out;
}

std::vector<std::pair<std::string, Dims>> model_state_dict(Model& m) {
  std::vector<std::pair<std::string, Dims>> out;
  for (const StateEntry& e : m.state()) out.emplace_back(e.key, e.shape());
  return out;
}

}  // namespace

TEST_CASE("vit matches the PyTorch fixtures", "[model][vit]") {
  // The fixtures are float64 torch, ours f32 through conv, 2 blocks (LN, softmax, GELU) and the head:
  // logits and loss rtol 1e-4 (atol 1e-5 for logits near 0); grads rtol 1e-3 with atol 1e-3 of the
  // gradient's scale (f32 sums over the batch and tokens); SGD losses rtol 1e-4 (5 steps of lr 0.1
  // compound the f32 rounding of every update).
  const std::string name = GENERATE(as<std::string>{}, "vit_pos_none", "vit_pos_learned_1d",
                                    "vit_pos_learned_2d", "vit_pos_sincos_2d");
  INFO(name);
  if (std::getenv("VITBENCH_PARITY_REPORT")) fmt::print("{}\n", name);
  const Fixture fx(name);
  auto model = create_model(fx.config());
  set_counter_weights(*model);
  const Tensor input = fx.tensor("input");
  const auto labels = fx.read_int("labels");
  const int64_t classes = model->config().num_classes;
  CrossEntropy ce("loss", {classes, static_cast<float>(attr_double(fx, "label_smoothing"))});

  compare("logits_eval", to_double(model->forward(input, Mode::eval)), fx.read("logits_eval"), 1e-4, 1e-5);
  const Tensor& logits = model->forward(input, Mode::train);
  compare("logits_train", to_double(logits), fx.read("logits_train"), 1e-4, 1e-5);
  const double loss = ce.forward(logits, labels);
  compare("loss", {loss}, fx.read("loss"), 1e-5, 0);

  const Tensor& grad_input = model->backward(ce.backward());
  REQUIRE(grad_input.shape() == input.shape());
  auto grad_check = [&](const std::string& what, const Vec& actual, const Vec& expected) {
    double scale = 0;
    for (double e : expected) scale = std::max(scale, std::abs(e));
    compare(what, actual, expected, 1e-3, 1e-3 * scale);
  };
  grad_check("grad_input", to_double(grad_input), fx.read("grad_input"));
  for (const StateEntry& e : model->state())
    grad_check("grads/" + e.key, to_double(e.param->grad), fx.read("grads/" + e.key));

  // Plain SGD from the same start: the loss before each update.
  const Vec sgd = fx.read("sgd_losses");
  const float lr = static_cast<float>(attr_double(fx, "sgd_lr"));
  Vec ours;
  for (size_t step = 0; step < sgd.size(); ++step) {
    ours.push_back(ce.forward(model->forward(input, Mode::train), labels));
    model->backward(ce.backward());
    Runtime::wait();
    for (Param* p : model->params()) {
      float* w = p->value.data();
      const float* g = p->grad.data();
      for (int64_t i = 0; i < p->value.numel(); ++i) w[i] -= lr * g[i];
    }
  }
  compare("sgd_losses", ours, sgd, 1e-4, 0);
}

namespace {
void check_224(const std::string& fixture) {
  // One real 224 forward of counter weights in f32 vs float64 torch: 12 blocks; rtol 1e-4 + atol 1e-4
  // relative to the logits' scale.
  const Fixture fx(fixture);
  const ModelConfig cfg = fx.config();
  auto model = create_model(cfg);
  set_counter_weights(*model);
  const Tensor image = counter_input({1, 3, 224, 224});
  const Vec v = to_double(image);
  require_close(slice(v, 0, 256), fx.read("input_head"), 0, 0, "input_head");
  double sum = 0;
  for (double x : v) sum += x;
  require_close({sum}, fx.read("input_sum"), 1e-9, 1e-9, "input_sum");
  const Vec expected = fx.read("logits_eval");
  double scale = 0;
  for (double e : expected) scale = std::max(scale, std::abs(e));
  if (std::getenv("VITBENCH_PARITY_REPORT")) fmt::print("{}\n", fixture);
  compare("logits_eval", to_double(model->forward(image, Mode::eval)), expected, 1e-4, 1e-4 * scale);
}
}  // namespace

TEST_CASE("vit_tiny_patch16_224 matches timm's logits", "[model][vit]") {
  check_224("vit_tiny_patch16_224_224");
}
TEST_CASE("vit_small_patch16_224 matches timm's logits", "[model][vit]") {
  check_224("vit_small_patch16_224_224");
}
TEST_CASE("vit_base_patch16_224 matches timm's logits", "[model][vit][slow]") {
  check_224("vit_base_patch16_224_224");
}

TEST_CASE("vit parameter counts and state_dict keys match PyTorch", "[model][vit]") {
  // Published counts (REFERENCE.md).
  const std::vector<std::pair<std::string, int64_t>> counts{{"vit_tiny_patch16_224", 5'717'416},
                                                            {"vit_small_patch16_224", 22'050'664},
                                                            {"vit_base_patch16_224", 86'567'656}};
  for (const auto& [name, expected] : counts) {
    INFO(name);
    auto model = create_model(preset(name));
    REQUIRE(model->num_params() == expected);
    REQUIRE(model_state_dict(*model) == fixture_state_dict(Fixture(name + "_224")));
  }
  for (const char* name : {"vit_pos_none", "vit_pos_learned_1d", "vit_pos_learned_2d", "vit_pos_sincos_2d"}) {
    INFO(name);
    const Fixture fx(name);
    auto model = create_model(fx.config());
    REQUIRE(model_state_dict(*model) == fixture_state_dict(fx));
  }
}

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
  const Vec in = to_double(fx.tensor("input")), eval = fx.read("logits_eval"),
            train = fx.read("logits_train");
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
  REQUIRE(to_double(z->forward(x, Mode::train)) == to_double(z->forward(x, Mode::eval)));
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
