// Theoretical receptive fields: the recurrence on known windows, ResNet-50 at 224 against REFERENCE.md
// (conv1 7, maxpool 11, layer1..4 = 35 / 91 / 267 / 427) and per bottleneck, and the transformers'
// embeddings.
#include <catch2/catch.hpp>

#include "harness/rf/theoretical.hpp"
#include "models/model.hpp"

using namespace vb;
using namespace vb::rf;

TEST_CASE("rf: the size/jump/start recurrence", "[rf]") {
  // n 3x3 stride-1 convs with padding 1: 2n + 1 pixels, units one pixel apart, unit 0 centred on pixel 0.
  Field f = image_field(64);
  for (int n = 1; n <= 8; ++n) {
    f = through(f, {.kernel = 3, .stride = 1, .padding = 1});
    CHECK(f.size == 2 * n + 1);
    CHECK(f.jump == 1);
    CHECK(f.start == 0);
    CHECK(f.extent == 64);
  }
  // Dilation 2 spreads a 3-tap kernel over 5 pixels; stride 2 after it doubles the jump of what follows.
  const Field d = through(image_field(32), {.kernel = 3, .stride = 2, .padding = 0, .dilation = 2});
  CHECK(d.size == 5);
  CHECK(d.jump == 2);
  CHECK(d.start == 2);  // first window covers pixels 0, 2, 4
  CHECK(d.extent == 14);
  const Field e = through(d, {.kernel = 3, .stride = 1, .padding = 1});
  CHECK(e.size == 5 + 2 * 2);
  CHECK(e.start == 2);
  // A 16x16 patch conv: unit 0 centred between pixels 7 and 8.
  const Field p = through(image_field(224), {.kernel = 16, .stride = 16});
  CHECK(p.size == 16);
  CHECK(p.start == 7.5);
  CHECK(p.extent == 14);
  CHECK_THROWS_WITH(through(p, {.kernel = 0}), Catch::Contains("bad window kernel 0"));
}

TEST_CASE("rf: resnet50 at 224, from the built layers", "[rf]") {
  auto model = create_model(preset("resnet50"));
  const TapInfo r = theoretical_rf(*model);
  REQUIRE(r.layers.size() >= 2);
  CHECK(r.layers[0].name == "conv1");
  CHECK(r.layers[0].field.size == 7);
  CHECK(r.layers[1].name == "maxpool");
  CHECK(r.layers[1].field.size == 11);
  // Taps: maxpool, then 3 + 4 + 6 + 3 bottlenecks; each stage-1 3x3 adds 2 jumps, the stride-2 one first.
  const std::vector<int64_t> sizes{11,  19,  27,  35,  43,  59,  75,  91, 107,
                                   139, 171, 203, 235, 267, 299, 363, 427};
  const std::vector<int64_t> jumps{4, 4, 4, 4, 8, 8, 8, 8, 16, 16, 16, 16, 16, 16, 32, 32, 32};
  REQUIRE(r.taps.size() == sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    INFO(r.taps[i].name);
    CHECK(r.taps[i].field.size == sizes[i]);
    CHECK(r.taps[i].field.jump == jumps[i]);
    CHECK(r.taps[i].field.start == 0);  // every window is centred: unit 0 sits on pixel 0
    CHECK_FALSE(r.taps[i].whole_image);
  }
  CHECK(r.taps[3].name == "layer1.2");
  CHECK(r.taps[7].name == "layer2.3");
  CHECK(r.taps[13].name == "layer3.5");
  CHECK(r.taps[16].name == "layer4.2");
  // Centre unit (E/2): pixel 112 on the 56, 28 and 14 grids; layer4's 7x7 grid puts unit 3 on pixel 96.
  CHECK(r.taps[0].centre == 112);
  CHECK(r.taps[13].centre == 112);
  CHECK(r.taps[16].field.extent == 7);
  CHECK(r.taps[16].centre == 96);
  // Every conv of every bottleneck is listed (3 each plus the 4 downsample shortcuts).
  CHECK(r.layers.size() == 2 + 16 * 3 + 4);
}

TEST_CASE("rf: resnet cifar stem", "[rf]") {
  auto model = create_model(preset("resnet50_w16_32"));
  const TapInfo r = theoretical_rf(*model);
  CHECK(r.taps[0].name == "conv1");
  CHECK(r.taps[0].field.size == 3);
  CHECK(r.taps[1].field.size == 5);  // layer1.0: one 3x3 at jump 1
  CHECK(r.taps.back().field.jump == 8);
}

TEST_CASE("rf: vit and tnt embeddings, then the whole image", "[rf]") {
  auto vit = create_model(preset("vit_small_patch16_224"));
  const TapInfo v = theoretical_rf(*vit);
  REQUIRE(v.taps.size() == 13);
  CHECK(v.taps[0].field.size == 16);
  CHECK(v.taps[0].centre == 7 * 16 + 7.5);  // patch (7, 7) covers pixels 112 .. 127
  CHECK_FALSE(v.taps[0].whole_image);
  for (size_t i = 1; i < v.taps.size(); ++i) {
    CHECK(v.taps[i].whole_image);
    CHECK(v.taps[i].field.size == 224);
  }

  auto tnt = create_model(preset("tnt_s_patch16_224"));
  const TapInfo t = theoretical_rf(*tnt);
  REQUIRE(t.taps.size() == 25);
  CHECK(t.layers[0].name == "pixel_embed.proj");
  CHECK(t.layers[0].field.size == 7);  // 7x7 stride-4 word conv
  CHECK(t.layers[0].field.jump == 4);
  CHECK(t.taps[0].field.size == 16);
  CHECK(t.taps[1].name == "blocks.0.inner");
  CHECK(t.taps[1].field.size == 16);   // inner attention: the words of one patch, never more
  CHECK(t.taps[1].centre == 112 + 8);  // word (2, 2) of patch (7, 7): the conv centred on local pixel 8
  CHECK_FALSE(t.taps[1].whole_image);
  CHECK(t.taps[2].whole_image);
  CHECK(t.taps[24].name == "blocks.11");
  CHECK(t.taps[23].field.size == 16);
}
