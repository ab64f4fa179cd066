// bf16 mixed precision (ModelConfig::dtype): a bf16 model and an f32 model with the same weights give close
// logits and gradients; taps stay readable; bf16 layers (dst dtype, memory-bound layers on bf16) agree with
// their f32 selves on bf16-representable inputs; a CPU without bf16 gets a clear error.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

#include "models/layers/add.hpp"
#include "models/layers/avgpool.hpp"
#include "models/layers/batchnorm2d.hpp"
#include "models/layers/conv2d.hpp"
#include "models/layers/gelu.hpp"
#include "models/layers/linear.hpp"
#include "models/layers/maxpool2d.hpp"
#include "models/layers/relu.hpp"
#include "models/model.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

namespace {

// ||a - b|| / ||b|| (L2 over all elements).
double rel_l2(const Vec& a, const Vec& b) {
  REQUIRE(a.size() == b.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) num += (a[i] - b[i]) * (a[i] - b[i]), den += b[i] * b[i];
  return std::sqrt(num / std::max(den, 1e-300));
}

// The same config in f32 and bf16 with the same init(seed), and B seeded images in [-2, 2].
struct Pair {
  std::unique_ptr<Model> m32, m16;
  Tensor images;
};
Pair make_pair(const ModelConfig& c32, int64_t B, uint64_t seed) {
  ModelConfig c16 = c32;
  c16.dtype = DType::bf16;
  Pair p{create_model(c32), create_model(c16), {}};
  p.m32->init(seed);
  p.m16->init(seed);
  const int64_t S = c32.img_size;
  p.images = tensor({B, c32.in_chans, S, S}, random_vec(B * c32.in_chans * S * S, seed + 1, -2, 2));
  return p;
}

struct Errors {
  double logits = 0, grads = 0, worst_grad = 0;  // rel L2: logits, all grads together, worst single tensor
  std::string worst_name;
};

// Same config in f32 and bf16, same init(seed); one train forward on the same images, backward of the same
// diff_logits. Returns the relative errors of bf16 against f32.
Errors compare(const ModelConfig& c32, int64_t B, uint64_t seed) {
  auto [m32, m16, images] = make_pair(c32, B, seed);
  const Tensor diff = tensor({B, c32.num_classes}, random_vec(B * c32.num_classes, seed + 2));
  Errors e;
  const Tensor& l32 = m32->forward(images, Mode::train);
  const Tensor& l16 = m16->forward(images, Mode::train);
  REQUIRE(l16.dtype() == DType::f32);  // logits are f32 in both
  REQUIRE(l16.plain());
  e.logits = rel_l2(to_double(l16), to_double(l32));
  m32->backward(diff);
  m16->backward(diff);
  const auto p32 = m32->params(), p16 = m16->params();
  REQUIRE(p32.size() == p16.size());
  Vec all32, all16;
  for (size_t i = 0; i < p32.size(); ++i) {
    REQUIRE(p16[i]->grad.dtype() == DType::f32);  // master grads stay f32
    const Vec g32 = to_double(p32[i]->grad), g16 = to_double(p16[i]->grad);
    all32.insert(all32.end(), g32.begin(), g32.end());
    all16.insert(all16.end(), g16.begin(), g16.end());
    // The worst single tensor among weight matrices / kernels: vectors (norm scales and shifts, biases) can
    // have gradients that are small differences (the next train-mode BN removes their mean), ~0 in both.
    if (p32[i]->value.shape().size() < 2) continue;
    const double r = rel_l2(g16, g32);
    if (r > e.worst_grad) e.worst_grad = r, e.worst_name = std::to_string(i);
  }
  e.grads = rel_l2(all16, all32);
  // Taps are readable (bf16 maps convert through to_vector) and close to the f32 ones.
  for (size_t i : {size_t{0}, m16->taps().size() - 1}) {
    INFO("tap " << m16->taps()[i]);
    CHECK(rel_l2(to_double(m16->tap(i)), to_double(m32->tap(i))) < 5e-2);
  }
  return e;
}

// Relative L2 error of bf16 eval logits against f32 (same config, init and images).
double eval_logits_error(const ModelConfig& c32, int64_t B, uint64_t seed) {
  auto [m32, m16, images] = make_pair(c32, B, seed);
  return rel_l2(to_double(m16->forward(images, Mode::eval)), to_double(m32->forward(images, Mode::eval)));
}

// At initialisation, train-mode BatchNorm makes a deep ResNet chaotic (batch statistics couple the samples;
// mean-field analyses of BN show gradients exploding with depth): in f32 alone, a 0.2% perturbation of the
// images grows ~100x by layer4 of resnet50_w16_32 (train mode, measured), so a bf16-vs-f32 bound there would
// measure that chaos, not bf16 (we measured 15% logits, 140% grads). Train-mode comparisons of ResNet use one
// block per stage (every layer kind, the downsampling shortcuts, ~4x less amplification); eval mode (running
// statistics, no coupling) is compared at full depth.
ModelConfig train_config(const std::string& name) {
  ModelConfig c = preset(name);
  if (c.family == Family::resnet) c.layers = {1, 1, 1, 1};
  return c;
}

// The bound. bf16 keeps 8 significant bits: each rounding of an operand is a relative error up to 2^-9
// (~2e-3); a layer rounds its input and its weights, and roundings of independent values add in quadrature
// over the depth. The small presets have 9 to 17 blocks, ~25 to 55 rounded matmul/conv operands on the
// longest path: sqrt(50) * 2 * 2^-9 ~ 3e-2 if nothing cancels. Logits: 3e-2 (measured 0.4-0.7% for the
// transformers, 1.3% for the one-block-per-stage ResNet). Gradients pass through the net twice (forward
// activations and backward diffs, also bf16): transformers 5e-2 for all together, 0.1 for the worst weight
// tensor (measured 0.8-0.9% and 1.1-1.7%). ResNet's train-mode BatchNorms amplify (see train_config) and
// their backward subtracts per-channel means of the gradient, leaving differences of nearly equal sums:
// 0.3 together, 0.5 for the worst kernel (measured 17.6% together).
void check_bounds(const Errors& e, Family family) {
  INFO("logits rel L2 " << e.logits << ", grads rel L2 " << e.grads << ", worst grad tensor " << e.worst_name
                        << " rel L2 " << e.worst_grad);
  const bool cnn = family == Family::resnet;
  CHECK(e.logits < 3e-2);
  CHECK(e.grads < (cnn ? 0.3 : 5e-2));
  CHECK(e.worst_grad < (cnn ? 0.5 : 0.1));
  // And the bf16 model really computes in bf16 (not silently f32): its logits differ by more than f32
  // rounding (~1e-6 relative) would explain.
  CHECK(e.logits > 1e-4);
}

}  // namespace

