// Optimizers against PyTorch (tests/fixtures/optimizers.h5, written by
// tests/parity/make_optimizer_fixture.py): the same initial tensors, gradients and learning rates, compared
// after every step. Plus the schedule and gradient clipping helpers.
#include <catch2/catch.hpp>

#include "harness/h5read.hpp"
#include "harness/train/optimizer.hpp"
#include "harness/train/schedule.hpp"
#include "tests/support/check.hpp"

namespace vb::test {

namespace {

struct TwoParams {
  Param w{"weight", Tensor({3, 5}), Tensor({3, 5}), true};
  Param b{"bias", Tensor({5}), Tensor({5}), false};  // no weight decay, as biases in vitbench
  std::vector<train::Slot> slots() { return {{"w", &w}, {"b", &b}}; }
};

void replay(const std::string& name, const train::OptimizerConfig& cfg) {
  const H5Input f(std::string(VITBENCH_FIXTURES) + "/optimizers.h5");
  TwoParams p;
  p.w.value.assign(f.read_f32("init/w"));
  p.b.value.assign(f.read_f32("init/b"));
  auto opt = train::make_optimizer(p.slots(), cfg);
  const auto lrs = f.read_f64("lrs");
  for (size_t i = 0; i < lrs.size(); ++i) {
    p.w.grad.assign(f.read_f32(fmt::format("grads/{}/w", i)));
    p.b.grad.assign(f.read_f32(fmt::format("grads/{}/b", i)));
    opt->step(lrs[i]);
    // f32 arithmetic on both sides, different operation order: a few ulps.
    require_close(to_double(p.w.value), to_double(f.read_f32(fmt::format("{}/{}/w", name, i))), 1e-6, 1e-6,
                  fmt::format("{} step {} weight", name, i));
    require_close(to_double(p.b.value), to_double(f.read_f32(fmt::format("{}/{}/b", name, i))), 1e-6, 1e-6,
                  fmt::format("{} step {} bias (no decay)", name, i));
  }
  CHECK(opt->steps() == static_cast<int64_t>(lrs.size()));
}

}  // namespace

TEST_CASE("SGD with momentum and Nesterov, and AdamW, match PyTorch step by step", "[train][optimizer]") {
  train::OptimizerConfig sgd{.kind = train::OptimizerKind::sgd, .weight_decay = 0.01, .momentum = 0.9};
  replay("sgd", sgd);
  sgd.nesterov = true;
  replay("sgd_nesterov", sgd);
  replay("adamw", train::OptimizerConfig{.kind = train::OptimizerKind::adamw, .weight_decay = 0.05});
}

TEST_CASE("optimizer state round-trips and resuming from it continues identically", "[train][optimizer]") {
  const H5Input f(std::string(VITBENCH_FIXTURES) + "/optimizers.h5");
  auto run = [&](bool restart) {
    TwoParams p;
    p.w.value.assign(f.read_f32("init/w"));
    p.b.value.assign(f.read_f32("init/b"));
    const train::OptimizerConfig cfg{.kind = train::OptimizerKind::adamw};
    auto opt = train::make_optimizer(p.slots(), cfg);
    for (int i = 0; i < 4; ++i) {
      if (restart && i == 2) {  // a new optimizer given the saved state, as a resumed run does
        std::map<std::string, std::vector<float>> saved;
        for (auto& [k, v] : opt->state()) saved[k] = *v;
        const int64_t steps = opt->steps();
        opt = train::make_optimizer(p.slots(), cfg);
        for (auto& [k, v] : opt->state()) *v = saved.at(k);
        opt->set_steps(steps);
      }
      p.w.grad.assign(f.read_f32(fmt::format("grads/{}/w", i)));
      p.b.grad.assign(f.read_f32(fmt::format("grads/{}/b", i)));
      opt->step(0.01);
    }
    return p.w.value.to_vector();
  };
  CHECK(run(false) == run(true));
}

TEST_CASE("optimizer settings are checked", "[train][optimizer]") {
  TwoParams p;
  REQUIRE_THROWS_WITH(parse_enum<train::OptimizerKind>("optimizer", "adam"),
                      "optimizer: unknown optimizer 'adam'; known: adamw, sgd");
  REQUIRE_THROWS_WITH(train::make_optimizer(p.slots(), {.kind = train::OptimizerKind::sgd, .momentum = 1.5}),
                      Catch::Contains("momentum"));
  REQUIRE_THROWS_WITH(
      train::make_optimizer(p.slots(), {.kind = train::OptimizerKind::sgd, .weight_decay = -1}),
      Catch::Contains("weight_decay"));
}

TEST_CASE("warm-up then cosine schedule", "[train][schedule]") {
  const train::Schedule s{.lr = 1.0, .min_lr = 0.1, .warmup_steps = 4, .total_steps = 14};
  CHECK(s.at(0) == Approx(0.25));
  CHECK(s.at(3) == Approx(1.0));                                      // end of warm-up: the peak
  CHECK(s.at(4) == Approx(1.0));                                      // cosine starts at the peak
  CHECK(s.at(9) == Approx(0.1 + 0.45 * (1 + std::cos(M_PI * 0.5))));  // half way: (lr + min_lr) / 2
  CHECK(s.at(14) == Approx(0.1));                                     // the end
  for (int64_t i = 4; i < 14; ++i) CHECK(s.at(i + 1) <= s.at(i));     // monotone decay
}

TEST_CASE("global gradient norm and clipping", "[train][optimizer]") {
  TwoParams p;
  std::vector<float> gw(15, 0.f), gb(5, 0.f);
  gw[0] = 3.f;
  gb[4] = 4.f;
  p.w.grad.assign(gw);
  p.b.grad.assign(gb);
  CHECK(train::grad_norm(p.slots()) == Approx(5.0));
  train::scale_grads(p.slots(), 0.2);
  CHECK(train::grad_norm(p.slots()) == Approx(1.0));
  CHECK(p.b.grad.to_vector()[4] == Approx(0.8f));
}

}  // namespace vb::test
