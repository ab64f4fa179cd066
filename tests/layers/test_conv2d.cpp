// Conv2d: reference vs finite differences, oneDNN forward/backward vs reference (f32 and bf16), blocked
// inputs, rebuilds on a new shape, bad inputs.
#include <catch2/catch.hpp>
#include <cstring>

#include "models/layers/conv2d.hpp"
#include "tests/reference/conv2d.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::test;

namespace {

struct Shape {
  int64_t N, C, H, W, O, k, stride, pad;
  bool bias;
};

std::string describe(const Shape& s) {
  return fmt::format("N{} C{} H{} W{} O{} k{} stride{} pad{} bias{}", s.N, s.C, s.H, s.W, s.O, s.k, s.stride,
                     s.pad, s.bias);
}

int64_t out_size(const Shape& s, int64_t in) {
  return ref::conv2d_out_size(in, s.k, s.stride, s.pad);
}

// Rounds to the nearest bf16 (ties to even), as oneDNN's f32 -> bf16 reorder does.
double round_bf16(double x) {
  float f = static_cast<float>(x);
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits = (bits + 0x7FFFu + ((bits >> 16) & 1u)) & 0xFFFF0000u;
  std::memcpy(&f, &bits, 4);
  return f;
}
Vec round_bf16(Vec v) {
  for (auto& x : v) x = round_bf16(x);
  return v;
}

// Random x, weight, bias and loss weights for one shape; the layer's forward and backward vs the reference.
// For bf16 the inputs, weights and loss weights are rounded to bf16 first, so the reference sees exactly
// what the primitive sees and only f32 accumulation error is left.
void check_against_reference(const Shape& s, DType dtype, double rtol, double atol, uint64_t seed) {
  INFO(describe(s) << " dtype " << to_string(dtype));
  const int64_t Ho = out_size(s, s.H), Wo = out_size(s, s.W);
  Vec x = random_vec(s.N * s.C * s.H * s.W, seed);
  Vec w = random_vec(s.O * s.C * s.k * s.k, seed + 1, -0.5, 0.5);
  Vec b = s.bias ? random_vec(s.O, seed + 2) : Vec{};
  Vec dy = random_vec(s.N * s.O * Ho * Wo, seed + 3);
  if (dtype == DType::bf16) x = round_bf16(x), w = round_bf16(w), dy = round_bf16(dy);

  Conv2d conv("layer1.0.conv1", {.in_channels = s.C,
                                 .out_channels = s.O,
                                 .kernel = s.k,
                                 .stride = s.stride,
                                 .padding = s.pad,
                                 .bias = s.bias,
                                 .dtype = dtype});
  conv.weight.value.assign(to_float(w));
  if (s.bias) conv.bias.value.assign(to_float(b));
  REQUIRE(conv.params().size() == (s.bias ? 2u : 1u));

  const Tensor& y = conv.forward(tensor({s.N, s.C, s.H, s.W}, x), Mode::train);
  REQUIRE(y.shape() == Dims{s.N, s.O, Ho, Wo});
  Vec y_ref;
  ref::conv2d_forward(y_ref, x, w, b, s.N, s.C, s.H, s.W, s.O, s.k, s.stride, s.pad);
  require_close(to_double(y), y_ref, rtol, atol, "dst");

  const Tensor& dx = conv.backward(tensor(y.shape(), dy));
  REQUIRE(dx.shape() == Dims{s.N, s.C, s.H, s.W});
  REQUIRE(dx.plain());  // layout of src
  Vec dx_ref, dw_ref, db_ref;
  ref::conv2d_backward(dx_ref, dw_ref, db_ref, dy, x, w, s.bias, s.N, s.C, s.H, s.W, s.O, s.k, s.stride,
                       s.pad);
  require_close(to_double(dx), dx_ref, rtol, atol, "diff_src");
  require_close(to_double(conv.weight.grad), dw_ref, rtol, atol, "diff_weights");
  if (s.bias) require_close(to_double(conv.bias.grad), db_ref, rtol, atol, "diff_bias");
}

const Shape kShapes[] = {
    {2, 3, 7, 6, 4, 3, 1, 1, true},     // odd sizes, same padding
    {2, 3, 9, 8, 5, 3, 2, 0, false},    // stride 2 without padding (floor output size)
    {1, 4, 11, 11, 6, 5, 2, 2, true},   // 5x5 stride 2
    {2, 16, 6, 6, 32, 1, 1, 0, false},  // 1x1, blocked-friendly channel counts
    {2, 16, 7, 7, 16, 3, 2, 1, true},   // stride 2 with padding, blocked channels
    {1, 3, 12, 12, 8, 7, 2, 3, false},  // ResNet stem-like 7x7 stride 2 pad 3
};

}  // namespace

