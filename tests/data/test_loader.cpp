// The Loader: batch counts, determinism with and without prefetch, resuming mid-epoch, augmentation only in
// train mode, normalisation, mixup/cutmix targets, and the resize/centre-crop/upsample rule.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <set>

#include "harness/data/loader.hpp"

using namespace vb::data;

namespace {

// n images of c x h x w with pixel values that differ across images, rows and columns; label = i % classes.
ImageSet make_set(int64_t n, int64_t c, int64_t h, int64_t w, int64_t classes = 4) {
  ImageSet s;
  s.name = "test";
  s.channels = c;
  s.height = h;
  s.width = w;
  for (int64_t k = 0; k < classes; ++k)
    s.classes.push_back(fmt::format("c{}", k));  // (not "c" + to_string: a gcc 12 -Wrestrict false positive)
  for (int64_t i = 0; i < n; ++i) {
    s.labels.push_back(static_cast<int32_t>(i % classes));
    for (int64_t j = 0; j < c * h * w; ++j)
      s.pixels.push_back(static_cast<uint8_t>((i * 31 + j * 17 + j / w) % 251));
  }
  return s;
}

std::vector<int64_t> all(const ImageSet& s) {
  std::vector<int64_t> v(s.size());
  for (int64_t i = 0; i < s.size(); ++i) v[i] = i;
  return v;
}

std::vector<Batch> epoch(Loader& l, int64_t e, int64_t first = 0) {
  l.start_epoch(e, first);
  std::vector<Batch> out;
  Batch b;
  while (l.next(b)) out.push_back(b);
  return out;
}

// The image as the loader hands it out without any transform: (p / 255 - mean) / std.
std::vector<float> plain(const ImageSet& s, int64_t i, const Normalize& n) {
  std::vector<float> v(s.image_numel());
  const int64_t plane = s.height * s.width;
  for (int64_t j = 0; j < s.image_numel(); ++j) {
    const int64_t c = j / plane;
    v[j] = s.image(i)[j] * (1.f / (255.f * n.std[c])) - n.mean[c] / n.std[c];
  }
  return v;
}

std::vector<float> image_of(const Batch& b, int64_t j) {
  const int64_t numel = static_cast<int64_t>(b.images.size()) / b.size;
  return {b.images.begin() + j * numel, b.images.begin() + (j + 1) * numel};
}

LoaderOptions train_options() {
  LoaderOptions o;
  o.batch = 4;
  o.shuffle = true;
  o.train = true;
  o.seed = 5;
  o.augment = {2, true, 0.4f, 1.0f};
  o.normalize = {{0.5f, 0.4f}, {0.25f, 0.3f}};
  return o;
}

}  // namespace

TEST_CASE("Loader: steps per epoch, last batch, every index once", "[data]") {
  const ImageSet s = make_set(10, 1, 4, 4);
  for (bool drop : {false, true}) {
    for (int64_t prefetch : {0, 2}) {
      LoaderOptions o;
      o.batch = 4;
      o.drop_last = drop;
      o.shuffle = true;
      o.prefetch = prefetch;
      Loader l(s, all(s), o);
      CHECK(l.steps_per_epoch() == (drop ? 2 : 3));
      const auto batches = epoch(l, 0);
      REQUIRE(static_cast<int64_t>(batches.size()) == l.steps_per_epoch());
      CHECK(batches.back().size == (drop ? 4 : 2));
      std::multiset<int64_t> seen;
      for (const Batch& b : batches) {
        CHECK(b.images.size() == static_cast<size_t>(b.size * 16));
        for (int64_t j = 0; j < b.size; ++j) CHECK(b.labels[j] == s.labels[b.indices[j]]);
        seen.insert(b.indices.begin(), b.indices.end());
      }
      CHECK(static_cast<int64_t>(seen.size()) == (drop ? 8 : 10));
      CHECK(std::set<int64_t>(seen.begin(), seen.end()).size() == seen.size());
    }
  }
  // Only the given indices, in order when not shuffled.
  LoaderOptions o;
  o.batch = 3;
  Loader l(s, {7, 2, 9}, o);
  const auto b = epoch(l, 0);
  REQUIRE(b.size() == 1);
  CHECK(b[0].indices == std::vector<int64_t>{7, 2, 9});
}

