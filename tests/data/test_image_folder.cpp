// Image folders: layout and decoding (PNG/JPEG, colour/grey, sorted classes and files), the cache (reused,
// invalidated by a changed file, rebuilt when corrupt), and errors naming the bad file or folder.
#include <stb/stb_image_write.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "harness/data/dataset.hpp"
#include "harness/data/sources.hpp"
#include "tests/support/temp_dir.hpp"

using namespace vb::data;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

// A w x h image (HWC, `comp` channels) whose pixels encode `id`, so tests can tell which file is which.
std::vector<uint8_t> pattern(int w, int h, int comp, int id) {
  std::vector<uint8_t> p(static_cast<size_t>(w) * h * comp);
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(id * 40 + i * 3);
  return p;
}

void png(const fs::path& file, int id, int comp = 3, int w = 8, int h = 8) {
  fs::create_directories(file.parent_path());
  const auto p = pattern(w, h, comp, id);
  REQUIRE(stbi_write_png(file.string().c_str(), w, h, comp, p.data(), w * comp));
}

void jpg(const fs::path& file, int id, int w = 8, int h = 8) {
  fs::create_directories(file.parent_path());
  const auto p = pattern(w, h, 3, id);
  REQUIRE(stbi_write_jpg(file.string().c_str(), w, h, 3, p.data(), 95));
}

// root/{train,test}/{cat,dog}: 3 + 2 train images, 1 + 1 test, PNG and JPEG with mixed-case extensions.
fs::path make_folder(const fs::path& root) {
  png(root / "train/dog/b.png", 1);
  png(root / "train/dog/a.PNG", 2);
  png(root / "train/dog/c.png", 3);
  jpg(root / "train/cat/x.JPG", 4);
  png(root / "train/cat/y.png", 5);
  std::ofstream(root / "train/cat/notes.txt") << "not an image";
  png(root / "test/cat/t.png", 6);
  jpg(root / "test/dog/u.jpeg", 7);
  return root;
}

DatasetOptions options(const fs::path& cache) {
  DatasetOptions o;
  o.cache_dir = cache;
  o.progress = false;
  return o;
}

int count_files(const fs::path& dir) {
  int n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

}  // namespace

TEST_CASE("image folder: classes, order, pixels, defaults", "[data]") {
  const fs::path tmp = vb::test::temp_dir("folder_basic");
  const fs::path root = make_folder(tmp / "pets");
  const int files_before = count_files(root);
  const Dataset d = load_dataset("folder:" + root.string(), options(tmp / "cache"));
  CHECK(d.name == "pets");
  CHECK(d.train.classes == std::vector<std::string>{"cat", "dog"});
  CHECK(d.train.name == "pets/train");
  CHECK(d.train.size() == 5);
  CHECK(d.test.size() == 2);
  CHECK(d.train.labels == std::vector<int32_t>{0, 0, 1, 1, 1});
  CHECK(d.test.labels == std::vector<int32_t>{0, 1});
  CHECK(d.train.channels == 3);
  CHECK(d.train.height == 8);
  CHECK(d.train.width == 8);
  // Files sorted by name within a class: dog's a.PNG (id 2), b.png (1), c.png (3). PNG is lossless: HWC ->
  // CHW.
  const auto p2 = pattern(8, 8, 3, 2);
  const uint8_t* img = d.train.image(2);
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 64; ++i) REQUIRE(img[c * 64 + i] == p2[i * 3 + c]);
  CHECK(d.train.image(3)[0] == pattern(8, 8, 3, 1)[0]);
  // Normalisation from the train split; augmentation defaults for folders.
  REQUIRE(d.normalize.mean.size() == 3);
  CHECK(d.normalize.mean == channel_stats(d.train).mean);
  CHECK(d.normalize.std[0] > 0);
  CHECK(d.augment.crop_pad == 1);
  CHECK(d.augment.hflip);
  // Nothing written beside the data.
  CHECK(count_files(root) == files_before);
}

TEST_CASE("image folder: all-grey images give one channel", "[data]") {
  const fs::path tmp = vb::test::temp_dir("folder_grey");
  png(tmp / "g/train/a/1.png", 1, 1);
  png(tmp / "g/train/b/1.png", 2, 2);  // grey + alpha: the alpha is dropped
  png(tmp / "g/test/a/1.png", 3, 1);
  png(tmp / "g/test/b/1.png", 4, 1);
  const Dataset d = load_dataset("folder:" + (tmp / "g").string(), options(tmp / "cache"));
  CHECK(d.train.channels == 1);
  CHECK(d.test.channels == 1);
  const auto ga = pattern(8, 8, 2, 2);
  CHECK(d.train.image(1)[5] == ga[10]);
  CHECK(d.normalize.mean.size() == 1);
}

