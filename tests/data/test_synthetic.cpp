// The synthetic dataset: keys, determinism in the seed, balanced labels, and learnable structure (the class
// is the orientation of a local pattern: a structure-tensor orientation estimate finds it well above chance).
#include <catch2/catch.hpp>
#include <cmath>

#include "harness/data/dataset.hpp"

using namespace vb::data;

namespace {

// Dominant gradient orientation in [0, pi) of image i (channels summed), from the structure tensor.
double orientation(const ImageSet& s, int64_t i) {
  const int64_t h = s.height, w = s.width;
  std::vector<double> g(h * w, 0.0);
  for (int64_t c = 0; c < s.channels; ++c)
    for (int64_t p = 0; p < h * w; ++p) g[p] += s.image(i)[c * h * w + p];
  double jxx = 0, jyy = 0, jxy = 0;
  for (int64_t y = 1; y + 1 < h; ++y)
    for (int64_t x = 1; x + 1 < w; ++x) {
      const double gx = g[y * w + x + 1] - g[y * w + x - 1], gy = g[(y + 1) * w + x] - g[(y - 1) * w + x];
      jxx += gx * gx;
      jyy += gy * gy;
      jxy += gx * gy;
    }
  const double phi = 0.5 * std::atan2(2 * jxy, jxx - jyy);
  return phi < 0 ? phi + M_PI : phi;
}

}  // namespace

TEST_CASE("synthetic: keys, sizes, balance", "[data]") {
  const Dataset d = load_dataset("synthetic");
  CHECK(d.name == "synthetic");
  CHECK(d.train.size() == 512);
  CHECK(d.test.size() == 256);
  CHECK(d.train.channels == 3);
  CHECK(d.train.height == 16);
  CHECK(d.train.classes.size() == 4);
  const Dataset e = load_dataset("synthetic:train=30,test=9,classes=3,size=12,channels=1,seed=4");
  CHECK(e.train.size() == 30);
  CHECK(e.test.size() == 9);
  CHECK(e.train.channels == 1);
  CHECK(e.train.width == 12);
  CHECK(e.train.pixels.size() == 30u * 12 * 12);
  std::vector<int> count(3, 0);
  for (int32_t l : e.train.labels) ++count[l];
  CHECK(count == std::vector<int>{10, 10, 10});
  CHECK(e.normalize.mean.size() == 1);
  CHECK(e.normalize.std[0] > 0.05f);
  CHECK(!e.augment.hflip);  // a mirror image has another orientation, i.e. another class
}

TEST_CASE("synthetic: same seed, same bytes", "[data]") {
  const std::string spec = "synthetic:train=40,test=10,seed=7";
  const Dataset a = load_dataset(spec), b = load_dataset(spec);
  CHECK(a.train.pixels == b.train.pixels);
  CHECK(a.test.pixels == b.test.pixels);
  CHECK(a.train.labels == b.train.labels);
  CHECK(a.train.pixels != load_dataset("synthetic:train=40,test=10,seed=8").train.pixels);
  CHECK(a.train.pixels != a.test.pixels);  // the splits are different draws
  // A larger set starts with the same images (the draws are per index).
  const Dataset big = load_dataset("synthetic:train=80,test=10,seed=7");
  CHECK(std::equal(a.train.pixels.begin(), a.train.pixels.end(), big.train.pixels.begin()));
}

TEST_CASE("synthetic: the class is the pattern's orientation", "[data]") {
  const Dataset d = load_dataset("synthetic:train=400,classes=4");
  int correct = 0;
  for (int64_t i = 0; i < d.train.size(); ++i) {
    const double phi = orientation(d.train, i);
    int best = 0;
    double best_dist = 10;
    for (int c = 0; c < 4; ++c) {
      const double diff = std::fmod(std::abs(phi - M_PI * c / 4), M_PI);
      const double dist = std::min(diff, M_PI - diff);
      if (dist < best_dist) best_dist = dist, best = c;
    }
    correct += best == d.train.labels[i];
  }
  INFO(correct << " of 400 by orientation alone (chance: 100)");
  CHECK(correct > 320);  // 385 when written
}