TEST_CASE("Loader: same (seed, epoch, step) gives the same bytes, prefetch on or off", "[data]") {
  const ImageSet s = make_set(22, 2, 8, 8);
  LoaderOptions o = train_options();
  o.prefetch = 0;
  Loader a(s, all(s), o);
  o.prefetch = 3;
  Loader b(s, all(s), o);
  const auto ea = epoch(a, 1), eb = epoch(b, 1);
  REQUIRE(ea.size() == eb.size());
  for (size_t i = 0; i < ea.size(); ++i) {
    CHECK(ea[i].step == static_cast<int64_t>(i));
    CHECK(ea[i].epoch == 1);
    CHECK(ea[i].indices == eb[i].indices);
    CHECK(ea[i].images == eb[i].images);
    CHECK(ea[i].targets == eb[i].targets);
  }
  // Another epoch: another order and other augmentations.
  const auto e2 = epoch(a, 2);
  CHECK(e2[0].indices != ea[0].indices);
  CHECK(e2[0].images != ea[0].images);
  // Another seed: another order.
  o.seed = 6;
  Loader c(s, all(s), o);
  CHECK(epoch(c, 1)[0].indices != ea[0].indices);
}

TEST_CASE("Loader: restarting mid-epoch continues the uninterrupted sequence", "[data]") {
  const ImageSet s = make_set(30, 2, 8, 8);
  LoaderOptions o = train_options();
  Loader full(s, all(s), o);
  const auto whole = epoch(full, 4);
  Loader resumed(s, all(s), o);
  const auto tail = epoch(resumed, 4, 3);
  REQUIRE(tail.size() == whole.size() - 3);
  for (size_t i = 0; i < tail.size(); ++i) {
    CHECK(tail[i].step == whole[i + 3].step);
    CHECK(tail[i].images == whole[i + 3].images);
    CHECK(tail[i].targets == whole[i + 3].targets);
  }
  // A restart while batches of another epoch are prefetched discards them.
  Loader l(s, all(s), o);
  l.start_epoch(9);
  Batch b;
  REQUIRE(l.next(b));
  l.start_epoch(4, 5);
  REQUIRE(l.next(b));
  CHECK(b.epoch == 4);
  CHECK(b.step == 5);
  CHECK(b.images == whole[5].images);
}

TEST_CASE("Loader: flip and crop change images in train mode only", "[data]") {
  const ImageSet s = make_set(16, 2, 6, 6);
  const Normalize n{{0.5f, 0.4f}, {0.25f, 0.3f}};
  LoaderOptions o;
  o.batch = 16;
  o.normalize = n;
  o.augment = {2, true, 0.f, 0.f};

  // Eval: augmentation configured but never applied.
  Loader eval(s, all(s), o);
  const Batch e = epoch(eval, 3)[0];
  for (int64_t j = 0; j < e.size; ++j) CHECK(image_of(e, j) == plain(s, e.indices[j], n));

  // Flip only: each image is itself or its mirror, and both happen.
  o.train = true;
  o.augment = {0, true, 0.f, 0.f};
  Loader flip(s, all(s), o);
  int flipped = 0;
  for (const Batch& b : epoch(flip, 0))
    for (int64_t j = 0; j < b.size; ++j) {
      const auto img = image_of(b, j), ref = plain(s, b.indices[j], n);
      auto mirrored = ref;
      for (int64_t r = 0; r < 2 * 6; ++r)
        std::reverse(mirrored.begin() + r * 6, mirrored.begin() + (r + 1) * 6);
      CHECK((img == ref || img == mirrored));
      flipped += img == mirrored;
    }
  CHECK(flipped > 0);
  CHECK(flipped < 16);

  // Crop only: each image is a shift of itself within +-2 pixels, with black (normalised 0) coming in.
  o.augment = {2, false, 0.f, 0.f};
  Loader crop(s, all(s), o);
  int shifted = 0;
  for (const Batch& b : epoch(crop, 0))
    for (int64_t j = 0; j < b.size; ++j) {
      const auto img = image_of(b, j);
      const uint8_t* src = s.image(b.indices[j]);
      bool found = false;
      for (int dy = -2; dy <= 2 && !found; ++dy)
        for (int dx = -2; dx <= 2 && !found; ++dx) {
          bool match = true;
          for (int c = 0; c < 2 && match; ++c)
            for (int y = 0; y < 6 && match; ++y)
              for (int x = 0; x < 6 && match; ++x) {
                const int sy = y + dy, sx = x + dx;
                const float p = sy >= 0 && sy < 6 && sx >= 0 && sx < 6 ? src[(c * 6 + sy) * 6 + sx] : 0.f;
                match = std::abs(img[(c * 6 + y) * 6 + x] - (p / 255.f - n.mean[c]) / n.std[c]) < 1e-5f;
              }
          if (match) {
            found = true;
            shifted += dy != 0 || dx != 0;
          }
        }
      CHECK(found);
    }
  CHECK(shifted > 8);  // 24 of 25 offsets move the image
}