TEST_CASE("conv2d reference backward matches finite differences", "[layer][conv2d]") {
  for (const Shape& s : {Shape{2, 3, 5, 4, 2, 3, 1, 1, true}, Shape{1, 2, 7, 6, 3, 3, 2, 0, true},
                         Shape{1, 2, 6, 5, 2, 2, 2, 1, false}}) {
    INFO(describe(s));
    const Vec x = random_vec(s.N * s.C * s.H * s.W, 11);
    const Vec w = random_vec(s.O * s.C * s.k * s.k, 12);
    const Vec b = s.bias ? random_vec(s.O, 13) : Vec{};
    const Vec dy = random_vec(s.N * s.O * out_size(s, s.H) * out_size(s, s.W), 14);
    auto loss = [&](const Vec& xx, const Vec& ww, const Vec& bb) {
      Vec y;
      ref::conv2d_forward(y, xx, ww, bb, s.N, s.C, s.H, s.W, s.O, s.k, s.stride, s.pad);
      return weighted_sum(y, dy);
    };
    Vec dx, dw, db;
    ref::conv2d_backward(dx, dw, db, dy, x, w, s.bias, s.N, s.C, s.H, s.W, s.O, s.k, s.stride, s.pad);
    require_gradient_matches_fd([&](const Vec& v) { return loss(v, w, b); }, x, dx, "dinp");
    require_gradient_matches_fd([&](const Vec& v) { return loss(x, v, b); }, w, dw, "dweight");
    if (s.bias) require_gradient_matches_fd([&](const Vec& v) { return loss(x, w, v); }, b, db, "dbias");
  }
}

TEST_CASE("conv2d forward and backward match the reference (f32)", "[layer][conv2d]") {
  // f32 sums of at most 7*7*3 or N*Ho*Wo = 98 products of magnitude <= 0.5 against double: errors stay
  // around 1e-6; atol 2e-5 leaves room for oneDNN's blocked accumulation order.
  uint64_t seed = 100;
  for (const Shape& s : kShapes) check_against_reference(s, DType::f32, 1e-5, 2e-5, seed += 10);
}

TEST_CASE("conv2d bf16 is refused on a CPU without bf16, naming the layer and the ISA", "[layer][conv2d]") {
  VB_REQUIRE_NO_BF16();
  Conv2d conv("conv", {.in_channels = 3, .out_channels = 4, .kernel = 3, .dtype = DType::bf16});
  REQUIRE_THROWS_WITH(conv.forward(Tensor({1, 3, 5, 5}), Mode::train),
                      Catch::Contains("conv: bf16 not available") && Catch::Contains(cpu_isa_string()));
}

TEST_CASE("conv2d bf16 matches the reference on bf16-rounded inputs", "[layer][conv2d]") {
  VB_REQUIRE_BF16();
  // Inputs, weights and diff_dst are exactly representable in bf16, so only the f32 accumulation differs
  // from the double reference (plus bf16 rounding of any intermediate oneDNN keeps in bf16: none expected).
  uint64_t seed = 500;
  for (const Shape& s : kShapes) check_against_reference(s, DType::bf16, 1e-5, 5e-5, seed += 10);
}

