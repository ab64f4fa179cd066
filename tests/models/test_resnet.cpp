// ResNet beyond the PyTorch parity of tests/models/test_parity.cpp: taps (names, shapes, backward_from vs
// finite differences), blocked layouts between layers, bad input, rebuilding for another batch size, init.
#include <H5Cpp.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>

#include "models/families/resnet/resnet.hpp"
#include "models/layers/cross_entropy.hpp"
#include "tests/support/check.hpp"
#include "tests/support/fixture.hpp"

using namespace vb;
using namespace vb::test;

namespace {

std::unique_ptr<Model> fixture_model(const Fixture& f) {
  auto model = create_model(f.config());
  set_counter_weights(*model);
  return model;
}

Tensor first_images(const Tensor& x, int64_t n) {  // x is (B, C, H, W) plain -> (n, C, H, W)
  const auto v = x.to_vector();
  const Dims shape{n, x.dim(1), x.dim(2), x.dim(3)};
  return Tensor::from(shape, std::vector<float>(v.begin(), v.begin() + product(shape)));
}

Vec first_rows(const Vec& v, size_t rows, size_t cols) {
  return Vec(v.begin(), v.begin() + rows * cols);
}

ModelConfig tiny(int64_t width, Stem stem, int64_t img) {
  ModelConfig c = preset("resnet50_32");
  c.name = "resnet_tiny";
  c.layers = {1, 1, 1, 1};
  c.base_width = width;
  c.stem = stem;
  c.img_size = img;
  return c;
}

bool blocked(const dnnl::memory::desc& md) {
  return md.data.format_kind == dnnl_blocked && md.data.format_desc.blocking.inner_nblks > 0;
}

}  // namespace

TEST_CASE("resnet taps: names, shapes, and backward_from equals finite differences", "[model][resnet]") {
  const Fixture cifar("resnet_cifar"), imagenet("resnet_imagenet");
  auto a = fixture_model(cifar), b = fixture_model(imagenet);
  a->forward(cifar.input(), Mode::train);
  b->forward(imagenet.input(), Mode::train);
  CHECK(a->taps() == std::vector<std::string>{"conv1", "layer1.0", "layer2.0", "layer3.0", "layer4.0"});
  CHECK(b->taps() == std::vector<std::string>{"maxpool", "layer1.0", "layer2.0", "layer3.0", "layer4.0"});
  const std::vector<Dims> a_shapes{
      {4, 4, 16, 16}, {4, 16, 16, 16}, {4, 32, 8, 8}, {4, 64, 4, 4}, {4, 128, 2, 2}};
  const std::vector<Dims> b_shapes{
      {4, 4, 12, 12}, {4, 16, 12, 12}, {4, 32, 6, 6}, {4, 64, 3, 3}, {4, 128, 2, 2}};
  for (size_t i = 0; i < 5; ++i) {
    CHECK(a->tap(i).shape() == a_shapes[i]);
    CHECK(b->tap(i).shape() == b_shapes[i]);
  }

  // d<tap(i), w>/d(pixel) by central differences of f32 forwards (train mode, as backward_from needs), for a
  // few pixels of a tiny model. Train-mode BatchNorm on small maps and the ReLU kinks make the function
  // strongly curved: the difference quotients converge to backward_from as h shrinks from 3e-2 to 1e-3 and
  // turn noisy (f32 rounding of the sum) below 3e-4. h = 1e-3 leaves errors up to ~5%: tolerance 2e-2
  // absolute + 3e-2 relative (a wrong path, e.g. a lost shortcut gradient, is off by O(1)).
  // Sizes keep 8 values per channel at layer4 (with 2 the batch norm would flatten everything to +-1).
  for (Stem stem : {Stem::cifar, Stem::imagenet}) {
    const int64_t img = stem == Stem::cifar ? 16 : 64;
    auto model = create_model(tiny(4, stem, img));
    set_counter_weights(*model);
    const Dims shape{2, 3, img, img};
    const Vec x0 = to_double(counter_input(shape));
    const auto forward_tap = [&](const Vec& x, size_t i) {
      model->forward(tensor(shape, x), Mode::train);
      return to_double(model->tap(i));
    };
    for (size_t i : {size_t{0}, size_t{2}, size_t{4}}) {
      INFO(fmt::format("stem {} tap {}", to_string(stem), model->taps()[i]));
      const Vec y = forward_tap(x0, i);
      const Vec w = random_vec(y.size(), 50 + i);
      const Tensor& diff_images = model->backward_from(i, tensor(model->tap(i).shape(), w));
      const Vec analytic = to_double(diff_images);
      Vec x = x0;
      const double h = 1e-3;
      for (size_t k = 0; k < 6; ++k) {
        const size_t p = (k * 7919 + 13) % x.size();
        x[p] = x0[p] + h;
        const double up = weighted_sum(forward_tap(x, i), w);
        x[p] = x0[p] - h;
        const double down = weighted_sum(forward_tap(x, i), w);
        x[p] = x0[p];
        const double fd = (up - down) / (2 * h);
        INFO(fmt::format("pixel {}: backward_from {} finite difference {}", p, analytic[p], fd));
        CHECK(std::abs(analytic[p] - fd) <= 2e-2 + 3e-2 * std::abs(fd));
      }
    }
  }
}

