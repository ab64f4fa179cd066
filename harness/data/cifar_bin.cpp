// CIFAR-10's official binary distribution (cifar-10-binary.tar.gz -> cifar-10-batches-bin/):
// data_batch_1..5.bin (train) and test_batch.bin, each a run of 3073-byte records: 1 label byte (0-9), then
// 3072 pixel bytes, 1024 red, 1024 green, 1024 blue, each plane 32x32 row-major. A record's pixels are
// therefore one CHW uint8 image as ImageSet holds it and are copied as they are. Class names from
// batches.meta.txt (else the official list). The dataset facts match CIFAR-10 read as an image folder:
// 3x32x32, the same classes in the same order, normalisation computed on the train split, crop_pad 4 and
// hflip on. Every error names the file.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <stdexcept>

#include "harness/data/sources.hpp"

namespace vb::data {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kSide = 32;
constexpr int64_t kChannels = 3;
constexpr int64_t kPixels = kChannels * kSide * kSide;  // 3072: (3, 32, 32)
constexpr int64_t kRecord = 1 + kPixels;                // 3073: label byte + pixels
constexpr int64_t kClasses = 10;
// The official files hold 10000 records each; allow larger ones (a re-packed set) but bound what a wrong file
// can make us allocate: at most 2^20 records (3.2 GB) per file.
constexpr int64_t kMaxRecords = int64_t{1} << 20;
constexpr const char* kFolder = "cifar-10-batches-bin";
constexpr const char* kLayout =
    "cifar10:<dir> needs data_batch_1.bin .. data_batch_5.bin and test_batch.bin in <dir> or in "
    "<dir>/cifar-10-batches-bin (the official binary version, cifar-10-binary.tar.gz)";

const std::vector<std::string>& official_classes() {
  static const std::vector<std::string> names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                 "dog",      "frog",       "horse", "ship", "truck"};
  return names;
}

// `dir` itself when it holds the batches, else `dir`/cifar-10-batches-bin when that is a folder.
fs::path batches_dir(const fs::path& dir) {
  if (!fs::is_directory(dir))
    throw std::runtime_error(fmt::format("{}: no such folder ({})", dir.string(), kLayout));
  if (!fs::exists(dir / "data_batch_1.bin") && fs::is_directory(dir / kFolder)) return dir / kFolder;
  return dir;
}

fs::path batch_file(const fs::path& dir, const std::string& name) {
  const fs::path file = dir / name;
  if (!fs::is_regular_file(file))
    throw std::runtime_error(fmt::format("{}: no such file ({})", file.string(), kLayout));
  return file;
}

// batches.meta.txt: one class name per line (blank lines and surrounding spaces ignored); exactly 10 names.
std::vector<std::string> read_class_names(const fs::path& file) {
  std::error_code ec;
  const uintmax_t bytes = fs::file_size(file, ec);
  if (ec) throw std::runtime_error(fmt::format("{}: cannot read its size ({})", file.string(), ec.message()));
  if (bytes > 4096)  // ten short names; anything larger is another file
    throw std::runtime_error(fmt::format("{}: {} bytes, too large for 10 class names", file.string(), bytes));
  std::ifstream in(file);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open", file.string()));
  std::vector<std::string> names;
  std::string line;
  auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  while (std::getline(in, line)) {
    line.erase(line.begin(), std::find_if_not(line.begin(), line.end(), space));
    line.erase(std::find_if_not(line.rbegin(), line.rend(), space).base(), line.end());
    if (!line.empty()) names.push_back(line);
  }
  if (names.size() != static_cast<size_t>(kClasses))
    throw std::runtime_error(fmt::format("{}: {} class names, CIFAR-10 has {} (one name per line)",
                                         file.string(), names.size(), kClasses));
  return names;
}

}  // namespace

