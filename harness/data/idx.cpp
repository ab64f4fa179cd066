// IDX files (MNIST, Fashion-MNIST): raw or gzip (zlib reads both), with the magic number, dimensions, length
// and labels checked; every error names the file. Also the per-dataset class names, normalisation and
// augmentation defaults.
#include <fmt/format.h>
#include <zlib.h>

#include <array>
#include <memory>
#include <stdexcept>

#include "harness/data/sources.hpp"

namespace vb::data {

namespace {

namespace fs = std::filesystem;

constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned byte, 3 dimensions (N, H, W)
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned byte, 1 dimension (N)
// Pixels per image, as image_folder.cpp bounds them (8192 x 8192): a header with no images can still claim
// 2^32 x 2^32-pixel images, whose size overflows int64 wherever it is used (found by fuzz_idx_raw).
constexpr int64_t kMaxPixels = int64_t{1} << 26;

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<std::remove_pointer_t<gzFile>, GzCloser>;

// Reads exactly `n` bytes (or fewer at the end of the file); a zlib error (corrupt gzip) throws.
size_t read_some(gzFile f, uint8_t* dst, size_t n, const std::string& path) {
  size_t done = 0;
  while (done < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
    const int got = gzread(f, dst + done, chunk);
    if (got < 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      throw std::runtime_error(
          fmt::format("{}: read error (corrupt gzip?): {}", path, msg ? msg : "unknown"));
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

struct Idx {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

// One IDX file: magic, big-endian uint32 dimensions, then exactly prod(dims) bytes.
Idx read_idx(const fs::path& file, uint32_t magic) {
  const std::string path = file.string();
  GzFile f(gzopen(path.c_str(), "rb"));
  if (!f) throw std::runtime_error(fmt::format("{}: cannot open", path));
  std::array<uint8_t, 4> word{};
  auto read_u32 = [&](const char* what) {
    if (read_some(f.get(), word.data(), 4, path) != 4)
      throw std::runtime_error(fmt::format("{}: truncated (in the header's {})", path, what));
    return uint32_t{word[0]} << 24 | uint32_t{word[1]} << 16 | uint32_t{word[2]} << 8 | uint32_t{word[3]};
  };
  const uint32_t got = read_u32("magic number");
  if (got != magic)
    throw std::runtime_error(fmt::format(
        "{}: bad magic number 0x{:08x} (expected 0x{:08x}: {})", path, got, magic,
        magic == kImagesMagic ? "IDX images, uint8, 3 dimensions" : "IDX labels, uint8, 1 dimension"));
  Idx idx;
  uint64_t total = 1;
  bool overflow = false;
  for (uint32_t d = 0; d < (magic & 0xff); ++d) {
    idx.dims.push_back(read_u32("dimensions"));
    overflow |= __builtin_mul_overflow(total, static_cast<uint64_t>(idx.dims.back()), &total);
  }
  // The header is checked against the file before allocating: raw data cannot be longer than the file, and
  // gzip (deflate) expands at most 1032:1; a larger claim is a corrupt or hostile header.
  std::error_code ec;
  const uint64_t file_bytes = fs::file_size(file, ec);
  const uint64_t limit = ec ? 0 : gzdirect(f.get()) ? file_bytes : file_bytes * 1032;
  if (overflow || total > limit)
    throw std::runtime_error(
        fmt::format("{}: the header claims dimensions [{}] ({}{} bytes of data), more than a "
                    "file of {} bytes can hold (truncated or corrupt?)",
                    path, fmt::join(idx.dims, ", "), overflow ? "> 2^64" : "",
                    overflow ? "" : std::to_string(total), file_bytes));
  idx.data.resize(total);
  const size_t n = read_some(f.get(), idx.data.data(), total, path);
  if (n != total)
    throw std::runtime_error(
        fmt::format("{}: truncated: {} bytes of data, the header promises {}", path, n, total));
  uint8_t extra = 0;
  if (read_some(f.get(), &extra, 1, path) != 0)
    throw std::runtime_error(fmt::format("{}: longer than its header says ({} bytes of data)", path, total));
  return idx;
}

// `<dir>/<base>` or `<dir>/<base>.gz`.
fs::path find_idx(const fs::path& dir, const std::string& base) {
  for (const auto& name : {base, base + ".gz"})
    if (fs::is_regular_file(dir / name)) return dir / name;
  throw std::runtime_error(fmt::format("{}: no such file (nor {}.gz)", (dir / base).string(), base));
}

}  // namespace

ImageSet read_idx_split(const fs::path& images, const fs::path& labels,
                        const std::vector<std::string>& classes, const std::string& name) {
  Idx im = read_idx(images, kImagesMagic);
  Idx lb = read_idx(labels, kLabelsMagic);
  if (im.dims[0] != lb.dims[0])
    throw std::runtime_error(fmt::format("{}: {} labels, but {} has {} images", labels.string(), lb.dims[0],
                                         images.string(), im.dims[0]));
  if (im.dims[1] < 1 || im.dims[2] < 1 || im.dims[1] > kMaxPixels || im.dims[2] > kMaxPixels ||
      im.dims[1] * im.dims[2] > kMaxPixels)
    throw std::runtime_error(
        fmt::format("{}: images of {}x{} pixels; expected at least 1x1 and at most {} pixels "
                    "(corrupt?)",
                    images.string(), im.dims[1], im.dims[2], kMaxPixels));
  ImageSet set;
  set.name = name;
  set.source = images.parent_path().string();
  set.channels = 1;
  set.height = im.dims[1];
  set.width = im.dims[2];
  set.pixels = std::move(im.data);
  set.classes = classes;
  set.labels.resize(lb.data.size());
  for (size_t i = 0; i < lb.data.size(); ++i) {
    if (lb.data[i] >= classes.size())
      throw std::runtime_error(fmt::format("{}: label {} at index {} is out of range ({} classes)",
                                           labels.string(), lb.data[i], i, classes.size()));
    set.labels[i] = lb.data[i];
  }
  return set;
}

Dataset load_idx(IdxKind kind, const fs::path& dir) {
  if (!fs::is_directory(dir)) throw std::runtime_error(fmt::format("{}: no such directory", dir.string()));
  Dataset d;
  std::vector<std::string> classes;
  if (kind == IdxKind::fashion_mnist) {
    d.name = "fashion-mnist";
    classes = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    d.normalize = {{0.2860f}, {0.3530f}};
    d.augment.crop_pad = 2;
    d.augment.hflip = true;  // clothes are left-right symmetric
  } else {
    d.name = "mnist";
    for (int i = 0; i < 10; ++i) classes.push_back(std::to_string(i));
    d.normalize = {{0.1307f}, {0.3081f}};
    d.augment.crop_pad = 2;
    d.augment.hflip = false;  // a mirrored digit is another symbol (or none)
  }
  d.train = read_idx_split(find_idx(dir, "train-images-idx3-ubyte"), find_idx(dir, "train-labels-idx1-ubyte"),
                           classes, d.name + "/train");
  d.test = read_idx_split(find_idx(dir, "t10k-images-idx3-ubyte"), find_idx(dir, "t10k-labels-idx1-ubyte"),
                          classes, d.name + "/test");
  if (d.train.height != d.test.height || d.train.width != d.test.width)
    throw std::runtime_error(fmt::format("{}: train images are {}x{} but test images {}x{}", dir.string(),
                                         d.train.height, d.train.width, d.test.height, d.test.width));
  return d;
}

}  // namespace vb::data
