// CIFAR-10's binary version (cifar-10-batches-bin): a tiny dataset written in the official record format is
// read back exactly (labels, CHW pixels, classes, the loader's scaling), gives the same dataset facts as the
// same images as an image folder, and every malformed input is an error naming the file and the problem.
#include <fmt/format.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "harness/data/dataset.hpp"
#include "harness/data/loader.hpp"
#include "harness/data/sources.hpp"
#include "tests/support/temp_dir.hpp"

using namespace vb::data;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

constexpr int kRecord = 3073;  // 1 label byte + 3 x 32 x 32 pixel bytes

const std::vector<std::string> kOfficial = {"airplane", "automobile", "bird",  "cat",  "deer",
                                            "dog",      "frog",       "horse", "ship", "truck"};

// Image k of a split (salt tells the splits apart): label (3k + 1 + salt) % 10 (each class once in 10
// images), and a pixel value that differs across images, channels, rows and columns.
int label_of(int k, int salt) {
  return (3 * k + 1 + salt) % 10;
}
uint8_t pixel_of(int k, int salt, int c, int y, int x) {
  return static_cast<uint8_t>(k * 31 + salt * 101 + c * 85 + y * 7 + x * 3);
}

// One record in the official layout: label, then the red, green and blue planes, each 32 rows of 32.
std::vector<uint8_t> record(int k, int salt) {
  std::vector<uint8_t> r{static_cast<uint8_t>(label_of(k, salt))};
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) r.push_back(pixel_of(k, salt, c, y, x));
  return r;
}

void write_bytes(const fs::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// <dir>/data_batch_{1..5}.bin with `per_batch` records each (train images 0, 1, ... in order) and
// test_batch.bin with `test` records; batches.meta.txt only when `meta`.
fs::path write_cifar(const fs::path& dir, int per_batch = 2, int test = 3, bool meta = true) {
  fs::create_directories(dir);
  for (int b = 0; b < 5; ++b) {
    std::vector<uint8_t> bytes;
    for (int i = 0; i < per_batch; ++i) {
      const auto r = record(b * per_batch + i, 0);
      bytes.insert(bytes.end(), r.begin(), r.end());
    }
    write_bytes(dir / fmt::format("data_batch_{}.bin", b + 1), bytes);
  }
  std::vector<uint8_t> bytes;
  for (int i = 0; i < test; ++i) {
    const auto r = record(i, 1);
    bytes.insert(bytes.end(), r.begin(), r.end());
  }
  write_bytes(dir / "test_batch.bin", bytes);
  if (meta) {
    std::ofstream m(dir / "batches.meta.txt");
    for (const auto& c : kOfficial) m << c << "\n";
    m << "\n";  // the official file ends with a blank line
  }
  return dir;
}

// Images k of both splits as PNGs in an image folder: <root>/{train,test}/<class>/<k>.png (HWC).
void write_folder(const fs::path& root, int train, int test) {
  for (int split = 0; split < 2; ++split) {
    for (int k = 0; k < (split ? test : train); ++k) {
      const fs::path file =
          root / (split ? "test" : "train") / kOfficial[label_of(k, split)] / fmt::format("{:03}.png", k);
      fs::create_directories(file.parent_path());
      std::vector<uint8_t> hwc(32 * 32 * 3);
      for (int c = 0; c < 3; ++c)
        for (int y = 0; y < 32; ++y)
          for (int x = 0; x < 32; ++x) hwc[(y * 32 + x) * 3 + c] = pixel_of(k, split, c, y, x);
      REQUIRE(stbi_write_png(file.string().c_str(), 32, 32, 3, hwc.data(), 32 * 3));
    }
  }
}

}  // namespace

