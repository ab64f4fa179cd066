// Image folders laid out as torchvision's ImageFolder, decoded once (stb_image, in parallel) and cached as
// one binary file per folder state: <cache_dir>/<folder>-<key>.vbcache, key = hash of every image's relative
// path, size and mtime, so a changed folder is decoded again; written atomically and checksummed, so a
// truncated or corrupt cache is rebuilt rather than trusted.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <omp.h>
#include <stb/stb_image.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <stdexcept>

#include "harness/data/sources.hpp"
#include "models/core/rng.hpp"

namespace vb::data {

namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'V', 'B', 'I', 'M', 'G', 'C', '0', '1'};  // bump with any format change
std::atomic<int64_t> g_decodes{0};
constexpr int64_t kMaxPixels = int64_t{1} << 26;  // per image (8192 x 8192): far above any dataset used here

struct Entry {
  fs::path path;
  std::string relative;  // to the root: "train/cat/0001.jpg"
  int32_t label;
  int64_t size, mtime_ns;
};

bool is_image(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

std::vector<std::string> subfolders(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// The images of one split: classes in the given order, files sorted by name within a class. One stat() per
// file (size and mtime for the cache key): listing CIFAR-10's 60000 files is most of a cached load.
std::vector<Entry> list_split(const fs::path& root, const std::string& split,
                              const std::vector<std::string>& classes) {
  std::vector<Entry> entries;
  for (size_t c = 0; c < classes.size(); ++c) {
    const fs::path dir = root / split / classes[c];
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir))
      if (is_image(e.path())) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    const size_t first = entries.size();
    for (const auto& name : names) {
      Entry e{dir / name, split + "/" + classes[c] + "/" + name, static_cast<int32_t>(c), 0, 0};
      struct stat st {};
      if (::stat(e.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      e.size = st.st_size;
      e.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
      entries.push_back(std::move(e));
    }
    if (entries.size() == first)
      throw std::runtime_error(
          fmt::format("{}: empty class folder (no .jpg, .jpeg or .png files)", dir.string()));
  }
  return entries;
}

// A 64-bit hash of bytes, 8 at a time (for the cache key and the cache checksum, not for security).
uint64_t hash_bytes(const uint8_t* p, size_t n, uint64_t h = 0x243F6A8885A308D3ull) {
  auto mix = [&](uint64_t w) { h = rng::splitmix64(h ^ w); };
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    mix(w);
  }
  uint64_t tail = n;  // the length disambiguates the tail
  for (; i < n; ++i) tail = tail << 8 | p[i];
  mix(tail);
  return h;
}

// Hash of (relative path, size, mtime) of every image: changes whenever an image is added, removed or
// rewritten.
std::string folder_key(const std::vector<Entry>& train, const std::vector<Entry>& test) {
  std::string buf(kMagic, sizeof kMagic);
  for (const auto* split : {&train, &test})
    for (const Entry& e : *split) buf += fmt::format("{}\n{} {}\n", e.relative, e.size, e.mtime_ns);
  return fmt::format("{:016x}", hash_bytes(reinterpret_cast<const uint8_t*>(buf.data()), buf.size()));
}

// Decodes the split's images in parallel into (N, C, H, W); C = 1 when every image is grey, else 3.
ImageSet decode_split(const std::vector<Entry>& entries, const std::vector<std::string>& classes,
                      const std::string& name, const std::string& source, bool progress) {
  const int64_t n = static_cast<int64_t>(entries.size());
  struct Decoded {
    std::vector<uint8_t> hwc;
    int h = 0, w = 0, comp = 0;
    std::string error;
  };
  std::vector<Decoded> img(n);
  std::atomic<int64_t> done{0};
  const bool tty = progress && isatty(STDERR_FILENO);
  const auto t0 = std::chrono::steady_clock::now();
  if (progress) fmt::print(stderr, "decoding {} ({} images from {}){}", name, n, source, tty ? "" : "\n");
#pragma omp parallel for schedule(dynamic, 64)
  for (int64_t i = 0; i < n; ++i) {
    Decoded& d = img[i];
    std::ifstream in(entries[i].path, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      d.error = "cannot read";
    } else {
      // The header first: a few bytes of PNG or JPEG can claim a 100000x100000 image (a decompression bomb).
      const int size = static_cast<int>(bytes.size());
      uint8_t* px = nullptr;
      if (!stbi_info_from_memory(bytes.data(), size, &d.w, &d.h, &d.comp))
        d.error =
            fmt::format("cannot decode ({})", stbi_failure_reason() ? stbi_failure_reason() : "unknown");
      else if (int64_t{d.w} * d.h > kMaxPixels)
        d.error = fmt::format("{}x{} pixels, more than the {} an image may have here (corrupt?)", d.w, d.h,
                              kMaxPixels);
      else if (!(px = stbi_load_from_memory(bytes.data(), size, &d.w, &d.h, &d.comp, 0)))
        d.error =
            fmt::format("cannot decode ({})", stbi_failure_reason() ? stbi_failure_reason() : "unknown");
      if (px) {
        d.hwc.assign(px, px + static_cast<size_t>(d.w) * d.h * d.comp);
        stbi_image_free(px);
      }
    }
    const int64_t k = ++done;
    if (tty && k % 1000 == 0) {
#pragma omp critical(vb_progress)
      fmt::print(stderr, "\rdecoding {}: {}/{}", name, k, n);
    }
  }
  for (int64_t i = 0; i < n; ++i)
    if (!img[i].error.empty())
      throw std::runtime_error(fmt::format("{}: {}", entries[i].path.string(), img[i].error));

  ImageSet set;
  set.name = name;
  set.source = source;
  set.classes = classes;
  set.height = img[0].h;
  set.width = img[0].w;
  bool grey = true;
  for (int64_t i = 0; i < n; ++i) {
    if (img[i].h != set.height || img[i].w != set.width)
      throw std::runtime_error(fmt::format(
          "{}: {}x{} pixels, but {} is {}x{} (all images must have one size)", entries[i].path.string(),
          img[i].w, img[i].h, entries[0].path.string(), set.width, set.height));
    grey = grey && img[i].comp <= 2;  // grey or grey + alpha
  }
  set.channels = grey ? 1 : 3;
  const int64_t plane = set.height * set.width;
  set.pixels.resize(n * set.channels * plane);
  set.labels.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    set.labels[i] = entries[i].label;
    const Decoded& d = img[i];
    uint8_t* dst = set.pixels.data() + i * set.channels * plane;
    for (int64_t c = 0; c < set.channels; ++c)
      for (int64_t p = 0; p < plane; ++p)
        // Grey sources give all three channels their one value; alpha is dropped (as PIL's convert("RGB")).
        dst[c * plane + p] = d.hwc[p * d.comp + (d.comp >= 3 ? c : 0)];
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (progress)
    fmt::print(stderr, "{}decoded {}: {} images of {}x{}x{} in {:.1f} s\n", tty ? "\r" : "", name, n,
               set.channels, set.height, set.width, secs);
  ++g_decodes;
  return set;
}

// --- The cache file: magic, payload, then the payload's size and checksum. Native byte order (x86-64).
// Both sides stream the payload in the same chunks and chain the checksum over them, so neither holds a
// second copy of the pixels.

class Writer {
 public:
  explicit Writer(const fs::path& file) : out_(file, std::ios::binary) { out_.write(kMagic, sizeof kMagic); }
  template <class T>
  void pod(const T& v) {
    raw(&v, sizeof v);
  }
  void raw(const void* p, size_t n) {
    out_.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
    sum_ = hash_bytes(static_cast<const uint8_t*>(p), n, sum_);
    size_ += n;
  }
  void str(const std::string& s) {
    pod<uint64_t>(s.size());
    raw(s.data(), s.size());
  }
  bool finish() {
    out_.write(reinterpret_cast<const char*>(&size_), sizeof size_);
    out_.write(reinterpret_cast<const char*>(&sum_), sizeof sum_);
    out_.close();
    return static_cast<bool>(out_);
  }

 private:
  std::ofstream out_;
  uint64_t sum_ = 0, size_ = 0;
};

class Reader {
 public:
  // Checks the magic number and that the file is as long as its trailer says; throws if not.
  explicit Reader(const fs::path& file) : in_(file, std::ios::binary | std::ios::ate) {
    if (!in_) throw std::runtime_error("cannot open");
    const auto total = static_cast<uint64_t>(in_.tellg());
    char magic[sizeof kMagic];
    uint64_t size = 0;
    if (total < 24) throw std::runtime_error("too short (truncated?)");
    in_.seekg(static_cast<std::streamoff>(total - 16));
    in_.read(reinterpret_cast<char*>(&size), 8);
    in_.read(reinterpret_cast<char*>(&expected_), 8);
    in_.seekg(0);
    in_.read(magic, sizeof magic);
    if (!in_ || std::memcmp(magic, kMagic, sizeof magic) != 0)
      throw std::runtime_error("not a vitbench cache file");
    if (size != total - 24) throw std::runtime_error("length does not match its trailer (truncated?)");
    left_ = size;
  }
  template <class T>
  T pod() {
    T v;
    raw(&v, sizeof v);
    return v;
  }
  void raw(void* dst, size_t n) {
    if (n > left_) throw std::runtime_error("payload ends early");
    in_.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (!in_) throw std::runtime_error("read error");
    sum_ = hash_bytes(static_cast<const uint8_t*>(dst), n, sum_);
    left_ -= n;
  }
  std::string str() {
    const auto n = pod<uint64_t>();
    if (n > left_) throw std::runtime_error("bad string length");
    std::string s(n, '\0');
    raw(s.data(), n);
    return s;
  }
  uint64_t left() const { return left_; }
  void finish() const {
    if (left_ != 0) throw std::runtime_error("trailing bytes in the payload");
    if (sum_ != expected_) throw std::runtime_error("checksum mismatch");
  }

 private:
  std::ifstream in_;
  uint64_t left_ = 0, sum_ = 0, expected_ = 0;
};

void put_split(Writer& w, const ImageSet& s) {
  w.str(s.name);
  for (int64_t v : {s.size(), s.channels, s.height, s.width}) w.pod(v);
  w.raw(s.labels.data(), s.labels.size() * sizeof(int32_t));
  w.raw(s.pixels.data(), s.pixels.size());
}

ImageSet get_split(Reader& r, const std::vector<std::string>& classes) {
  ImageSet s;
  s.name = r.str();
  const auto n = r.pod<int64_t>();
  s.channels = r.pod<int64_t>();
  s.height = r.pod<int64_t>();
  s.width = r.pod<int64_t>();
  // Sizes checked against the bytes left before anything is allocated from them.
  // (n <= left / per_image rather than n * per_image <= left: the product of a hostile n can overflow.)
  if (n < 0 || s.channels < 1 || s.height < 1 || s.width < 1 || s.height > (1 << 16) || s.width > (1 << 16) ||
      s.channels > 4 ||
      static_cast<uint64_t>(n) > r.left() / static_cast<uint64_t>(4 + s.channels * s.height * s.width))
    throw std::runtime_error("bad split header");
  s.labels.resize(n);
  r.raw(s.labels.data(), n * sizeof(int32_t));
  s.pixels.resize(n * s.image_numel());
  r.raw(s.pixels.data(), s.pixels.size());
  for (int32_t l : s.labels)
    if (l < 0 || l >= static_cast<int32_t>(classes.size())) throw std::runtime_error("label out of range");
  s.classes = classes;
  return s;
}

void write_cache(const fs::path& file, const Dataset& d) {
  // Written beside the final name and renamed: a reader never sees a half-written cache.
  const fs::path tmp = file.string() + fmt::format(".tmp{}", ::getpid());
  Writer w(tmp);
  w.pod<uint64_t>(d.train.classes.size());
  for (const auto& c : d.train.classes) w.str(c);
  for (const auto* v : {&d.normalize.mean, &d.normalize.std}) {
    w.pod<uint64_t>(v->size());
    w.raw(v->data(), v->size() * sizeof(float));
  }
  put_split(w, d.train);
  put_split(w, d.test);
  if (!w.finish()) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw std::runtime_error(fmt::format("{}: cannot write (disk full?)", tmp.string()));
  }
  fs::rename(tmp, file);
}

}  // namespace