TEST_CASE("conv2d on a blocked input (another conv's dst) equals the plain-input result", "[layer][conv2d]") {
  const int64_t N = 2, C = 3, H = 9, W = 9, M = 16, O = 8;
  const Vec x = random_vec(N * C * H * W, 31);
  Conv2d first("conv1", {.in_channels = C, .out_channels = M, .kernel = 3, .padding = 1});
  first.weight.value.assign(to_float(random_vec(M * C * 9, 32, -0.5, 0.5)));
  const Tensor& mid = first.forward(tensor({N, C, H, W}, x), Mode::train);
  REQUIRE_FALSE(mid.plain());  // oneDNN chose a blocked layout for 16 channels

  const Shape s{N, M, H, W, O, 3, 2, 1, true};
  const Vec w = random_vec(O * M * 9, 33, -0.5, 0.5), b = random_vec(O, 34);
  auto make = [&](const char* name) {
    auto conv = std::make_unique<Conv2d>(
        name, Conv2d::Config{
                  .in_channels = M, .out_channels = O, .kernel = 3, .stride = 2, .padding = 1, .bias = true});
    conv->weight.value.assign(to_float(w));
    conv->bias.value.assign(to_float(b));
    return conv;
  };
  auto on_blocked = make("conv2_blocked"), on_plain = make("conv2_plain");
  const Vec mid_values = to_double(mid);
  const Tensor mid_plain = tensor(mid.shape(), mid_values);

  const Vec y_blocked = to_double(on_blocked->forward(mid, Mode::train));
  const Vec y_plain = to_double(on_plain->forward(mid_plain, Mode::train));
  require_close(y_blocked, y_plain, 1e-6, 1e-6, "dst from blocked vs plain src");
  Vec y_ref;
  ref::conv2d_forward(y_ref, mid_values, w, b, N, M, H, W, O, 3, 2, 1);
  require_close(y_blocked, y_ref, 1e-5, 2e-5, "dst vs reference");

  const Vec dy = random_vec(y_ref.size(), 35);
  const Tensor& dx_blocked = on_blocked->backward(tensor({N, O, out_size(s, H), out_size(s, W)}, dy));
  REQUIRE(dx_blocked.desc() == mid.desc());  // diff_src comes back in the layout of src
  const Tensor& dx_plain = on_plain->backward(tensor({N, O, out_size(s, H), out_size(s, W)}, dy));
  REQUIRE(dx_plain.plain());
  require_close(to_double(dx_blocked), to_double(dx_plain), 1e-6, 1e-6, "diff_src blocked vs plain");
  require_close(to_double(on_blocked->weight.grad), to_double(on_plain->weight.grad), 1e-6, 1e-6,
                "diff_weights blocked vs plain");
  Vec dx_ref, dw_ref, db_ref;
  ref::conv2d_backward(dx_ref, dw_ref, db_ref, dy, mid_values, w, true, N, M, H, W, O, 3, 2, 1);
  require_close(to_double(dx_blocked), dx_ref, 1e-5, 2e-5, "diff_src vs reference");
  require_close(to_double(on_blocked->weight.grad), dw_ref, 1e-5, 2e-5, "diff_weights vs reference");
  require_close(to_double(on_blocked->bias.grad), db_ref, 1e-5, 2e-5, "diff_bias vs reference");
}

TEST_CASE("conv2d rebuilds for a new input shape and overwrites grads", "[layer][conv2d]") {
  const Shape a{2, 3, 8, 8, 4, 3, 1, 1, true}, b{1, 3, 5, 7, 4, 3, 1, 1, true};
  Conv2d conv("conv", {.in_channels = 3, .out_channels = 4, .kernel = 3, .padding = 1, .bias = true});
  const Vec w = random_vec(4 * 3 * 9, 41), bias = random_vec(4, 42);
  conv.weight.value.assign(to_float(w));
  conv.bias.value.assign(to_float(bias));
  for (int rep = 0; rep < 2; ++rep)
    for (const Shape& s : {a, b}) {
      INFO(describe(s) << " rep " << rep);
      const Vec x = random_vec(s.N * s.C * s.H * s.W, 43 + rep);
      Vec y_ref;
      ref::conv2d_forward(y_ref, x, w, bias, s.N, s.C, s.H, s.W, s.O, s.k, s.stride, s.pad);
      const Tensor& y = conv.forward(tensor({s.N, s.C, s.H, s.W}, x), Mode::train);
      require_close(to_double(y), y_ref, 1e-5, 2e-5, "dst");
      const Vec dy = random_vec(y_ref.size(), 44 + rep);
      conv.backward(tensor(y.shape(), dy));
      Vec dx_ref, dw_ref, db_ref;
      ref::conv2d_backward(dx_ref, dw_ref, db_ref, dy, x, w, true, s.N, s.C, s.H, s.W, s.O, s.k, s.stride,
                           s.pad);
      // Grads are written, not accumulated: the second backward shows only its own batch.
      require_close(to_double(conv.weight.grad), dw_ref, 1e-5, 2e-5, "diff_weights");
      require_close(to_double(conv.bias.grad), db_ref, 1e-5, 2e-5, "diff_bias");
    }
}