TEST_CASE("CIFAR-10 binary: shapes, labels, CHW pixels, classes, defaults", "[data]") {
  const fs::path tmp = vb::test::temp_dir("cifar_bin");
  const fs::path dir = write_cifar(tmp / "cifar-10-batches-bin");
  // The batches folder itself, or its parent.
  for (const fs::path& arg : {dir, tmp}) {
    INFO(arg.string());
    const Dataset d = load_dataset("cifar10:" + arg.string());
    CHECK(d.name == "cifar10");
    CHECK(d.train.name == "cifar10/train");
    CHECK(d.test.name == "cifar10/test");
    CHECK(d.train.source == dir.string());
    CHECK(d.train.size() == 10);  // 2 per batch file, 5 files, in file order
    CHECK(d.test.size() == 3);
    for (const ImageSet* s : {&d.train, &d.test}) {
      CHECK(s->channels == 3);
      CHECK(s->height == 32);
      CHECK(s->width == 32);
      CHECK(s->pixels.size() == static_cast<size_t>(s->size() * 3072));
      CHECK(s->classes == kOfficial);
    }
    CHECK(d.train.labels == std::vector<int32_t>{1, 4, 7, 0, 3, 6, 9, 2, 5, 8});
    CHECK(d.test.labels == std::vector<int32_t>{2, 5, 8});
    // Every pixel where CHW puts it: image k, channel c, row y, column x at k*3072 + c*1024 + y*32 + x.
    for (int split = 0; split < 2; ++split) {
      const ImageSet& s = split ? d.test : d.train;
      for (int k = 0; k < s.size(); ++k)
        for (int c = 0; c < 3; ++c)
          for (int y = 0; y < 32; ++y)
            for (int x = 0; x < 32; ++x) {
              INFO("split " << split << " image " << k << " c " << c << " y " << y << " x " << x);
              REQUIRE(s.image(k)[c * 1024 + y * 32 + x] == pixel_of(k, split, c, y, x));
            }
    }
    // Normalisation and augmentation as for CIFAR-10 from an image folder.
    CHECK(d.normalize.mean == channel_stats(d.train).mean);
    CHECK(d.normalize.std == channel_stats(d.train).std);
    REQUIRE(d.normalize.mean.size() == 3);
    CHECK(d.augment.crop_pad == 4);
    CHECK(d.augment.hflip);
  }
}

TEST_CASE("CIFAR-10 binary: the loader scales its pixels as any other set's", "[data]") {
  const fs::path tmp = vb::test::temp_dir("cifar_bin_loader");
  const Dataset d = load_dataset("cifar10:" + write_cifar(tmp / "c").string());
  LoaderOptions o;
  o.batch = 3;
  o.prefetch = 0;
  Loader l(d.test, {0, 1, 2}, o);  // no normalisation given: pixel / 255
  l.start_epoch(0);
  Batch b;
  REQUIRE(l.next(b));
  REQUIRE(b.images.size() == 3u * 3072);
  CHECK(b.labels == std::vector<int64_t>{2, 5, 8});
  for (int k = 0; k < 3; ++k)
    for (int j = 0; j < 3072; ++j) {
      INFO("image " << k << " element " << j);
      REQUIRE(b.images[k * 3072 + j] == Approx(pixel_of(k, 1, j / 1024, j / 32 % 32, j % 32) / 255.0));
    }
}

TEST_CASE("CIFAR-10 binary and as an image folder: the same dataset facts", "[data]") {
  const fs::path tmp = vb::test::temp_dir("cifar_bin_vs_folder");
  write_cifar(tmp / "bin", 2, 10);
  write_folder(tmp / "cifar10", 10, 10);  // the same images, every class in both splits
  DatasetOptions fo;
  fo.cache_dir = tmp / "cache";
  fo.progress = false;
  const Dataset b = load_dataset("cifar10:" + (tmp / "bin").string());
  const Dataset f = load_dataset("folder:" + (tmp / "cifar10").string(), fo);
  CHECK(b.name == f.name);
  CHECK(b.train.classes == f.train.classes);
  for (const auto& [x, y] : {std::pair{&b.train, &f.train}, std::pair{&b.test, &f.test}}) {
    CHECK(x->size() == y->size());
    CHECK(x->channels == y->channels);
    CHECK(x->height == y->height);
    CHECK(x->width == y->width);
    // The folder lists images by class: the binary's image k is the folder's image at the rank of its label.
    for (int k = 0; k < x->size(); ++k) {
      const int label = x->labels[k];
      CHECK(y->labels[label] == label);
      CHECK(std::equal(x->image(k), x->image(k) + 3072, y->image(label)));
    }
  }
  CHECK(b.normalize.mean == f.normalize.mean);  // per-channel sums are exact: the order does not matter
  CHECK(b.normalize.std == f.normalize.std);
  CHECK(b.augment.crop_pad == f.augment.crop_pad);
  CHECK(b.augment.hflip == f.augment.hflip);
}