TEST_CASE("Loader: normalisation values", "[data]") {
  ImageSet s = make_set(1, 3, 2, 2);
  s.pixels = {0, 255, 51, 102, 0, 0, 0, 0, 255, 255, 255, 255};
  LoaderOptions o;
  o.normalize = {{0.5f, 0.f, 1.f}, {0.5f, 2.f, 0.25f}};
  Loader l(s, {0}, o);
  const Batch b = epoch(l, 0)[0];
  const std::vector<float> expected = {-1.f, 1.f, -0.6f, -0.2f, 0, 0, 0, 0, 0, 0, 0, 0};
  REQUIRE(b.images.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) CHECK(b.images[i] == Approx(expected[i]).margin(1e-6));
  // No normalisation given: pixel / 255.
  Loader raw(s, {0}, LoaderOptions{});
  CHECK(epoch(raw, 0)[0].images[1] == 1.f);
  o.normalize = {{0.5f}, {0.5f}};
  CHECK_THROWS_AS(Loader(s, {0}, o), std::invalid_argument);
}

TEST_CASE("Loader: mixup and cutmix soft targets", "[data]") {
  const ImageSet s = make_set(8, 1, 8, 8, 8);  // one class per image: the two partners always differ
  const Normalize n{{0.f}, {1.f}};
  for (int mode = 0; mode < 2; ++mode) {
    LoaderOptions o;
    o.batch = 8;
    o.train = true;
    o.normalize = n;
    o.augment = mode == 0 ? Augment{0, false, 0.8f, 0.f} : Augment{0, false, 0.f, 1.f};
    Loader l(s, all(s), o);
    for (int64_t e = 0; e < 4; ++e) {
      const Batch b = epoch(l, e)[0];
      REQUIRE(b.targets.size() == 8 * 8);
      for (int64_t j = 0; j < 8; ++j) {
        float sum = 0;
        for (int64_t c = 0; c < 8; ++c) sum += b.targets[j * 8 + c];
        CHECK(sum == Approx(1.f).margin(1e-6));
        const float lam = b.targets[j * 8 + b.labels[j]];
        CHECK(b.targets[j * 8 + b.labels[7 - j]] == Approx(1 - lam).margin(1e-6));
        const auto mine = plain(s, b.indices[j], n), other = plain(s, b.indices[7 - j], n);
        const auto img = image_of(b, j);
        if (mode == 0) {  // mixup: the blend with weight lam
          for (size_t i = 0; i < img.size(); ++i)
            CHECK(img[i] == Approx(lam * mine[i] + (1 - lam) * other[i]).margin(1e-5));
        } else {  // cutmix: lam is the share of pixels kept from the image itself
          int kept = 0;
          for (size_t i = 0; i < img.size(); ++i) {
            CHECK((img[i] == mine[i] || img[i] == other[i]));
            kept += img[i] == mine[i] && mine[i] != other[i];
          }
          CHECK(kept <= std::lround(lam * 64));
        }
      }
    }
  }
  // Eval mode never mixes.
  LoaderOptions o;
  o.augment = {0, false, 0.8f, 1.f};
  Loader l(s, all(s), o);
  CHECK(epoch(l, 0)[0].targets.empty());
}