TEST_CASE("a bf16 model is refused on a CPU without bf16 before any layer is built", "[bf16][model]") {
  VB_REQUIRE_NO_BF16();
  ModelConfig c = preset("vit_tiny_patch4_32");
  c.dtype = DType::bf16;
  REQUIRE_THROWS_WITH(create_model(c),
                      Catch::Contains("vit_tiny_patch4_32: bf16 not available on this CPU: needs "
                                      "avx512_core_bf16 or AMX, oneDNN dispatches to " +
                                      cpu_isa_string()));
}

TEST_CASE("bf16 models stay close to f32 on the small presets", "[bf16][model]") {
  VB_REQUIRE_BF16();
  const std::string name = GENERATE("resnet50_w16_32", "vit_tiny_patch4_32", "tnt_tiny_patch8_32");
  INFO(name);
  check_bounds(compare(train_config(name), 2, 5), preset(name).family);
  const double eval_err = eval_logits_error(preset(name), 2, 6);
  INFO("eval logits rel L2 " << eval_err);
  CHECK(eval_err < 3e-2);
  CHECK(eval_err > 1e-4);
}

TEST_CASE("bf16 models stay close to f32 at 224", "[bf16][model][slow]") {
  VB_REQUIRE_BF16();
  const std::string name = GENERATE("resnet50", "vit_small_patch16_224", "tnt_s_patch16_224");
  INFO(name);
  check_bounds(compare(train_config(name), 2, 7), preset(name).family);
  const double eval_err = eval_logits_error(preset(name), 2, 8);
  INFO("eval logits rel L2 " << eval_err);
  CHECK(eval_err < 3e-2);
}

TEST_CASE("bf16 resnet: eval forward, backward_from a tap with an f32 gradient", "[bf16][model]") {
  VB_REQUIRE_BF16();
  ModelConfig c = preset("resnet50_w16_32");
  c.dtype = DType::bf16;
  c.layers = {1, 1, 1, 1};
  auto m = create_model(c);
  m->init(3);
  const Tensor images = tensor({2, 3, 32, 32}, random_vec(2 * 3 * 32 * 32, 4));
  const Vec eval_logits = to_double(m->forward(images, Mode::eval));
  for (double v : eval_logits) REQUIRE(std::isfinite(v));
  m->forward(images, Mode::train);
  REQUIRE(m->tap(2).dtype() == DType::bf16);  // feature maps stay bf16 between layers
  const Dims shape = m->tap(2).shape();
  const Tensor& d = m->backward_from(2, tensor(shape, random_vec(product(shape), 5)));
  REQUIRE(d.shape() == Dims{2, 3, 32, 32});
  const Vec dx = to_double(d);
  REQUIRE(max_abs(dx) > 0);
  for (double v : dx) REQUIRE(std::isfinite(v));
}