ImageSet read_cifar_batches(const std::vector<fs::path>& files, const std::vector<std::string>& classes,
                            const std::string& name) {
  if (files.empty()) throw std::invalid_argument("read_cifar_batches: no files");
  if (classes.size() != static_cast<size_t>(kClasses))
    throw std::invalid_argument(
        fmt::format("read_cifar_batches: {} class names, expected {}", classes.size(), kClasses));
  // Every file is sized and checked before anything is allocated.
  std::vector<int64_t> records;
  for (const fs::path& file : files) {
    std::error_code ec;
    const uintmax_t bytes = fs::file_size(file, ec);
    if (ec)
      throw std::runtime_error(fmt::format("{}: cannot read its size ({})", file.string(), ec.message()));
    if (bytes == 0)
      throw std::runtime_error(
          fmt::format("{}: empty file (expected records of {} bytes)", file.string(), kRecord));
    if (bytes % kRecord != 0)
      throw std::runtime_error(fmt::format(
          "{}: {} bytes is not a whole number of {}-byte records ({} records and {} bytes over: truncated?)",
          file.string(), bytes, kRecord, bytes / kRecord, bytes % kRecord));
    if (bytes / kRecord > static_cast<uintmax_t>(kMaxRecords))
      throw std::runtime_error(fmt::format("{}: {} records, more than the {} a CIFAR batch file may hold",
                                           file.string(), bytes / kRecord, kMaxRecords));
    records.push_back(static_cast<int64_t>(bytes / kRecord));
  }
  int64_t n = 0;
  for (int64_t r : records) n += r;

  ImageSet set;
  set.name = name;
  set.source = files.front().parent_path().string();
  set.channels = kChannels;
  set.height = kSide;
  set.width = kSide;
  set.classes = classes;
  set.pixels.resize(static_cast<size_t>(n * kPixels));  // (N, 3, 32, 32)
  set.labels.resize(static_cast<size_t>(n));            // (N)
  int64_t at = 0;                                       // images read so far over all files
  std::vector<uint8_t> buf;
  for (size_t f = 0; f < files.size(); ++f) {
    const std::string path = files[f].string();
    std::ifstream in(files[f], std::ios::binary);
    if (!in) throw std::runtime_error(fmt::format("{}: cannot open", path));
    buf.resize(static_cast<size_t>(records[f] * kRecord));  // one file: (records, 3073)
    in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() != static_cast<std::streamsize>(buf.size()))
      throw std::runtime_error(
          fmt::format("{}: read {} of its {} bytes (changed while reading?)", path, in.gcount(), buf.size()));
    if (in.peek() != std::ifstream::traits_type::eof())
      throw std::runtime_error(fmt::format("{}: longer than its size said (changed while reading?)", path));
    for (int64_t r = 0; r < records[f]; ++r, ++at) {
      const uint8_t* rec = buf.data() + r * kRecord;
      if (rec[0] >= kClasses)
        throw std::runtime_error(
            fmt::format("{}: label {} in record {} (byte offset {}) is out of range (0-{})", path, rec[0], r,
                        r * kRecord, kClasses - 1));
      set.labels[at] = rec[0];
      std::copy(rec + 1, rec + kRecord, set.pixels.data() + at * kPixels);  // already CHW
    }
  }
  return set;
}

Dataset load_cifar10_bin(const fs::path& dir_in) {
  const fs::path dir = batches_dir(dir_in);
  std::vector<fs::path> train_files;
  for (int b = 1; b <= 5; ++b) train_files.push_back(batch_file(dir, fmt::format("data_batch_{}.bin", b)));
  const std::vector<fs::path> test_files = {batch_file(dir, "test_batch.bin")};
  const fs::path meta = dir / "batches.meta.txt";
  const std::vector<std::string> classes = fs::exists(meta) ? read_class_names(meta) : official_classes();

  Dataset d;
  d.name = "cifar10";  // as the image folder ../shared/datasets/cifar10 is named
  d.train = read_cifar_batches(train_files, classes, d.name + "/train");
  d.test = read_cifar_batches(test_files, classes, d.name + "/test");
  d.normalize = channel_stats(d.train);  // as for image folders
  d.augment.crop_pad = kSide / 8;        // 4, as image folders: size / 8
  d.augment.hflip = true;
  return d;
}

}  // namespace vb::data