TEST_CASE("Loader: resize and centre-crop, upsample, refusals", "[data]") {
  SECTION("larger: shorter side to S / 0.875, centre crop") {
    // 36 x 40 to 32: the shorter side is already floor(32 / 0.875) = 36, so this is a pure crop at (2, 4).
    const ImageSet s = make_set(2, 1, 36, 40);
    LoaderOptions o;
    o.out_size = 32;
    Loader l(s, all(s), o);
    CHECK(l.out_size() == 32);
    const Batch b = epoch(l, 0)[0];
    REQUIRE(b.images.size() == 2u * 32 * 32);
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x)
        CHECK(b.images[y * 32 + x] == Approx(s.image(0)[(y + 2) * 40 + x + 4] / 255.f).margin(1e-6));
  }
  SECTION("larger with resampling: a constant image stays constant, a ramp stays monotone") {
    ImageSet s = make_set(1, 1, 64, 64);
    for (int y = 0; y < 64; ++y)
      for (int x = 0; x < 64; ++x) s.pixels[y * 64 + x] = static_cast<uint8_t>(x * 4);
    LoaderOptions o;
    o.out_size = 24;  // resized to 27 x 27, crop at 2 (round half to even of 1.5)
    Loader l(s, {0}, o);
    const Batch b = epoch(l, 0)[0];
    REQUIRE(b.images.size() == 24u * 24);
    for (int y = 0; y < 24; ++y) {
      CHECK(b.images[y * 24] == b.images[0]);
      for (int x = 1; x < 24; ++x) CHECK(b.images[y * 24 + x] > b.images[y * 24 + x - 1]);
    }
    // Column x of the crop is resized column x + 2, i.e. source (x + 2.5) * 64 / 27 - 0.5, times 4 / 255.
    for (int x = 0; x < 24; ++x)
      CHECK(b.images[x] == Approx(((x + 2.5) * 64 / 27 - 0.5) * 4 / 255).margin(1e-5));
  }
  SECTION("smaller: refused without upsample, resized with it") {
    ImageSet s = make_set(3, 3, 8, 8);
    std::fill(s.pixels.begin(), s.pixels.end(), 200);
    LoaderOptions o;
    o.out_size = 16;
    CHECK_THROWS_AS(Loader(s, all(s), o), std::invalid_argument);
    o.upsample = true;
    Loader l(s, all(s), o);
    const Batch b = epoch(l, 0)[0];
    CHECK(b.images.size() == 3u * 3 * 16 * 16);
    for (float v : b.images) CHECK(v == Approx(200 / 255.f));
  }
  SECTION("not square without out_size") {
    const ImageSet s = make_set(1, 1, 6, 8);
    CHECK_THROWS_AS(Loader(s, {0}, LoaderOptions{}), std::invalid_argument);
  }
  SECTION("index out of range") {
    const ImageSet s = make_set(2, 1, 4, 4);
    CHECK_THROWS_AS(Loader(s, {0, 2}, LoaderOptions{}), std::invalid_argument);
  }
}

TEST_CASE("Loader: a worker's exception reaches next()", "[data]") {
  for (int64_t prefetch : {0, 2}) {
    ImageSet s = make_set(12, 1, 4, 4);
    LoaderOptions o;
    o.batch = 4;
    o.prefetch = prefetch;
    Loader l(s, all(s), o);
    s.pixels.resize(5);  // the set changes under the loader: preparing a batch throws
    l.start_epoch(0);
    Batch b;
    CHECK_THROWS_WITH(l.next(b), Catch::Matchers::Contains("changed after the loader was made"));
  }
}