// The cached dataset, or false (with the reason) when the file is missing, truncated or fails its checksum.
bool read_folder_cache(const fs::path& file, Dataset& d, std::string& why) {
  if (!fs::exists(file)) return false;
  try {
    Reader r(file);
    const auto n_classes = r.pod<uint64_t>();  // checked before it sizes anything
    if (n_classes > r.left() / sizeof(uint64_t)) throw std::runtime_error("bad class count");
    std::vector<std::string> classes(n_classes);
    for (auto& c : classes) c = r.str();
    for (auto* v : {&d.normalize.mean, &d.normalize.std}) {
      const auto n = r.pod<uint64_t>();
      if (n > 4) throw std::runtime_error("bad normalisation");
      v->resize(n);
      r.raw(v->data(), n * sizeof(float));
    }
    d.train = get_split(r, classes);
    d.test = get_split(r, classes);
    r.finish();
  } catch (const std::exception& e) {
    why = e.what();
    return false;
  }
  return true;
}

int64_t folder_decode_count() {
  return g_decodes.load();
}

fs::path cache_dir(const DatasetOptions& opt) {
  if (!opt.cache_dir.empty()) return opt.cache_dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return fs::path(xdg) / "vitbench";
  if (const char* home = std::getenv("HOME"); home && *home) return fs::path(home) / ".cache" / "vitbench";
  throw std::runtime_error(
      "no cache folder: set XDG_CACHE_HOME or HOME (decoded image folders are cached there)");
}