TEST_CASE("conv2d refuses bad configs and inputs with its name", "[layer][conv2d]") {
  using C = Conv2d::Config;
  REQUIRE_THROWS_WITH(Conv2d("stem.conv", C{.in_channels = 3, .out_channels = 8, .kernel = 0}),
                      Catch::Contains("stem.conv") && Catch::Contains("kernel"));
  REQUIRE_THROWS_WITH(Conv2d("stem.conv", C{.in_channels = 3, .out_channels = 8, .kernel = 3, .stride = 0}),
                      Catch::Contains("stem.conv") && Catch::Contains("stride"));
  REQUIRE_THROWS_WITH(Conv2d("stem.conv", C{.in_channels = 0, .out_channels = 8, .kernel = 3}),
                      Catch::Contains("stem.conv"));
  REQUIRE_THROWS_WITH(Conv2d("stem.conv", C{.in_channels = 3, .out_channels = 8, .kernel = 3, .padding = -1}),
                      Catch::Contains("stem.conv"));

  Conv2d conv("stem.conv", {.in_channels = 3, .out_channels = 8, .kernel = 3});
  REQUIRE_THROWS_WITH(conv.backward(Tensor({1, 8, 3, 3})), Catch::Contains("stem.conv"));
  REQUIRE_THROWS_AS(conv.backward(Tensor({1, 8, 3, 3})), std::logic_error);
  REQUIRE_THROWS_WITH(conv.forward(Tensor({1, 4, 5, 5}), Mode::train), Catch::Contains("stem.conv") &&
                                                                           Catch::Contains("[1, 4, 5, 5]") &&
                                                                           Catch::Contains("[1, 3, 5, 5]"));
  REQUIRE_THROWS_WITH(conv.forward(Tensor({3, 5, 5}), Mode::train), Catch::Contains("stem.conv"));
  REQUIRE_THROWS_WITH(conv.forward(Tensor(), Mode::train), Catch::Contains("stem.conv"));
  REQUIRE_THROWS_WITH(conv.forward(Tensor({1, 3, 2, 5}), Mode::train), Catch::Contains("stem.conv"));
  REQUIRE_THROWS_WITH(conv.forward(Tensor({1, 3, 5, 5}, DType::bf16), Mode::train),
                      Catch::Contains("stem.conv") && Catch::Contains("bf16"));

  // Eval forward saves nothing for backward.
  conv.forward(Tensor({1, 3, 5, 5}), Mode::eval);
  REQUIRE_THROWS_AS(conv.backward(Tensor({1, 8, 3, 3})), std::logic_error);
  conv.forward(Tensor({1, 3, 5, 5}), Mode::train);
  REQUIRE_THROWS_WITH(conv.backward(Tensor({1, 8, 4, 3})),
                      Catch::Contains("stem.conv") && Catch::Contains("[1, 8, 3, 3]"));
  REQUIRE_NOTHROW(conv.backward(Tensor({1, 8, 3, 3})));
}

TEST_CASE("conv2d 3x3 64->64 at 56x56 matches the reference", "[layer][conv2d][slow]") {
  // ResNet-50 layer1 shape at batch 1; sums of 576 (forward) and 3136 (weights) products.
  check_against_reference({1, 64, 56, 56, 64, 3, 1, 1, false}, DType::f32, 1e-4, 1e-4, 900);
}

TEST_CASE("conv2d converts its weight once per change and never uses a stale copy", "[layer][conv2d]") {
  // 16 -> 16 channels: oneDNN takes blocked weights, so forward (and backward data) reorder them.
  const int64_t N = 2, C = 16, H = 6, W = 6, O = 16;
  Conv2d conv("conv", {.in_channels = C, .out_channels = O, .kernel = 3, .padding = 1, .bias = true});
  const Vec x = random_vec(N * C * H * W, 81), b = random_vec(O, 82), dy = random_vec(N * O * H * W, 83);
  Vec w = random_vec(O * C * 9, 84, -0.5, 0.5);
  conv.weight.value.assign(to_float(w));
  conv.bias.value.assign(to_float(b));
  const Tensor src = tensor({N, C, H, W}, x);
  const Tensor diff_dst = tensor({N, O, H, W}, dy);
  const auto expect = [&](const char* what) {
    INFO(what);
    Vec y_ref, dx_ref, dw_ref, db_ref;
    ref::conv2d_forward(y_ref, x, w, b, N, C, H, W, O, 3, 1, 1);
    ref::conv2d_backward(dx_ref, dw_ref, db_ref, dy, x, w, true, N, C, H, W, O, 3, 1, 1);
    require_close(to_double(conv.forward(src, Mode::train)), y_ref, 1e-5, 2e-5, "dst");
    require_close(to_double(conv.backward(diff_dst)), dx_ref, 1e-5, 2e-5, "diff_src");
  };
  expect("first step");
  const int64_t once = conv.weight_reorders();
  REQUIRE(once <= 2);  // forward's reorder and backward data's (when its layout differs)
  for (int i = 0; i < 3; ++i) conv.forward(src, Mode::eval);
  expect("unchanged weight");
  REQUIRE(conv.weight_reorders() == once);

  w = random_vec(O * C * 9, 85, -0.5, 0.5);
  conv.weight.value.assign(to_float(w));
  expect("after assign()");
  REQUIRE(conv.weight_reorders() == 2 * once);
  w[3] += 0.5;
  conv.weight.value.data()[3] = static_cast<float>(w[3]);
  expect("after a write through data()");
}