// ---- layers
// -------------------------------------------------------------------------------------------------

TEST_CASE("linear and conv2d with a bf16 dst write the f32 result rounded to bf16", "[bf16][layer]") {
  VB_REQUIRE_BF16();
  // Both runs see the same bf16 src and weights and accumulate in f32; the bf16 dst is that f32 sum
  // rounded once: within one bf16 half-ulp (2^-9 relative) of the f32 dst, plus f32 accumulation noise.
  const Vec x = round_bf16(random_vec(6 * 20, 1)), w = round_bf16(random_vec(12 * 20, 2));
  Linear f("fc", {20, 12, true, DType::bf16}), h("fc", {20, 12, true, DType::bf16, DType::bf16});
  for (Linear* l : {&f, &h})
    l->weight().value.assign(to_float(w)), l->bias().value.assign(to_float(random_vec(12, 3)));
  const Tensor src = tensor({2, 3, 20}, x);
  const Vec y32 = to_double(f.forward(src, Mode::train));
  const Tensor& y16 = h.forward(src, Mode::train);
  REQUIRE(y16.dtype() == DType::bf16);
  require_close(to_double(y16), y32, std::ldexp(1.0, -8), 1e-6, "linear bf16 dst");
  // A bf16 src is accepted, and its diff_src comes back in bf16 (the dtype of src).
  Linear g("fc2", {12, 5, true, DType::bf16});
  g.forward(y16, Mode::train);
  const Tensor& dx = g.backward(tensor({2, 3, 5}, random_vec(30, 4)));
  REQUIRE(dx.dtype() == DType::bf16);
  REQUIRE(dx.shape() == Dims{2, 3, 12});

  const Vec xi = round_bf16(random_vec(2 * 3 * 7 * 7, 5)), wc = round_bf16(random_vec(8 * 3 * 3 * 3, 6));
  Conv2d c32("conv", {.in_channels = 3, .out_channels = 8, .kernel = 3, .padding = 1, .dtype = DType::bf16});
  Conv2d c16("conv", {.in_channels = 3,
                      .out_channels = 8,
                      .kernel = 3,
                      .padding = 1,
                      .dtype = DType::bf16,
                      .dst_dtype = DType::bf16});
  c32.weight.value.assign(to_float(wc));
  c16.weight.value.assign(to_float(wc));
  const Tensor img = tensor({2, 3, 7, 7}, xi);
  const Vec z32 = to_double(c32.forward(img, Mode::train));
  const Tensor& z16 = c16.forward(img, Mode::train);
  REQUIRE(z16.dtype() == DType::bf16);
  require_close(to_double(z16), z32, std::ldexp(1.0, -8), 1e-6, "conv bf16 dst");
  // backward on the bf16 dst: diff_src in src's dtype (f32 here), weight grad f32 and equal to the f32-dst
  // layer's (both see the same bf16 src and the same bf16-rounded diff_dst).
  const Vec dz = round_bf16(random_vec(2 * 8 * 7 * 7, 7));
  const Vec dx32 = to_double(c32.backward(tensor({2, 8, 7, 7}, dz)));
  const Tensor& dx16 = c16.backward(tensor({2, 8, 7, 7}, dz));
  REQUIRE(dx16.dtype() == DType::f32);
  require_close(to_double(dx16), dx32, 1e-5, 1e-5, "conv diff_src");
  require_close(to_double(c16.weight.grad), to_double(c32.weight.grad), 1e-5, 1e-5, "conv diff_weights");
  // A bf16 dst needs a bf16 layer.
  REQUIRE_THROWS_WITH(Linear("bad", {4, 4, true, DType::f32, DType::bf16}), Catch::Contains("bad"));
}

