// Data parallelism's building blocks, without MPI: the loader's shards of a global batch are exactly the rows
// of the one-process batch (augmentation, mixup and cutmix partners across shards, soft targets), and
// stochastic depth / dropout masks drawn for a slice of the batch are the global batch's masks for those
// rows.
#include <fmt/format.h>

#include <catch2/catch.hpp>

#include "harness/data/loader.hpp"
#include "models/layers/drop_path.hpp"
#include "models/layers/dropout.hpp"
#include "tests/support/check.hpp"

using namespace vb;
using namespace vb::data;
using namespace vb::test;

namespace {

ImageSet make_set(int64_t n, int64_t c, int64_t s, int64_t classes) {
  ImageSet set;
  set.name = "shards";
  set.channels = c;
  set.height = set.width = s;
  for (int64_t k = 0; k < classes; ++k) set.classes.push_back(fmt::format("c{}", k));
  for (int64_t i = 0; i < n; ++i) {
    set.labels.push_back(static_cast<int32_t>(i % classes));
    for (int64_t j = 0; j < c * s * s; ++j)
      set.pixels.push_back(static_cast<uint8_t>((i * 37 + j * 13 + j / s) % 251));
  }
  return set;
}

// The rows a loader (shard k of n) yields for (epoch, step).
Batch batch_of(const ImageSet& set, LoaderOptions opt, int64_t shard, int64_t shards, int64_t epoch,
               int64_t step) {
  std::vector<int64_t> idx(set.size());
  for (int64_t i = 0; i < set.size(); ++i) idx[i] = i;
  opt.shard = shard;
  opt.shards = shards;
  Loader l(set, idx, opt);
  l.start_epoch(epoch, step);
  Batch b;
  REQUIRE(l.next(b));
  return b;
}

// Both mask layers draw, in sharded slices, what they draw for the whole batch; restores the default after.
template <class L>
void check_mask_slices(const Dims& shape, float p) {
  const int64_t B = shape[0];
  const Tensor whole_src = tensor(shape, random_vec(product(shape), 3, 0.5, 1.5));
  L whole("m", {p, 42});
  whole.set_step(5);
  whole.forward(whole_src, Mode::train);
  const Vec global = to_double(whole.mask());
  for (int64_t shards : {2, 4}) {
    Vec joined;
    for (int64_t k = 0; k < shards; ++k) {
      Dims part = shape;
      part[0] = B / shards;
      RandomMask::set_batch_slice(k * B / shards, B / shards, B);
      L slice("m", {p, 42});
      slice.set_step(5);
      slice.forward(tensor(part, random_vec(product(part), 4, 0.5, 1.5)), Mode::train);
      const Vec m = to_double(slice.mask());
      joined.insert(joined.end(), m.begin(), m.end());
    }
    RandomMask::set_batch_slice(0, 0, 0);
    REQUIRE(joined == global);
  }
  // Without the slice, a half batch draws the first half's numbers again: the bug the slice prevents.
  Dims half = shape;
  half[0] = B / 2;
  L local("m", {p, 42});
  local.set_step(5);
  local.forward(tensor(half, random_vec(product(half), 4, 0.5, 1.5)), Mode::train);
  REQUIRE(to_double(local.mask()) != Vec(global.begin() + global.size() / 2, global.end()));
}

}  // namespace

TEST_CASE("Loader shards: the rows of the one-process batch, mixup and cutmix partners included",
          "[data][dist]") {
  const ImageSet set = make_set(64, 2, 8, 64);  // one class per image: every soft target names its partner
  LoaderOptions opt;
  opt.batch = 12;
  opt.shuffle = opt.drop_last = opt.train = true;
  opt.augment.crop_pad = 2;
  opt.augment.hflip = true;
  opt.seed = 9;
  opt.prefetch = 0;
  for (auto [mixup, cutmix] : {std::pair{0.f, 0.f}, {0.8f, 0.f}, {0.f, 1.f}, {0.8f, 1.f}}) {
    opt.augment.mixup = mixup;
    opt.augment.cutmix = cutmix;
    for (int64_t step : {0, 3}) {
      const Batch whole = batch_of(set, opt, 0, 1, 2, step);
      for (int64_t shards : {2, 3, 4}) {
        INFO(fmt::format("mixup {} cutmix {} step {} shards {}", mixup, cutmix, step, shards));
        Batch joined;
        for (int64_t k = 0; k < shards; ++k) {
          const Batch b = batch_of(set, opt, k, shards, 2, step);
          REQUIRE(b.size == opt.batch / shards);
          joined.images.insert(joined.images.end(), b.images.begin(), b.images.end());
          joined.labels.insert(joined.labels.end(), b.labels.begin(), b.labels.end());
          joined.indices.insert(joined.indices.end(), b.indices.begin(), b.indices.end());
          joined.targets.insert(joined.targets.end(), b.targets.begin(), b.targets.end());
        }
        REQUIRE(joined.indices == whole.indices);
        REQUIRE(joined.labels == whole.labels);
        REQUIRE(joined.images == whole.images);  // bit for bit
        REQUIRE(joined.targets == whole.targets);
      }
    }
  }
  opt.batch = 10;
  REQUIRE_THROWS_WITH(batch_of(set, opt, 0, 4, 0, 0),
                      Catch::Contains("batch 10 cannot be split into 4 equal shards"));
}

TEST_CASE("RandomMask slices: stochastic depth and dropout draw the global batch's masks", "[layer][dist]") {
  check_mask_slices<DropPath>({64, 5}, 0.5f);  // 32 samples a half: a chance match is 2^-32
  check_mask_slices<Dropout>({8, 3, 2}, 0.5f);
  REQUIRE_THROWS_WITH(RandomMask::set_batch_slice(6, 4, 8), Catch::Contains("not inside the batch"));
}
