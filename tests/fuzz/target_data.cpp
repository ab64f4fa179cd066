// Fuzz targets for the dataset readers (harness/data): IDX raw and gzip, CIFAR-10 binary, image folders and
// their cache. Each writes the input into files in the scratch folder and calls the public loader.
#include <zlib.h>

#include <cstring>

#include "harness/data/sources.hpp"
#include "tests/fuzz/targets.hpp"

namespace vb::fuzz {

namespace {

namespace fs = std::filesystem;

// Input layout of the IDX targets: a 2-byte little-endian length L, L bytes of the labels file, then the
// images file (tests/fuzz/make_seeds.py writes valid pairs in this layout).
struct IdxPair {
  std::string_view labels, images;
};
IdxPair split_idx(const uint8_t* data, size_t size) {
  const char* p = reinterpret_cast<const char*>(data);
  if (size < 2) return {{}, {p, size}};
  const size_t n = std::min<size_t>(data[0] | size_t{data[1]} << 8, size - 2);
  return {{p + 2, n}, {p + 2 + n, size - 2 - n}};
}

std::string gzip(std::string_view bytes, size_t cut) {
  std::string out(compressBound(bytes.size()) + 64, '\0');
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // +16: a gzip header and trailer
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  out.resize(out.size() - std::min(cut, out.size()));  // a truncated stream
  return out;
}

std::string idx(const uint8_t* data, size_t size, bool gz) {
  const IdxPair in = split_idx(data, size);
  const fs::path images = scratch() / (gz ? "images-idx3-ubyte.gz" : "images-idx3-ubyte");
  const fs::path labels = scratch() / (gz ? "labels-idx1-ubyte.gz" : "labels-idx1-ubyte");
  // gzip: the last byte, when above 0xf0, cuts that many bytes (1-15) off the compressed images.
  const size_t cut = gz && size > 0 && data[size - 1] > 0xf0 ? data[size - 1] - 0xf0 : 0;
  write_file(images, gz ? gzip(in.images, cut) : std::string(in.images));
  write_file(labels, gz ? gzip(in.labels, 0) : std::string(in.labels));
  static const std::vector<std::string> classes = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  // Errors name the images or the labels file; both live in scratch().
  return expect_clear_error(scratch().string(), [&] {
    const data::ImageSet set = data::read_idx_split(images, labels, classes, "fuzz/train");
    if (set.pixels.size() != static_cast<size_t>(set.size() * set.image_numel()))
      violated("read_idx_split: pixels do not match the labels and the image size");
  });
}

}  // namespace

std::string idx_raw(const uint8_t* data, size_t size) {
  return idx(data, size, false);
}
std::string idx_gzip(const uint8_t* data, size_t size) {
  return idx(data, size, true);
}

// Input layout: a 2-byte little-endian length L (0xffff: no batches.meta.txt), L bytes of batches.meta.txt,
// then one batch file, which stands for all six (data_batch_1..5.bin and test_batch.bin link to it).
std::string cifar_bin(const uint8_t* data, size_t size) {
  const fs::path dir = scratch() / "cifar-10-batches-bin";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  const char* p = reinterpret_cast<const char*>(data);
  size_t at = 0;
  if (size >= 2) {
    const size_t n = data[0] | size_t{data[1]} << 8;
    at = 2;
    if (n != 0xffff) {
      const size_t m = std::min(n, size - 2);
      write_file(dir / "batches.meta.txt", {p + 2, m});
      at += m;
    }
  }
  write_file(dir / "test_batch.bin", {p + at, size - at});
  for (int b = 1; b <= 5; ++b)
    fs::create_hard_link(dir / "test_batch.bin", dir / ("data_batch_" + std::to_string(b) + ".bin"));
  return expect_clear_error(dir.string(), [&] {
    const data::Dataset d = data::load_cifar10_bin(scratch());  // finds cifar-10-batches-bin/ inside it
    if (d.train.size() != 5 * d.test.size()) violated("cifar10: train is not five copies of test");
  });
}

// The input is one image file, standing for both splits: <root>/{train,test}/c/a.png (stb_image tells the
// format from the bytes, not the name). A fresh cache folder each time, so the folder is decoded and the
// cache written.
std::string image_folder(const uint8_t* data, size_t size) {
  const fs::path root = scratch() / "folder";
  std::error_code ec;
  fs::remove_all(root, ec);
  fs::remove_all(scratch() / "cache", ec);
  for (const char* split : {"train", "test"}) {
    fs::create_directories(root / split / "c");
    write_file(root / split / "c" / "a.png", {reinterpret_cast<const char*>(data), size});
  }
  return expect_clear_error(root.string(), [&] {
    const data::Dataset d = data::load_image_folder(root, {scratch() / "cache", false});
    if (d.train.pixels.size() != static_cast<size_t>(d.train.image_numel()))
      violated("image folder: one image, but the pixels do not match its size");
  });
}

// The cache file. An input that starts with the magic number is the whole file; anything else is a payload
// that gets the magic number and a length trailer that match it (its checksum is 0 and fails, but only after
// the whole payload has been parsed), so mutations reach the parser rather than the length check.
std::string image_cache(const uint8_t* data, size_t size) {
  const fs::path file = scratch() / "fuzz.vbcache";
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (bytes.compare(0, 8, "VBIMGC01") != 0) {
    const uint64_t n = bytes.size(), sum = 0;
    bytes = "VBIMGC01" + bytes;
    bytes.append(reinterpret_cast<const char*>(&n), 8);
    bytes.append(reinterpret_cast<const char*>(&sum), 8);
  }
  write_file(file, bytes);
  data::Dataset d;
  std::string why;
  return expect_clear_error("", [&] {
    if (data::read_folder_cache(file, d, why)) {
      for (const data::ImageSet* s : {&d.train, &d.test})
        if (s->pixels.size() != static_cast<size_t>(s->size() * s->image_numel()))
          violated("cache: a split's pixels do not match its header");
    } else if (why.empty() || why.find("bad_alloc") != std::string::npos) {
      violated("read_folder_cache refused the file without a reason of its own: '" + why + "'");
    }
  });
}

}  // namespace vb::fuzz
