// ResNet's fused inference graph (models/families/resnet/fused_inference.hpp) against the layer-by-layer
// Mode::eval forward: BatchNorm folded with non-trivial running statistics, both stems, identity and
// downsample shortcuts, a batch-size change, weights changed between calls (never stale), and bf16 where the
// CPU has it. The parity fixtures check infer() against PyTorch too (test_parity.cpp).
#include <catch2/catch.hpp>

#include "models/core/cpu.hpp"
#include "models/families/resnet/resnet.hpp"
#include "models/model.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

namespace {

// Random init plus BatchNorm weights, biases and running statistics far from 1 / 0 / 0 / 1, so that a wrong
// fold (a missing scale, mean or eps) shows.
void randomize(Model& m, uint64_t seed) {
  m.init(seed);
  for (auto& e : m.state()) {
    const bool norm =
        e.key.find("bn") != std::string::npos || e.key.find("downsample.1") != std::string::npos;
    if (!norm || e.counter) continue;
    Tensor& t = e.param ? e.param->value : *e.buffer;
    const auto n = static_cast<size_t>(t.numel());
    const bool var = e.key.ends_with("running_var"), gamma = e.key.ends_with(".weight");
    t.assign(to_float(random_vec(n, seed++, var ? 0.3 : gamma ? 0.5 : -0.5, var ? 2.0 : gamma ? 1.5 : 0.5)));
  }
}

ModelConfig config(const std::string& name, const std::vector<std::string>& overrides, DType d = DType::f32) {
  ModelConfig c = preset(name);
  for (const auto& o : overrides) apply_override(c, o);
  c.dtype = d;
  return c;
}

}  // namespace

TEST_CASE("fused resnet inference equals the eval forward (cifar and imagenet stems, both shortcuts)",
          "[model][resnet]") {
  const std::vector<std::pair<ModelConfig, int64_t>> cases = {
      {config("resnet50_w16_32", {"layers=1,2,1,1"}), 32},           // cifar stem, 3x3 conv, no maxpool
      {config("resnet50", {"base_width=8", "layers=2,1,2,1"}), 64},  // imagenet stem, 7x7/2 + maxpool
  };
  for (const auto& [cfg, img] : cases) DYNAMIC_SECTION(cfg.name) {
      auto m = create_model(cfg);
      randomize(*m, 7);
      for (int64_t batch : {2, 3}) {  // the graph is rebuilt for a new batch size
        const Tensor x = tensor({batch, 3, img, img}, random_vec(batch * 3 * img * img, 11 + batch));
        const Vec eval = to_double(m->forward(x, Mode::eval));
        require_close_scaled(to_double(m->infer(x)), eval, 2e-5, cfg.name + " infer vs eval");
      }
      // New weights and statistics between two calls: infer() reads them, it does not keep the first fold.
      randomize(*m, 99);
      const Tensor x = tensor({2, 3, img, img}, random_vec(2 * 3 * img * img, 5));
      const Vec eval = to_double(m->forward(x, Mode::eval));
      require_close_scaled(to_double(m->infer(x)), eval, 2e-5, cfg.name + " infer after new weights");
    }
}

TEST_CASE("fused resnet inference in bf16 stays within bf16 rounding of the eval forward",
          "[model][resnet][bf16]") {
  if (!dtype_available(DType::bf16)) return skip("this CPU has no bf16 (docs/portability.md)");
  auto m = create_model(config("resnet50_w16_32", {"layers=1,1,1,1"}, DType::bf16));
  randomize(*m, 3);
  const Tensor x = tensor({2, 3, 32, 32}, random_vec(2 * 3 * 32 * 32, 4));
  const Vec eval = to_double(m->forward(x, Mode::eval)), fused = to_double(m->infer(x));
  double num = 0, den = 0;
  for (size_t i = 0; i < eval.size(); ++i)
    num += (fused[i] - eval[i]) * (fused[i] - eval[i]), den += eval[i] * eval[i];
  CHECK(std::sqrt(num / den) < 3e-2);  // bf16 has 8 bits of mantissa; both paths round feature maps to bf16
}

TEST_CASE("training after fused inference trains the model's own weights (the fold never writes them)",
          "[model][resnet]") {
  const ModelConfig cfg = config("resnet50_w16_32", {"layers=1,1,1,1"});
  auto a = create_model(cfg), b = create_model(cfg);
  randomize(*a, 21);
  randomize(*b, 21);
  const Tensor x = tensor({2, 3, 32, 32}, random_vec(2 * 3 * 32 * 32, 8));
  a->infer(x);  // b never runs the fused graph
  const Tensor diff = tensor({2, 10}, random_vec(20, 9));
  const Vec la = to_double(a->forward(x, Mode::train)), lb = to_double(b->forward(x, Mode::train));
  REQUIRE(la == lb);
  a->backward(diff);
  b->backward(diff);
  const auto sa = a->state(), sb = b->state();
  for (size_t i = 0; i < sa.size(); ++i) {
    if (sa[i].param) REQUIRE(to_double(sa[i].param->grad) == to_double(sb[i].param->grad));
    if (sa[i].param) REQUIRE(to_double(sa[i].param->value) == to_double(sb[i].param->value));
    if (sa[i].buffer) REQUIRE(to_double(*sa[i].buffer) == to_double(*sb[i].buffer));
  }
}

TEST_CASE("fused resnet inference folds once per change of weights or running statistics",
          "[model][resnet]") {
  auto m = create_model(config("resnet50_w16_32", {"layers=1,1,1,1"}));
  auto* resnet = dynamic_cast<ResNet*>(m.get());
  REQUIRE(resnet);
  randomize(*m, 31);
  const Tensor x = tensor({2, 3, 32, 32}, random_vec(2 * 3 * 32 * 32, 12));
  m->infer(x);
  const int64_t convs = resnet->fused_inference()->folds();  // the first call folds every conv
  REQUIRE(convs == 1 + 4 * 3 + 4);                           // stem, 3 per bottleneck, 4 downsample shortcuts
  m->infer(x);
  m->infer(x);
  CHECK(resnet->fused_inference()->folds() == convs);  // nothing changed: nothing folded again

  // A training forward moves every BatchNorm's running statistics: the next infer() folds every conv again
  // and equals the eval forward with the new statistics.
  m->forward(tensor({2, 3, 32, 32}, random_vec(2 * 3 * 32 * 32, 13)), Mode::train);
  const Vec eval = to_double(m->forward(x, Mode::eval));
  require_close_scaled(to_double(m->infer(x)), eval, 2e-5, "infer after a training forward");
  CHECK(resnet->fused_inference()->folds() == 2 * convs);

  // One weight written by the host (as the optimizer, init or a checkpoint load do): that conv only.
  auto state = m->state();
  for (auto& e : state)
    if (e.key == "layer2.0.conv2.weight")
      e.param->value.assign(to_float(random_vec(e.param->value.numel(), 14)));
  const Vec eval2 = to_double(m->forward(x, Mode::eval));
  require_close_scaled(to_double(m->infer(x)), eval2, 2e-5, "infer after one weight changed");
  CHECK(resnet->fused_inference()->folds() == 2 * convs + 1);
}
