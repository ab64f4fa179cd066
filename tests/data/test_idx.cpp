// IDX files: round trip (raw and gzip), and every malformed file rejected with an error naming it.
#include <zlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "harness/data/dataset.hpp"
#include "harness/data/sources.hpp"
#include "tests/support/temp_dir.hpp"

using namespace vb::data;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

std::vector<uint8_t> idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims,
                               const std::vector<uint8_t>& data) {
  std::vector<uint8_t> b;
  auto put = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
  };
  put(magic);
  for (uint32_t d : dims) put(d);
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

void write_file(const fs::path& p, const std::vector<uint8_t>& bytes, bool gz) {
  if (gz) {
    gzFile f = gzopen(p.string().c_str(), "wb");
    REQUIRE(f);
    REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
}

struct Split {
  std::vector<uint8_t> images, labels;
};

// n images of 3x4 pixels with distinct values, labels i % 10.
Split make_split(uint32_t n, uint32_t salt) {
  Split s;
  for (uint32_t i = 0; i < n * 12; ++i) s.images.push_back(static_cast<uint8_t>(i * 7 + salt));
  for (uint32_t i = 0; i < n; ++i) s.labels.push_back(static_cast<uint8_t>((i + salt) % 10));
  return s;
}

// The four files of a small IDX dataset in `dir`.
void write_dataset(const fs::path& dir, bool gz, uint32_t n_train = 20, uint32_t n_test = 10) {
  const std::string ext = gz ? ".gz" : "";
  const Split tr = make_split(n_train, 0), te = make_split(n_test, 3);
  write_file(dir / ("train-images-idx3-ubyte" + ext), idx_bytes(0x803, {n_train, 3, 4}, tr.images), gz);
  write_file(dir / ("train-labels-idx1-ubyte" + ext), idx_bytes(0x801, {n_train}, tr.labels), gz);
  write_file(dir / ("t10k-images-idx3-ubyte" + ext), idx_bytes(0x803, {n_test, 3, 4}, te.images), gz);
  write_file(dir / ("t10k-labels-idx1-ubyte" + ext), idx_bytes(0x801, {n_test}, te.labels), gz);
}

}  // namespace

TEST_CASE("IDX round trip, raw and gzip", "[data]") {
  for (bool gz : {false, true}) {
    INFO("gzip " << gz);
    const fs::path dir = vb::test::temp_dir(gz ? "idx_gz" : "idx_raw");
    write_dataset(dir, gz);
    for (const char* kind : {"fashion-mnist", "mnist"}) {
      const Dataset d = load_dataset(std::string(kind) + ":" + dir.string());
      CHECK(d.name == kind);
      CHECK(d.train.size() == 20);
      CHECK(d.test.size() == 10);
      CHECK(d.train.channels == 1);
      CHECK(d.train.height == 3);
      CHECK(d.train.width == 4);
      CHECK(d.train.pixels == make_split(20, 0).images);
      CHECK(d.test.pixels == make_split(10, 3).images);
      CHECK(d.test.labels[0] == 3);
      CHECK(d.test.labels[9] == 2);
      REQUIRE(d.train.classes.size() == 10);
      CHECK(d.train.name == std::string(kind) + "/train");
      CHECK(d.augment.crop_pad == 2);
      if (std::string(kind) == "fashion-mnist") {
        CHECK(d.train.classes[0] == "T-shirt/top");
        CHECK(d.train.classes[9] == "Ankle boot");
        CHECK(d.normalize.mean == std::vector<float>{0.2860f});
        CHECK(d.normalize.std == std::vector<float>{0.3530f});
        CHECK(d.augment.hflip);
      } else {
        CHECK(d.train.classes[7] == "7");
        CHECK(d.normalize.mean == std::vector<float>{0.1307f});
        CHECK(!d.augment.hflip);
      }
    }
  }
}