TEST_CASE("resnet feature maps stay blocked from the stem to the pool, with no reorders", "[model][resnet]") {
  // Width 16 (all channel counts multiples of 16); layers 2,1,1,1 gives an identity shortcut in layer1.1.
  for (Stem stem : {Stem::cifar, Stem::imagenet}) {
    ModelConfig cfg = tiny(16, stem, 32);
    cfg.layers = {2, 1, 1, 1};
    ResNet model(cfg);
    model.init(3);
    const Tensor images = counter_input({2, 3, 32, 32});
    model.forward(images, Mode::train);
    model.backward(Tensor::from({2, 10}, std::vector<float>(20, 0.1f)));
    REQUIRE(images.plain());
    for (size_t i = 0; i < model.taps().size(); ++i) {
      INFO(model.taps()[i]);
      CHECK(blocked(model.tap(i).desc()));
    }
    for (size_t b = 0; b < model.blocks().size(); ++b) {
      const Bottleneck& block = *model.blocks()[b];
      INFO(block.name());
      // Each conv reads its input in the layout it arrives in: the previous block's (or the stem's) output,
      // or the previous BN/ReLU's, which keep the layout of the conv before them.
      CHECK(block.conv1.src_desc() == model.tap(b).desc());
      CHECK_FALSE(block.conv1.reorders_src());
      CHECK_FALSE(block.conv2.reorders_src());
      CHECK_FALSE(block.conv3.reorders_src());
      if (block.has_downsample()) CHECK_FALSE(block.downsample_conv->reorders_src());
      // The add works in bn3's layout (= conv3's dst, = the block's output): the shortcut (the block's input,
      // or downsample.0's dst) arrives in that layout already.
      CHECK(blocked(block.dst->desc()));
      if (!block.has_downsample()) CHECK(model.tap(b).desc() == block.dst->desc());
    }
    // Last: re-run each downsample conv on its input to see its dst layout (this ends the train state).
    for (size_t b = 0; b < model.blocks().size(); ++b) {
      Bottleneck& block = *model.blocks()[b];
      if (block.has_downsample())
        CHECK(block.downsample_conv->forward(model.tap(b), Mode::eval).desc() == block.dst->desc());
    }
  }
}

TEST_CASE("resnet refuses bad images and configs, naming the model", "[model][resnet]") {
  auto model = create_model(tiny(4, Stem::cifar, 16));
  REQUIRE_THROWS_WITH(model->forward(Tensor({2, 3, 16}), Mode::eval),
                      Catch::Contains("resnet_tiny") && Catch::Contains("rank"));
  REQUIRE_THROWS_WITH(model->forward(Tensor({2, 1, 16, 16}), Mode::eval),
                      Catch::Contains("resnet_tiny") && Catch::Contains("[2, 1, 16, 16]") &&
                          Catch::Contains("[2, 3, 16, 16]"));
  // Batch 1 at 8 px reaches layer4 as 1x1: fine for eval, impossible for batch statistics.
  CHECK_NOTHROW(model->forward(Tensor({1, 3, 8, 8}), Mode::eval));
  REQUIRE_THROWS_WITH(model->forward(Tensor({1, 3, 8, 8}), Mode::train),
                      Catch::Contains("resnet_tiny") && Catch::Contains("1x1"));
  REQUIRE_THROWS_AS(model->backward(Tensor({1, 10})), std::logic_error);  // after an eval forward
  REQUIRE_THROWS_AS(model->backward_from(0, Tensor({1, 4, 8, 8})), std::logic_error);
  model->forward(Tensor({2, 3, 8, 8}), Mode::train);
  REQUIRE_THROWS_WITH(model->backward(Tensor({2, 7})), Catch::Contains("fc"));
  REQUIRE_THROWS_WITH(model->backward_from(1, Tensor({2, 4, 8, 8})),
                      Catch::Contains("resnet_tiny") && Catch::Contains("layer1.0"));
  REQUIRE_THROWS_WITH(model->tap(5), Catch::Contains("resnet_tiny") && Catch::Contains("tap 5"));
  REQUIRE_THROWS_AS(create_model(tiny(4, Stem::cifar, 16))->tap(0), std::logic_error);  // before any forward

  ModelConfig bad = tiny(4, Stem::cifar, 16);
  bad.base_width = 0;
  REQUIRE_THROWS_WITH(create_model(bad), Catch::Contains("resnet_tiny") && Catch::Contains("base_width"));
  bad = tiny(4, Stem::cifar, 16);
  bad.layers = {1, 0, 1, 1};
  REQUIRE_THROWS_WITH(create_model(bad), Catch::Contains("resnet_tiny") && Catch::Contains("layers"));
  bad = tiny(4, Stem::cifar, 16);
  bad.in_chans = 0;
  REQUIRE_THROWS_WITH(create_model(bad), Catch::Contains("in_chans"));
}

