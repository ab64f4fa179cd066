// The loaders behind load_dataset (dataset.cpp parses the spec and calls one of these). Internal to
// harness/data; tests include it to reach the pieces directly (e.g. the decode counter of the folder cache).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "harness/data/dataset.hpp"

namespace vb::data {

// Per-channel mean and std of a split's pixels in [0, 1] (the normalisation of folders and synthetic data).
Normalize channel_stats(const ImageSet& set);

enum class IdxKind { fashion_mnist, mnist };
// The four IDX files (train/t10k images/labels, `*-ubyte` or `*-ubyte.gz`) in `dir`.
Dataset load_idx(IdxKind kind, const std::filesystem::path& dir);
// One IDX pair, exposed for tests: images (N, 1, H, W) and labels, labels checked against `classes`.
ImageSet read_idx_split(const std::filesystem::path& images, const std::filesystem::path& labels,
                        const std::vector<std::string>& classes, const std::string& name);

// CIFAR-10's binary version: data_batch_1..5.bin and test_batch.bin (3073-byte records: label, then 3x32x32
// pixels) in `dir`, or in `dir`/cifar-10-batches-bin; class names from batches.meta.txt when present.
Dataset load_cifar10_bin(const std::filesystem::path& dir);
// Batch files concatenated in order, exposed for tests: images (N, 3, 32, 32) and labels, each checked < 10.
ImageSet read_cifar_batches(const std::vector<std::filesystem::path>& files,
                            const std::vector<std::string>& classes, const std::string& name);

// <root>/{train,test}/<class>/*.{jpg,jpeg,png}, decoded once and cached in opt.cache_dir (or the default).
Dataset load_image_folder(const std::filesystem::path& root, const DatasetOptions& opt);
// The cache folder opt.cache_dir, else $XDG_CACHE_HOME/vitbench, else $HOME/.cache/vitbench.
std::filesystem::path cache_dir(const DatasetOptions& opt);
// A cache file as load_image_folder reads it: false, with the reason in `why`, when it is missing, truncated,
// malformed or fails its checksum (load_image_folder then decodes the folder again). Exposed for the fuzz
// target.
bool read_folder_cache(const std::filesystem::path& file, Dataset& d, std::string& why);
// How many image splits this process decoded from image files (not from the cache): lets tests see a cache
// hit.
int64_t folder_decode_count();

struct SyntheticOptions {
  int64_t train = 512, test = 256, classes = 4, size = 16, channels = 3;
  uint64_t seed = 0;
};
// "train=100,classes=3" -> options; unknown keys and bad values throw naming the key.
SyntheticOptions parse_synthetic(const std::string& keys);
Dataset make_synthetic(const SyntheticOptions& opt);

}  // namespace vb::data