Dataset load_image_folder(const fs::path& root_in, const DatasetOptions& opt) {
  const fs::path root = root_in.lexically_normal();
  if (!fs::is_directory(root)) throw std::runtime_error(fmt::format("{}: no such folder", root_in.string()));
  const std::string folder = (root.has_filename() ? root : root.parent_path()).filename().string();
  for (const char* split : {"train", "test"})
    if (!fs::is_directory(root / split))
      throw std::runtime_error(
          fmt::format("{}: no such folder (an image folder has train/ and test/ with one "
                      "subfolder per class)",
                      (root / split).string()));
  const std::vector<std::string> classes = subfolders(root / "train");
  if (classes.empty())
    throw std::runtime_error(fmt::format("{}: no class folders", (root / "train").string()));
  if (subfolders(root / "test") != classes) {
    const auto test = subfolders(root / "test");
    std::vector<std::string> missing, extra;
    std::set_difference(classes.begin(), classes.end(), test.begin(), test.end(),
                        std::back_inserter(missing));
    std::set_difference(test.begin(), test.end(), classes.begin(), classes.end(), std::back_inserter(extra));
    throw std::runtime_error(fmt::format("{}: class folders differ from train's (missing: {}; extra: {})",
                                         (root / "test").string(), fmt::join(missing, " "),
                                         fmt::join(extra, " ")));
  }
  const auto train = list_split(root, "train", classes);
  const auto test = list_split(root, "test", classes);

  Dataset d;
  d.name = folder;
  const fs::path dir = cache_dir(opt);
  const fs::path file = dir / fmt::format("{}-{}.vbcache", folder, folder_key(train, test));
  std::string why;
  if (read_folder_cache(file, d, why)) {
    d.train.source = d.test.source = root.string();
  } else {
    if (fs::exists(file)) fmt::print(stderr, "{}: unusable cache ({}): decoding again\n", file.string(), why);
    d.train = decode_split(train, classes, folder + "/train", root.string(), opt.progress);
    d.test = decode_split(test, classes, folder + "/test", root.string(), opt.progress);
    if (d.test.height != d.train.height || d.test.width != d.train.width)
      throw std::runtime_error(fmt::format("{}: {}x{} pixels, but the train images are {}x{}",
                                           test[0].path.string(), d.test.width, d.test.height, d.train.width,
                                           d.train.height));
    if (d.test.channels != d.train.channels) {  // one split all grey, the other in colour: both to RGB
      ImageSet& g = d.train.channels == 1 ? d.train : d.test;
      const int64_t plane = g.height * g.width;
      std::vector<uint8_t> rgb(g.pixels.size() * 3);
      for (int64_t i = 0; i < g.size(); ++i)
        for (int64_t c = 0; c < 3; ++c)
          std::memcpy(rgb.data() + (i * 3 + c) * plane, g.pixels.data() + i * plane, plane);
      g.pixels = std::move(rgb);
      g.channels = 3;
    }
    d.normalize = channel_stats(d.train);
    try {
      fs::create_directories(dir);
      write_cache(file, d);
    } catch (const std::exception& e) {  // the data is fine; only the next load will be slower
      fmt::print(stderr, "warning: {}: cannot write the cache: {}\n", file.string(), e.what());
    }
  }
  d.augment.crop_pad = std::max<int64_t>(1, std::min(d.train.height, d.train.width) / 8);
  d.augment.hflip = true;
  return d;
}

}  // namespace vb::data