TEST_CASE("memory-bound layers configured for bf16 run on bf16 input", "[bf16][layer]") {
  VB_REQUIRE_BF16();
  // Inputs are bf16-representable; each layer's bf16 result is its f32 result on the same values, rounded
  // to bf16 (2^-8 relative covers the rounding plus the f32 statistics for BatchNorm; pools and ReLU are
  // exact up to the rounding of the sum of the mean).
  const Dims shape{2, 16, 6, 6};
  const Vec x = round_bf16(random_vec(product(shape), 11, -2, 2));
  const Tensor x32 = tensor(shape, x);
  Tensor x16(shape, DType::bf16);
  x16.assign(to_float(x));
  const double r = std::ldexp(1.0, -8);

  BatchNorm2d bn32("bn", {.channels = 16}), bn16("bn", {.channels = 16, .dtype = DType::bf16});
  const Tensor& n16 = bn16.forward(x16, Mode::train);
  REQUIRE(n16.dtype() == DType::bf16);
  require_close(to_double(n16), to_double(bn32.forward(x32, Mode::train)), 2 * r, 1e-2, "batchnorm");
  require_close(to_double(bn16.running_var), to_double(bn32.running_var), 1e-4, 1e-6, "running_var (f32)");
  const Vec dy = round_bf16(random_vec(product(shape), 12));
  Tensor dy16(shape, DType::bf16);
  dy16.assign(to_float(dy));
  const Tensor& dbn16 = bn16.backward(dy16);
  REQUIRE(dbn16.dtype() == DType::bf16);
  require_close(to_double(dbn16), to_double(bn32.backward(tensor(shape, dy))), 2e-2, 2e-2,
                "batchnorm diff_src");
  require_close(to_double(bn16.weight.grad), to_double(bn32.weight.grad), 1e-2, 1e-2, "batchnorm diff_scale");

  ReLU relu32("relu"), relu16("relu", {DType::bf16});
  require_close(to_double(relu16.forward(x16, Mode::train)), to_double(relu32.forward(x32, Mode::train)), 0,
                0, "relu");
  GELU gelu32("gelu"), gelu16("gelu", {DType::bf16});
  require_close(to_double(gelu16.forward(x16, Mode::train)), to_double(gelu32.forward(x32, Mode::train)), r,
                1e-3, "gelu");
  require_close(to_double(gelu16.backward(dy16)), to_double(gelu32.backward(tensor(shape, dy))), 2 * r, 1e-2,
                "gelu diff_src");
  MaxPool2d mp32("pool", {.kernel = 3, .stride = 2, .padding = 1}),
      mp16("pool", {.kernel = 3, .stride = 2, .padding = 1, .dtype = DType::bf16});
  require_close(to_double(mp16.forward(x16, Mode::train)), to_double(mp32.forward(x32, Mode::train)), 0, 0,
                "maxpool");
  GlobalAvgPool ap32("avgpool"), ap16("avgpool", {DType::bf16});
  const Tensor& a16 = ap16.forward(x16, Mode::train);
  REQUIRE(a16.dtype() == DType::bf16);
  require_close(to_double(a16), to_double(ap32.forward(x32, Mode::train)), r, 1e-3, "avgpool");
  Add add32("add"), add16("add", DType::bf16);
  require_close(to_double(add16.forward(x16, x32)), to_double(add32.forward(x32, x32)), 0, 0,
                "add (2x exact)");

  // Configured for f32 they still refuse bf16, naming the layer.
  REQUIRE_THROWS_WITH(relu32.forward(x16, Mode::train), Catch::Contains("relu") && Catch::Contains("bf16"));
  REQUIRE_THROWS_WITH(bn32.forward(x16, Mode::train), Catch::Contains("bn") && Catch::Contains("bf16"));
}

TEST_CASE("dtype override and the no-bf16 error text", "[bf16][registry]") {
  ModelConfig c = preset("resnet50_32");
  REQUIRE(c.dtype == DType::f32);
  apply_override(c, "dtype=bf16");
  REQUIRE(c.dtype == DType::bf16);
  apply_override(c, "dtype=f32");
  REQUIRE(c.dtype == DType::f32);
  REQUIRE_THROWS_WITH(apply_override(c, "dtype=fp16"), Catch::Contains("dtype") && Catch::Contains("bf16"));
  // What the refusal says, whichever CPU this is (dtype_status is the text require_dtype uses).
  CHECK(dtype_status(DType::f32) == "available");
  CHECK(dtype_available(DType::f32));
  if (bf16_supported()) {
    CHECK(dtype_status(DType::bf16) == "available");
    CHECK_NOTHROW(require_dtype(DType::bf16, "resnet50"));
  } else {
    CHECK(dtype_status(DType::bf16) ==
          "not available: needs avx512_core_bf16 or AMX, oneDNN dispatches to " + cpu_isa_string());
    REQUIRE_THROWS_WITH(
        require_dtype(DType::bf16, "resnet50"),
        "resnet50: bf16 not available on this CPU: needs avx512_core_bf16 or AMX, oneDNN dispatches "
        "to " +
            cpu_isa_string());
  }
}