TEST_CASE("CIFAR-10 binary: class names from batches.meta.txt, else the official list", "[data]") {
  const fs::path tmp = vb::test::temp_dir("cifar_bin_meta");
  const fs::path dir = write_cifar(tmp / "c", 1, 1, false);
  CHECK(load_dataset("cifar10:" + dir.string()).train.classes == kOfficial);
  {
    std::ofstream m(dir / "batches.meta.txt");
    for (int c = 0; c < 10; ++c) m << "  class " << c << "\r\n";  // surrounding spaces and CRLF ignored
    m << "\n\n";
  }
  const Dataset d = load_dataset("cifar10:" + dir.string());
  CHECK(d.train.classes[0] == "class 0");
  CHECK(d.train.classes[9] == "class 9");
  CHECK(d.test.classes == d.train.classes);
  {
    std::ofstream m(dir / "batches.meta.txt");
    for (int c = 0; c < 9; ++c) m << kOfficial[c] << "\n";
  }
  CHECK_THROWS_WITH(load_dataset("cifar10:" + dir.string()), Contains((dir / "batches.meta.txt").string()) &&
                                                                 Contains("9 class names, CIFAR-10 has 10"));
}

TEST_CASE("CIFAR-10 binary errors name the file and the problem", "[data]") {
  const fs::path tmp = vb::test::temp_dir("cifar_bin_bad");
  const fs::path dir = write_cifar(tmp / "cifar-10-batches-bin");
  const std::string spec = "cifar10:" + dir.string();

  SECTION("missing folder") {
    CHECK_THROWS_WITH(load_dataset("cifar10:" + (tmp / "nope").string()),
                      Contains((tmp / "nope").string() + ": no such folder"));
    CHECK_THROWS_WITH(load_dataset("cifar10:"), Contains("cifar10:<dir>"));
  }
  SECTION("a folder without the batches") {
    fs::create_directories(tmp / "empty");
    CHECK_THROWS_WITH(load_dataset("cifar10:" + (tmp / "empty").string()),
                      Contains((tmp / "empty" / "data_batch_1.bin").string() + ": no such file") &&
                          Contains("cifar-10-batches-bin"));
  }
  SECTION("missing train batch file") {
    fs::remove(dir / "data_batch_3.bin");
    CHECK_THROWS_WITH(load_dataset(spec), Contains((dir / "data_batch_3.bin").string() + ": no such file"));
  }
  SECTION("missing test batch file") {
    fs::remove(dir / "test_batch.bin");
    CHECK_THROWS_WITH(load_dataset(spec), Contains((dir / "test_batch.bin").string() + ": no such file"));
  }
  SECTION("truncated file") {
    const fs::path f = dir / "data_batch_2.bin";
    fs::resize_file(f, 2 * kRecord - 5);
    CHECK_THROWS_WITH(load_dataset(spec), Contains(f.string()) && Contains("6141 bytes") &&
                                              Contains("not a whole number of 3073-byte records") &&
                                              Contains("truncated"));
  }
  SECTION("over-long file") {
    const fs::path f = dir / "test_batch.bin";
    std::ofstream(f, std::ios::binary | std::ios::app) << "x";
    CHECK_THROWS_WITH(load_dataset(spec), Contains(f.string()) && Contains("not a whole number"));
  }
  SECTION("label byte > 9") {
    const fs::path f = dir / "data_batch_4.bin";
    std::fstream io(f, std::ios::binary | std::ios::in | std::ios::out);
    io.seekp(kRecord);  // the label of record 1
    io.put(static_cast<char>(10));
    io.close();
    CHECK_THROWS_WITH(load_dataset(spec), Contains(f.string()) && Contains("label 10 in record 1") &&
                                              Contains("out of range (0-9)"));
    CHECK_THROWS_WITH(read_cifar_batches({f}, kOfficial, "x"), Contains("label 10 in record 1"));
  }
  SECTION("empty file") {
    const fs::path f = dir / "data_batch_5.bin";
    write_bytes(f, {});
    CHECK_THROWS_WITH(load_dataset(spec), Contains(f.string()) && Contains("empty file"));
  }
  SECTION("a batch file that is a folder") {
    fs::remove(dir / "data_batch_1.bin");
    fs::create_directories(dir / "data_batch_1.bin");
    CHECK_THROWS_WITH(load_dataset(spec), Contains((dir / "data_batch_1.bin").string() + ": no such file"));
  }
}

TEST_CASE("unknown dataset specs list cifar10:<dir>", "[data]") {
  CHECK_THROWS_WITH(load_dataset("cifar100:x"),
                    Contains("unknown dataset 'cifar100:x'") && Contains("cifar10:<dir>"));
}