TEST_CASE("resnet rebuilds for another batch size and stays right", "[model][resnet]") {
  const Fixture f("resnet_imagenet");
  auto model = fixture_model(f);
  const Tensor x = f.input();  // (4, 3, 48, 48)
  const Vec eval_expected = f.read("logits_eval");
  const double atol = 1e-4 * 10;  // logits are O(1..10) here
  require_close(to_double(model->forward(first_images(x, 2), Mode::eval)), first_rows(eval_expected, 2, 10),
                1e-4, atol, "eval batch 2");
  require_close(to_double(model->forward(x, Mode::eval)), eval_expected, 1e-4, atol, "eval batch 4");
  // A train forward + backward at batch 3 in between, then the batch-4 gradient pass still matches.
  model->forward(first_images(x, 3), Mode::train);
  CHECK(model->backward(Tensor::from({3, 10}, std::vector<float>(30, 0.1f))).shape() == Dims{3, 3, 48, 48});
  set_counter_weights(*model);
  CrossEntropy loss_fn("loss", {.classes = 10, .label_smoothing = 0.1f});
  const Tensor& logits = model->forward(x, Mode::train);
  require_close(to_double(logits), f.read("logits_train"), 1e-4, atol, "train batch 4");
  loss_fn.forward(logits, f.read_int("labels"));
  require_close_scaled(to_double(model->backward(loss_fn.backward())), f.read("grad_input"), 1e-3,
                       "grad_input batch 4");
}

TEST_CASE("resnet init is torchvision's and deterministic in the seed", "[model][resnet]") {
  ResNet a(tiny(16, Stem::imagenet, 32)), b(tiny(16, Stem::imagenet, 32));
  a.init(7);
  b.init(7);
  const auto sa = a.state(), sb = b.state();
  for (size_t i = 0; i < sa.size(); ++i) {
    INFO(sa[i].key);
    if (sa[i].counter) {
      CHECK(*sa[i].counter == 0);
      continue;
    }
    const Tensor& ta = sa[i].param ? sa[i].param->value : *sa[i].buffer;
    const Tensor& tb = sb[i].param ? sb[i].param->value : *sb[i].buffer;
    const auto v = ta.to_vector();
    CHECK(v == tb.to_vector());
    const std::string& k = sa[i].key;
    const Dims& s = ta.shape();
    if (s.size() == 4) {  // conv: N(0, 2 / fan_out), fan_out = out * k * k
      double sq = 0;
      for (float x : v) sq += double(x) * x / v.size();
      const double expected = 2.0 / (s[0] * s[2] * s[3]);
      CHECK(sq == Approx(expected).epsilon(v.size() > 2000 ? 0.1 : 0.3));
    } else if (k.starts_with("fc.")) {  // U(+-1/sqrt(512))
      double lo = 1, hi = -1;
      for (float x : v) lo = std::min<double>(lo, x), hi = std::max<double>(hi, x);
      CHECK(lo >= -1 / std::sqrt(512.0));
      CHECK(hi <= 1 / std::sqrt(512.0));
      if (k == "fc.weight") CHECK(hi - lo > 1.9 / std::sqrt(512.0));  // 5120 draws fill the interval
    } else {  // BatchNorm: weight 1, bias 0, running mean 0, running var 1
      const float expected = k.ends_with(".weight") || k.ends_with("running_var") ? 1.0f : 0.0f;
      CHECK(v == std::vector<float>(v.size(), expected));
    }
  }
  ResNet c(tiny(16, Stem::imagenet, 32));
  c.init(8);
  CHECK(c.state()[0].param->value.to_vector() != sa[0].param->value.to_vector());
}
