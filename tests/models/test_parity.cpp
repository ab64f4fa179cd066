// Every model family against its PyTorch twin (tests/parity/torch_models.py), driven by the fixture tables
// below: state_dict keys and shapes, eval and train logits, loss, every parameter gradient and the input
// gradient after one backward, a 5-step SGD trajectory (and ResNet's BatchNorm running statistics after it);
// the 224 presets' eval logits with counter-generated weights. A fixture added to tests/fixtures belongs
// here.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "models/layers/cross_entropy.hpp"
#include "tests/support/check.hpp"
#include "tests/support/fixture.hpp"

using namespace vb;
using namespace vb::test;

namespace {

// Tolerances: the fixtures are float64 PyTorch, the models run in f32 on oneDNN's blocked kernels.
constexpr double kLogitTol = 1e-4;  // logits (per element, floor at 1e-4 of the largest logit)
constexpr double kLossTol = 1e-5;
constexpr double kGradTol = 1e-3;  // gradients: more chains of f32 rounding; norm backward cancels

struct SmallCase {
  const char* fixture;
  double sgd_rtol;     // per-step relative error of the SGD losses
  double running_tol;  // BatchNorm running statistics after the SGD steps (ResNet only)
};

// SGD tolerances. Five lr-0.1 steps on a batch of 4 amplify rounding, so a trajectory is only comparable when
// it is well-conditioned: make_fixtures.py re-runs each one with 1e-7 relative noise on every conv/linear
// output and stores how far it moved (sgd_sensitivity_loss / _running); check_small requires each tolerance
// to be at least 3x that, so a tolerance can never sit inside the reference's own rounding sensitivity.
// resnet_cifar sits near a ReLU kink (2.6e-4 in running statistics under that noise); resnet_imagenet is 48
// px with 3 steps, since at 32 px with 5 (layer4 BatchNorms over 4 values per channel) PyTorch's own float32
// run missed its float64 run by 0.019 and oneDNN's AVX2 path failed a 1e-2 tolerance the same way (issue 18,
// tests/parity/make_fixtures.py).
const SmallCase kSmall[] = {
    {"resnet_cifar", 1e-4, 1e-3},    {"resnet_imagenet", 1e-4, 1e-3}, {"vit_pos_none", 1e-4, 0},
    {"vit_pos_learned_1d", 1e-4, 0}, {"vit_pos_learned_2d", 1e-4, 0}, {"vit_pos_sincos_2d", 1e-4, 0},
    {"tnt_pos_none", 1e-4, 0},       {"tnt_pos_inner", 1e-4, 0},      {"tnt_pos_outer", 1e-4, 0},
    {"tnt_pos_both", 1e-4, 0},
};

// The 224 presets; vit_base (about 3 s) is in the slow tier.
const char* const k224Fast[] = {"resnet50_224", "vit_tiny_patch16_224_224", "vit_small_patch16_224_224",
                                "tnt_s_patch16_224_224", "tnt_b_patch16_224_224"};
const char* const k224Slow[] = {"vit_base_patch16_224_224"};

// Prints the measured error, max |a - e| / max |e|, when VITBENCH_PARITY_REPORT=1 (docs and notes quote it).
void report(const Vec& actual, const Vec& expected, const std::string& what) {
  if (!std::getenv("VITBENCH_PARITY_REPORT") || actual.size() != expected.size()) return;
  double err = 0;
  for (size_t i = 0; i < actual.size(); ++i) err = std::max(err, std::abs(actual[i] - expected[i]));
  fmt::print("parity {:<56} max|err|/max|expected| = {:.2e}\n", what,
             err / std::max(max_abs(expected), 1e-300));
}

// Reports, then checks with require_close_scaled.
void compare(const Vec& actual, const Vec& expected, double tol, const std::string& what) {
  report(actual, expected, what);
  require_close_scaled(actual, expected, tol, what);
}

void require_state_matches(Model& model, const Fixture& fx) {
  const auto expected = nlohmann::json::parse(fx.attr("state_dict"));
  const auto state = model.state();
  REQUIRE(state.size() == expected.size());
  for (size_t i = 0; i < state.size(); ++i) {
    INFO("entry " << i << ": " << state[i].key);
    CHECK(state[i].key == expected[i][0].get<std::string>());
    CHECK(state[i].shape() == expected[i][1].get<Dims>());
  }
}

// Plain SGD p -= lr * grad on every parameter.
void sgd_step(Model& model, double lr) {
  for (Param* p : model.params()) {
    auto v = p->value.to_vector();
    const auto g = p->grad.to_vector();
    for (size_t i = 0; i < v.size(); ++i) v[i] -= static_cast<float>(lr) * g[i];
    p->value.assign(v);
  }
}

void check_small(const SmallCase& c) {
  const Fixture fx(c.fixture);
  const std::string name = c.fixture;
  auto model = create_model(fx.config());
  require_state_matches(*model, fx);
  set_counter_weights(*model);
  const Tensor x = fx.input();
  const auto labels = fx.read_int("labels");
  CrossEntropy ce("loss", {model->config().num_classes, static_cast<float>(fx.number("label_smoothing"))});

  compare(to_double(model->infer(x)), fx.read("logits_eval"), kLogitTol,
          name + " logits_infer (Model::infer)");
  compare(to_double(model->forward(x, Mode::eval)), fx.read("logits_eval"), kLogitTol, name + " logits_eval");
  const Tensor& logits = model->forward(x, Mode::train);
  compare(to_double(logits), fx.read("logits_train"), kLogitTol, name + " logits_train");
  const double loss = ce.forward(logits, labels);
  report({loss}, fx.read("loss"), name + " loss");
  require_close({loss}, fx.read("loss"), kLossTol, 0, name + " loss");
  const Tensor& diff_images = model->backward(ce.backward());
  compare(to_double(diff_images), fx.read("grad_input"), kGradTol, name + " grad_input");
  // All parameter gradients as one vector for the report; each tensor is checked on its own scale.
  Vec all_grads, all_expected;
  for (const StateEntry& e : model->state()) {
    if (!e.param) continue;
    const Vec g = to_double(e.param->grad), want = fx.read("grads/" + e.key);
    require_close_scaled(g, want, kGradTol, name + " grad " + e.key);
    all_grads.insert(all_grads.end(), g.begin(), g.end());
    all_expected.insert(all_expected.end(), want.begin(), want.end());
  }
  report(all_grads, all_expected, name + " all parameter grads");

  // The fixture's trajectory is well-conditioned for these tolerances (see kSmall).
  CHECK(c.sgd_rtol >= 3 * fx.number("sgd_sensitivity_loss"));
  if (c.running_tol > 0) CHECK(c.running_tol >= 3 * fx.number("sgd_sensitivity_running"));

  // Plain SGD steps from the same start (a fresh model: BatchNorm statistics start over too).
  model = create_model(fx.config());
  set_counter_weights(*model);
  const Vec expected = fx.read("sgd_losses");
  Vec losses;
  for (size_t step = 0; step < expected.size(); ++step) {
    losses.push_back(ce.forward(model->forward(x, Mode::train), labels));
    model->backward(ce.backward());
    sgd_step(*model, fx.number("sgd_lr"));
  }
  report(losses, expected, name + " sgd_losses");
  require_close(losses, expected, c.sgd_rtol, 0, name + " sgd_losses");
  CHECK(losses.back() < losses.front());
  for (const StateEntry& e : model->state()) {
    if (e.buffer)
      compare(to_double(*e.buffer), fx.read("running_after/" + e.key), c.running_tol, name + " " + e.key);
    if (e.counter) CHECK(*e.counter == static_cast<int64_t>(expected.size()));  // num_batches_tracked
  }
}

void check_224(const std::string& name) {
  const Fixture fx(name);
  auto model = create_model(fx.config());
  require_state_matches(*model, fx);
  set_counter_weights(*model);
  const Tensor x = fx.input();  // counter-generated, checked against the file's input_head and input_sum
  REQUIRE(x.shape() == Dims{1, 3, 224, 224});
  compare(to_double(model->forward(x, Mode::eval)), fx.read("logits_eval"), kLogitTol, name + " logits_eval");
  compare(to_double(model->infer(x)), fx.read("logits_eval"), kLogitTol,
          name + " logits_infer (Model::infer)");
}

}  // namespace

TEST_CASE("every family matches PyTorch on the small fixtures: logits, loss, grads, SGD", "[model][parity]") {
  for (const SmallCase& c : kSmall) DYNAMIC_SECTION(c.fixture) {
      check_small(c);
    }
}

TEST_CASE("the 224 presets match PyTorch's eval logits", "[model][parity]") {
  for (const char* name : k224Fast) DYNAMIC_SECTION(name) {
      check_224(name);
    }
}

TEST_CASE("the 224 presets match PyTorch's eval logits (large)", "[model][parity][slow]") {
  for (const char* name : k224Slow) DYNAMIC_SECTION(name) {
      check_224(name);
    }
}