TEST_CASE("IDX errors name the file and the problem", "[data]") {
  const fs::path dir = vb::test::temp_dir("idx_bad");
  const fs::path images = dir / "train-images-idx3-ubyte", labels = dir / "train-labels-idx1-ubyte";
  const std::vector<std::string> classes(10, "c");
  const Split s = make_split(5, 0);
  write_file(labels, idx_bytes(0x801, {5}, s.labels), false);

  SECTION("missing file") {
    CHECK_THROWS_WITH(load_dataset("mnist:" + dir.string()),
                      Contains("t10k-images-idx3-ubyte") || Contains("train-images-idx3-ubyte"));
    CHECK_THROWS_WITH(load_dataset("mnist:" + (dir / "nope").string()), Contains("nope: no such directory"));
  }
  SECTION("truncated data, raw and gzip") {
    std::vector<uint8_t> b = idx_bytes(0x803, {5, 3, 4}, s.images);
    b.resize(b.size() - 7);
    for (bool gz : {false, true}) {
      const fs::path p = dir / (gz ? "im.gz" : "im");
      write_file(p, b, gz);
      CHECK_THROWS_WITH(read_idx_split(p, labels, classes, "x"),
                        Contains(p.string()) && Contains("truncated"));
    }
  }
  SECTION("a header claiming 2^48 bytes is refused before allocating, raw and gzip") {
    for (bool gz : {false, true}) {
      const fs::path p = dir / (gz ? "huge.gz" : "huge");
      write_file(p, idx_bytes(0x803, {1u << 16, 1u << 16, 1u << 16}, s.images), gz);
      CHECK_THROWS_WITH(read_idx_split(p, labels, classes, "x"), Contains(p.string()) &&
                                                                     Contains("65536, 65536, 65536") &&
                                                                     Contains("more than a file"));
    }
    write_file(images, idx_bytes(0x803, {0xffffffffu, 0xffffffffu, 0xffffffffu}, s.images),
               false);  // overflows
    CHECK_THROWS_WITH(read_idx_split(images, labels, classes, "x"), Contains("> 2^64"));
  }
  SECTION("an image size beyond any dataset is refused, even with no images (fuzz_idx_raw's crash input)") {
    const fs::path none = dir / "no-labels";
    write_file(none, idx_bytes(0x801, {0}, {}), false);
    write_file(images, idx_bytes(0x803, {0, 0xa60000e4u, 0xfffffd1cu}, {}),
               false);  // 0 bytes of pixels: a valid size
    CHECK_THROWS_WITH(read_idx_split(images, none, classes, "x"),
                      Contains(images.string()) && Contains("2785018084x4294966556 pixels"));
    write_file(images, idx_bytes(0x803, {0, 0, 28}, {}), false);
    CHECK_THROWS_WITH(read_idx_split(images, none, classes, "x"), Contains("0x28 pixels"));
  }
  SECTION("truncated header") {
    write_file(images, {0, 0, 8, 3, 0, 0}, false);
    CHECK_THROWS_WITH(read_idx_split(images, labels, classes, "x"),
                      Contains(images.string()) && Contains("truncated"));
  }
  SECTION("trailing bytes") {
    std::vector<uint8_t> b = idx_bytes(0x803, {5, 3, 4}, s.images);
    b.push_back(1);
    write_file(images, b, false);
    CHECK_THROWS_WITH(read_idx_split(images, labels, classes, "x"),
                      Contains(images.string()) && Contains("longer"));
  }
  SECTION("bad magic: labels given as images") {
    write_file(images, idx_bytes(0x801, {5}, s.labels), false);
    CHECK_THROWS_WITH(read_idx_split(images, labels, classes, "x"),
                      Contains(images.string()) && Contains("bad magic number 0x00000801"));
  }
  SECTION("corrupt gzip") {
    std::vector<uint8_t> b = {0x1f, 0x8b, 8,    0, 0, 0, 0, 0, 0, 3, 0xde,
                              0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7};
    write_file(images, b, false);
    CHECK_THROWS_WITH(read_idx_split(images, labels, classes, "x"), Contains(images.string()));
  }
  SECTION("count mismatch") {
    write_file(images, idx_bytes(0x803, {4, 3, 4}, std::vector<uint8_t>(48, 0)), false);
    CHECK_THROWS_WITH(read_idx_split(images, labels, classes, "x"),
                      Contains(labels.string()) && Contains("5 labels") && Contains("4 images"));
  }
  SECTION("label out of range") {
    write_file(images, idx_bytes(0x803, {5, 3, 4}, s.images), false);
    std::vector<uint8_t> l = s.labels;
    l[3] = 10;
    write_file(labels, idx_bytes(0x801, {5}, l), false);
    CHECK_THROWS_WITH(read_idx_split(images, labels, classes, "x"),
                      Contains(labels.string()) && Contains("label 10 at index 3"));
  }
}

TEST_CASE("unknown dataset specs list the accepted forms", "[data]") {
  CHECK_THROWS_WITH(load_dataset("cifar11"), Contains("unknown dataset 'cifar11'") &&
                                                 Contains("folder:<root>") && Contains("synthetic"));
  CHECK_THROWS_WITH(load_dataset("mnist"), Contains("mnist:<dir>"));
  CHECK_THROWS_WITH(load_dataset("folder:"), Contains("folder:<root>"));
  CHECK_THROWS_WITH(load_dataset("synthetic:classes=1"), Contains("classes=1"));
  CHECK_THROWS_WITH(load_dataset("synthetic:colour=3"), Contains("unknown key 'colour'"));
  CHECK_THROWS_WITH(load_dataset("synthetic:train=x"), Contains("train=x"));
}

TEST_CASE("Debian's Fashion-MNIST: 60000/10000, balanced", "[data][slow]") {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) {
    WARN("dataset-fashion-mnist is not installed: skipped");
    return;
  }
  const Dataset d = load_dataset("fashion-mnist");
  CHECK(d.train.size() == 60000);
  CHECK(d.test.size() == 10000);
  CHECK(d.train.height == 28);
  std::vector<int64_t> count(10, 0);
  for (int32_t l : d.train.labels) ++count[l];
  for (int64_t c : count) CHECK(c == 6000);
  // The published constants match the pixels.
  const Normalize n = channel_stats(d.train);
  CHECK(n.mean[0] == Approx(d.normalize.mean[0]).margin(1e-3));
  CHECK(n.std[0] == Approx(d.normalize.std[0]).margin(1e-3));
}
