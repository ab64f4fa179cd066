// Datasets behind one interface: IDX files (MNIST, Fashion-MNIST), CIFAR-10's binary batches, image folders
// laid out as torchvision's ImageFolder (decoded once into a cache), and a seeded synthetic set for tests. A
// split is held in memory as uint8 NCHW; normalisation and augmentation happen per batch in the loader
// (loader.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace vb::data {

// The decoded images of one split.
struct ImageSet {
  std::string name;    // "fashion-mnist/train"
  std::string source;  // the file or folder it was read from
  int64_t channels = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels;       // (N, C, H, W)
  std::vector<int32_t> labels;       // (N), each in [0, classes.size())
  std::vector<std::string> classes;  // class names, index = label

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int64_t image_numel() const { return channels * height * width; }
  const uint8_t* image(int64_t i) const { return pixels.data() + i * image_numel(); }
};

// Per-channel normalisation: x = (pixel / 255 - mean) / std.
struct Normalize {
  std::vector<float> mean, std;
};

// Training augmentation. Random numbers are counter-based in (seed, epoch, position in the epoch), so a batch
// is the same whatever thread prepares it and a resumed run sees the same batches.
struct Augment {
  int64_t crop_pad = 0;  // random crop with this zero padding on each side (0 = off)
  bool hflip = false;    // random horizontal flip (off for digits and other oriented data)
  float mixup = 0.f;     // mixup alpha (0 = off)
  float cutmix = 0.f;    // cutmix alpha (0 = off); with both on, one of the two per batch, 50/50
};

// A dataset: train and test splits plus its per-dataset defaults.
struct Dataset {
  std::string name;  // "fashion-mnist", "cifar10", "synthetic", or the folder's name
  ImageSet train, test;
  Normalize normalize;  // IDX: the published per-dataset constants; folders: computed on the train split
  Augment augment;      // the recommended training augmentation for this dataset
};

struct DatasetOptions {
  // Where decoded image folders are cached; empty = $XDG_CACHE_HOME/vitbench, else ~/.cache/vitbench.
  std::filesystem::path cache_dir;
  bool progress = true;  // progress bar while decoding a folder
};

// `spec` names a dataset:
//   fashion-mnist            Debian's dataset-fashion-mnist in /usr/share/datasets/fashion-mnist (the
//   default) fashion-mnist:<dir>      the same four IDX files (gzip or raw) in <dir> mnist:<dir> MNIST's IDX
//   files in <dir> cifar10:<dir>            CIFAR-10's binary version: <dir> is cifar-10-batches-bin
//   (data_batch_1..5.bin,
//                            test_batch.bin, batches.meta.txt) or the folder holding it
//   folder:<root>            <root>/{train,test}/<class>/*.{jpg,jpeg,png}, classes = sorted subfolder names
//                            (e.g. folder:../shared/datasets/cifar10)
//   synthetic[:key=value,...] seeded procedural images that a model can learn (keys: train, test, classes,
//                            size, channels, seed), for tests
// Throws std::runtime_error naming the file or folder and the problem (missing, empty, truncated, bad magic
// number, corrupt image, empty class folder, label out of range, images of different sizes).
Dataset load_dataset(const std::string& spec, const DatasetOptions& opt = {});

// Indices into a split, stratified by class and deterministic in `seed`.
struct HoldOut {
  std::vector<int64_t> train, val;
};
// Holds `val_size` images of `labels` out for validation, in proportion to class frequencies (each class
// keeps at least one training image). val_size 0 gives an empty val.
HoldOut hold_out(const std::vector<int32_t>& labels, int64_t val_size, uint64_t seed);
// A stratified subset of `from` (indices into `labels`) of `count` images, class proportions kept. Nested:
// for one seed, a smaller subset is contained in a larger one (data-scaling curves compare like with like).
std::vector<int64_t> stratified_subset(const std::vector<int32_t>& labels, const std::vector<int64_t>& from,
                                       int64_t count, uint64_t seed);

}  // namespace vb::data