TEST_CASE("image folder cache: reused, invalidated by a changed file, rebuilt when corrupt", "[data]") {
  const fs::path tmp = vb::test::temp_dir("folder_cache");
  const fs::path root = make_folder(tmp / "pets"), cache = tmp / "cache";
  const int64_t before = folder_decode_count();
  const Dataset first = load_dataset("folder:" + root.string(), options(cache));
  CHECK(folder_decode_count() == before + 2);  // train and test decoded
  std::vector<fs::path> caches;
  for (const auto& e : fs::directory_iterator(cache)) caches.push_back(e.path());
  REQUIRE(caches.size() == 1);
  CHECK(caches[0].filename().string().rfind("pets-", 0) == 0);
  CHECK(caches[0].extension() == ".vbcache");

  // Second load: from the cache, same bytes, no decoding.
  const Dataset second = load_dataset("folder:" + root.string(), options(cache));
  CHECK(folder_decode_count() == before + 2);
  CHECK(second.train.pixels == first.train.pixels);
  CHECK(second.test.pixels == first.test.pixels);
  CHECK(second.train.labels == first.train.labels);
  CHECK(second.train.classes == first.train.classes);
  CHECK(second.normalize.mean == first.normalize.mean);
  CHECK(second.normalize.std == first.normalize.std);

  // A truncated cache is detected and rebuilt.
  fs::resize_file(caches[0], fs::file_size(caches[0]) - 10);
  const Dataset rebuilt = load_dataset("folder:" + root.string(), options(cache));
  CHECK(folder_decode_count() == before + 4);
  CHECK(rebuilt.train.pixels == first.train.pixels);
  // A flipped byte in the pixels fails the checksum and is rebuilt.
  {
    std::fstream f(caches[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(caches[0]) - 40));
    f.put('\x5a');
  }
  const Dataset rebuilt2 = load_dataset("folder:" + root.string(), options(cache));
  CHECK(folder_decode_count() == before + 6);
  CHECK(rebuilt2.test.pixels == first.test.pixels);
  CHECK(load_dataset("folder:" + root.string(), options(cache)).train.pixels == first.train.pixels);
  CHECK(folder_decode_count() == before + 6);
  // A class count of 2^40 (right after the 8-byte magic) is refused before it sizes anything, and rebuilt
  // (an allocation attempt would abort under AddressSanitizer).
  {
    std::fstream f(caches[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8);
    const uint64_t huge = uint64_t{1} << 40;
    f.write(reinterpret_cast<const char*>(&huge), sizeof huge);
  }
  CHECK(load_dataset("folder:" + root.string(), options(cache)).train.pixels == first.train.pixels);
  CHECK(folder_decode_count() == before + 8);

  // A changed image gives another key: decoded again, the new pixels seen.
  const auto mtime = fs::last_write_time(root / "train/dog/a.PNG");
  png(root / "train/dog/a.PNG", 9);
  fs::last_write_time(root / "train/dog/a.PNG",
                      mtime + std::chrono::seconds(1));  // whatever the clock's tick
  const Dataset changed = load_dataset("folder:" + root.string(), options(cache));
  CHECK(folder_decode_count() == before + 10);
  CHECK(changed.train.image(2)[0] == pattern(8, 8, 3, 9)[0]);
  CHECK(changed.train.pixels != first.train.pixels);
  // A new image changes the key too.
  png(root / "test/cat/t2.png", 8);
  CHECK(load_dataset("folder:" + root.string(), options(cache)).test.size() == 3);
  CHECK(folder_decode_count() == before + 12);
}

TEST_CASE("image folder errors name the file or folder", "[data]") {
  const fs::path tmp = vb::test::temp_dir("folder_errors");
  const fs::path root = make_folder(tmp / "pets");
  const auto opt = options(tmp / "cache");
  SECTION("corrupt JPEG") {
    std::ofstream(root / "train/cat/z.jpg", std::ios::binary) << "\xff\xd8\xff\xe0 this is not a JPEG";
    CHECK_THROWS_WITH(load_dataset("folder:" + root.string(), opt),
                      Contains((root / "train/cat/z.jpg").string()) && Contains("cannot decode"));
  }
  SECTION("empty class folder") {
    fs::create_directories(root / "train/emu");
    fs::create_directories(root / "test/emu");
    CHECK_THROWS_WITH(load_dataset("folder:" + root.string(), opt),
                      Contains((root / "train/emu").string()) && Contains("empty class folder"));
  }
  SECTION("images of different sizes") {
    png(root / "train/dog/d.png", 1, 3, 8, 9);
    CHECK_THROWS_WITH(load_dataset("folder:" + root.string(), opt),
                      Contains((root / "train/dog/d.png").string()) && Contains("one size"));
  }
  SECTION("test classes differ") {
    png(root / "test/emu/1.png", 1);
    CHECK_THROWS_WITH(load_dataset("folder:" + root.string(), opt),
                      Contains((root / "test").string()) && Contains("extra: emu"));
  }
  SECTION("missing split or folder") {
    fs::remove_all(root / "test");
    CHECK_THROWS_WITH(load_dataset("folder:" + root.string(), opt), Contains((root / "test").string()));
    CHECK_THROWS_WITH(load_dataset("folder:" + (tmp / "nope").string(), opt),
                      Contains("nope: no such folder"));
  }
}

TEST_CASE("CIFAR-10 folder: decode, then from the cache", "[data][slow]") {
  const fs::path root = "/work/shared/datasets/cifar10";
  if (!fs::exists(root / "train")) {
    WARN("no CIFAR-10 folder at " << root << ": skipped");
    return;
  }
  const fs::path tmp = vb::test::temp_dir("folder_cifar");
  DatasetOptions o = options(tmp);
  o.progress = true;
  auto t0 = std::chrono::steady_clock::now();
  const Dataset a = load_dataset("folder:" + root.string(), o);
  auto t1 = std::chrono::steady_clock::now();
  const Dataset b = load_dataset("folder:" + root.string(), o);
  auto t2 = std::chrono::steady_clock::now();
  WARN("CIFAR-10 load: decode " << std::chrono::duration<double>(t1 - t0).count() << " s, cached "
                                << std::chrono::duration<double>(t2 - t1).count() << " s");
  CHECK(a.train.size() == 50000);
  CHECK(a.test.size() == 10000);
  CHECK(a.train.channels == 3);
  CHECK(a.train.height == 32);
  CHECK(a.train.classes.front() == "airplane");
  CHECK(b.train.pixels == a.train.pixels);
  fs::remove_all(tmp);
}
