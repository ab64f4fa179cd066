// The whole `rf` measurement on the small presets at random init (N = 2): maps confined to their theoretical
// fields, attention reaching everything, words confined to their patch, the same map whichever taps are
// measured (backward_from repeated on one forward), and the result file.
#include <catch2/catch.hpp>
#include <cmath>

#include "harness/h5read.hpp"
#include "harness/rf/measure.hpp"
#include "models/model.hpp"
#include "tests/support/check.hpp"
#include "tests/support/temp_dir.hpp"

using namespace vb;
using namespace vb::rf;

namespace {

std::vector<float> images(const ModelConfig& c, int64_t n, uint64_t seed) {
  return test::to_float(test::random_vec(n * c.in_chans * c.img_size * c.img_size, seed, -2, 2));
}

// Pixels of `map` with mass, outside the square of `size` centred at `centre`.
int64_t mass_outside(const Map& map, double centre, double size) {
  int64_t n = 0;
  for (int64_t y = 0; y < map.height; ++y)
    for (int64_t x = 0; x < map.width; ++x)
      n += map.at(y, x) != 0 &&
           (std::abs(y - centre) > (size - 1) / 2 || std::abs(x - centre) > (size - 1) / 2);
  return n;
}

int64_t zero_pixels(const Map& map) {
  int64_t n = 0;
  for (double v : map.values) n += v == 0;
  return n;
}

}  // namespace

TEST_CASE("rf: measurement on resnet50_w16_32", "[rf]") {
  auto model = create_model(preset("resnet50_w16_32"));
  model->init(1);
  const RfMeasurement m = measure_rf(*model, images(model->config(), 2, 3), 2, {});
  REQUIRE(m.layers.size() == model->taps().size());
  CHECK(m.attention_outer.empty());
  for (const LayerErf& e : m.layers) {
    INFO(e.name);
    CHECK(e.scalars.mass > 0);
    // The gradient never leaves the theoretical field (clipped by the image).
    CHECK(mass_outside(e.map, e.theoretical.centre, static_cast<double>(e.theoretical.field.size)) == 0);
    CHECK(e.scalars.side90 <= e.theoretical.field.size);
  }
  CHECK(m.layers.front().depth == 0);
  CHECK(m.layers.back().depth == 1);
  CHECK(zero_pixels(m.layers[0].map) == 32 * 32 - 9);  // the 3x3 stem conv
}

TEST_CASE("rf: measurement on vit_tiny_patch4_32, repeated backward_from on one forward", "[rf]") {
  auto model = create_model(preset("vit_tiny_patch4_32"));
  model->init(2);
  const auto x = images(model->config(), 2, 4);
  const RfMeasurement m = measure_rf(*model, x, 2, {.layers = {}, .batch = 2, .progress = {}});
  REQUIRE(m.layers.size() == 10);
  CHECK(zero_pixels(m.layers[0].map) == 32 * 32 - 16);  // patch embedding: the centre token's own 4x4 patch
  CHECK(mass_outside(m.layers[0].map, m.layers[0].theoretical.centre, 4) == 0);
  for (size_t i = 1; i < m.layers.size(); ++i)
    CHECK(zero_pixels(m.layers[i].map) == 0);  // after attention: all
  REQUIRE(m.attention_outer.size() == 9);
  REQUIRE(m.attention_outer[0].size() == 3);
  CHECK(m.attention_inner.empty());
  const double farthest = std::hypot(28.0, 28.0);
  for (const auto& block : m.attention_outer)
    for (double d : block) CHECK((d > 0 && d < farthest));
  // One tap alone, one image at a time: the same map as among all taps in a batch of 2.
  const RfMeasurement one = measure_rf(*model, x, 2, {.layers = {"blocks.4"}, .batch = 1, .progress = {}});
  REQUIRE(one.layers.size() == 1);
  test::require_close_scaled(one.layers[0].map.values, m.layers[5].map.values, 1e-4, "blocks.4 map");
  CHECK_THROWS_WITH(
      measure_rf(*model, x, 2, {.layers = {"blocks.9"}, .batch = 8, .progress = {}}),
      Catch::Contains("has no layer 'blocks.9'; valid layers: patch_embed, blocks.0, blocks.1"));
}

TEST_CASE("rf: measurement on tnt_tiny_patch8_32 and the result file", "[rf]") {
  auto model = create_model(preset("tnt_tiny_patch8_32"));
  model->init(5);
  const RfMeasurement m = measure_rf(*model, images(model->config(), 2, 6), 2, {});
  REQUIRE(m.layers.size() == 19);
  for (const LayerErf& e : m.layers) {
    INFO(e.name);
    if (e.words) {  // the centre word of patch (2, 2): pixels 16 .. 23, whatever the depth
      CHECK(mass_outside(e.map, 19.5, 8) == 0);
      CHECK(e.theoretical.centre == 16 + 4);
    } else if (e.name != "patch_embed") {
      CHECK(zero_pixels(e.map) == 0);
    } else {  // norm2_proj's output with weight 1: its channel sum is constant, the all-ones gradient is 0
      CHECK(e.scalars.mass == 0);
      CHECK(e.scalars.side90 == -1);
    }
  }
  CHECK(m.layers[1].words);
  CHECK(m.layers[1].depth == Approx(1.0 / 9));  // blocks.0.inner: inside block 0
  CHECK(m.layers[2].depth == Approx(1.0 / 9));
  REQUIRE(m.attention_outer.size() == 9);
  REQUIRE(m.attention_inner.size() == 9);
  CHECK(m.attention_inner[0].size() == 2);
  for (const auto& block : m.attention_inner)
    for (double d : block) CHECK((d > 0 && d < std::hypot(6.0, 6.0)));  // 4x4 words 2 px apart

  const auto dir = test::temp_dir("rf_measure");
  Provenance prov = collect_provenance();
  ResultFile out(dir / "rf.h5", "rf", prov, {{"model", "tnt_tiny_patch8_32"}});
  write_rf(out, m, 4);
  const auto path = out.commit();
  const H5Input in(path.string());
  CHECK(in.shape("erf/maps") == Dims{19, 8, 8});
  CHECK(in.shape("attention/inner") == Dims{9, 2});
  CHECK(in.shape("theoretical/tap_size") == Dims{19});
  const auto maps = in.read_f32("erf/maps");
  double stored = 0;
  for (int64_t i = 64; i < 128; ++i) stored += maps[static_cast<size_t>(i)];
  CHECK(stored == Approx(m.layers[1].scalars.mass).epsilon(1e-5));  // 4x4 sums keep the mass
}
