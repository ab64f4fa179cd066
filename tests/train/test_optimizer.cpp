// Optimizers against PyTorch (tests/fixtures/optimizers.h5, written by
// tests/parity/make_optimizer_fixture.py): the same initial tensors, gradients and learning rates, compared
// after every step. Plus the schedule and gradient clipping helpers.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>

#include "harness/h5read.hpp"
#include "harness/train/optimizer.hpp"
#include "harness/train/schedule.hpp"
#include "models/families/families.hpp"
#include "models/layers/cross_entropy.hpp"
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

TEST_CASE("updates over parameters larger than a chunk touch every element exactly once",
          "[train][optimizer]") {
  // 40000 and 70001 elements: several of the optimizer's 16384-element chunks, with ragged ends. Each element
  // must get exactly the per-element update (written out here as torch.optim documents it).
  Param w{"weight", Tensor({40000}), Tensor({40000}), true};
  Param b{"bias", Tensor({70001}), Tensor({70001}), false};
  const std::vector<train::Slot> slots{{"w", &w}, {"b", &b}};
  const Vec w0 = random_vec(40000, 91), b0 = random_vec(70001, 92), gw = random_vec(40000, 93),
            gb = random_vec(70001, 94);
  const float lr = 0.1f, wd = 0.05f, m = 0.9f;
  for (const bool nesterov : {false, true}) {
    INFO("nesterov " << nesterov);
    w.value.assign(to_float(w0));
    b.value.assign(to_float(b0));
    w.grad.assign(to_float(gw));
    b.grad.assign(to_float(gb));
    auto opt = train::make_optimizer(
        slots, {.kind = train::OptimizerKind::sgd, .weight_decay = wd, .momentum = m, .nesterov = nesterov});
    opt->step(lr);
    opt->step(lr);  // the second step reads the momentum buffer of the first
    auto expect = [&](const Vec& p0, const Vec& g0, float decay) {
      std::vector<float> out(p0.size());
      for (size_t i = 0; i < p0.size(); ++i) {
        float p = static_cast<float>(p0[i]), buf = 0;
        const float g = static_cast<float>(g0[i]);
        for (int step = 0; step < 2; ++step) {
          float d = g + decay * p;
          buf = step == 0 ? d : m * buf + d;
          d = nesterov ? d + m * buf : buf;
          p -= lr * d;
        }
        out[i] = p;
      }
      return out;
    };
    CHECK(w.value.to_vector() == expect(w0, gw, wd));
    CHECK(b.value.to_vector() == expect(b0, gb, 0.f));
  }
  // Clipping scales every element; the norm is the same however the parameters are split among threads.
  w.grad.assign(to_float(gw));
  b.grad.assign(to_float(gb));
  double sum_w = 0, sum_b = 0;
  for (double v : to_double(to_float(gw))) sum_w += v * v;
  for (double v : to_double(to_float(gb))) sum_b += v * v;
  CHECK(train::grad_norm(slots) == std::sqrt(sum_w + sum_b));
  train::scale_grads(slots, 0.5);
  CHECK(b.grad.to_vector()[70000] == static_cast<float>(gb[70000]) * 0.5f);
  CHECK(w.grad.to_vector()[16384] == static_cast<float>(gw[16384]) * 0.5f);
}

TEST_CASE("a model's parameters live in two flat buffers, and training on them is unchanged",
          "[train][optimizer]") {
  ModelConfig c = preset("vit_tiny_patch4_32");
  c.img_size = 8, c.patch_size = 4, c.embed_dim = 8, c.num_heads = 2, c.depth = 2, c.mlp_dim = 16;
  c.num_classes = 3;
  const auto packed = create_model(c);               // packs
  const auto loose = family_info(c.family).make(c);  // each parameter in its own buffers
  REQUIRE(packed->packed());
  REQUIRE_FALSE(loose->packed());

  // Layout: params() order, 64-byte aligned, inside the buffers, no overlap.
  const float* next = packed->flat_values();
  for (Param* p : packed->params()) {
    INFO(p->name);
    const float* v = static_cast<const float*>(p->value.mem().get_data_handle());
    const float* g = static_cast<const float*>(p->grad.mem().get_data_handle());
    CHECK(v >= next);
    CHECK(reinterpret_cast<uintptr_t>(v) % 64 == 0);
    CHECK(g - packed->flat_grads() == v - packed->flat_values());
    next = v + p->value.numel();
  }
  CHECK(next <= packed->flat_values() + packed->flat_size());

  // The same steps on both: bit-identical losses, gradient norms and parameters.
  packed->init(3);
  loose->init(3);
  const Tensor x = tensor({4, 3, 8, 8}, random_vec(4 * 3 * 64, 95));
  const std::vector<int64_t> labels{0, 2, 1, 2};
  auto train = [&](Model& model) {
    CrossEntropy ce("loss", {3});
    const std::vector<train::Slot> slots = train::trainable_slots(model);
    auto opt = train::make_optimizer(slots, {.kind = train::OptimizerKind::adamw});
    std::vector<double> trace;
    for (int step = 0; step < 3; ++step) {
      trace.push_back(ce.forward(model.forward(x, Mode::train), labels));
      model.backward(ce.backward());
      Runtime::wait();
      trace.push_back(train::grad_norm(slots));
      train::scale_grads(slots, 0.5);
      opt->step(1e-2);
    }
    for (Param* p : model.params())
      for (float v : p->value.to_vector()) trace.push_back(v);
    return trace;
  };
  CHECK(train(*packed) == train(*loose));

  packed->zero_grads();
  for (Param* p : packed->params())
    for (float v : p->grad.to_vector()) REQUIRE(v == 0.f);
}

}  // namespace vb::test
