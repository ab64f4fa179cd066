// Batches from an ImageSet: shuffle per epoch, augment, resize/crop to the model's input, normalise, and
// (optionally) mixup/cutmix, prepared on a background thread while the model computes. Deterministic in
// (seed, epoch, step): a run resumed at a step sees exactly the batches the uninterrupted run saw.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "harness/data/dataset.hpp"

namespace vb::data {

struct LoaderOptions {
  int64_t batch = 128;
  // Side of the square images handed to the model. Images of that size pass unchanged; larger ones are
  // resized (bilinear) so the shorter side is out_size / 0.875 and centre-cropped (timm's eval transform);
  // smaller ones are refused unless `upsample` is set, then resized (bilinear) to out_size.
  int64_t out_size = 0;  // 0 = the images' own size
  bool upsample = false;
  bool shuffle = false;    // reshuffle every epoch (seeded by seed and epoch)
  bool drop_last = false;  // drop a last partial batch (training)
  bool train = false;      // apply `augment` (otherwise no random transform at all)
  Augment augment;
  Normalize normalize;
  uint64_t seed = 0;
  int64_t prefetch = 2;  // batches prepared ahead on the background thread (0 = prepare in next())
  // Data parallelism: `batch` is the global batch and this loader yields rows [shard * batch / shards,
  // (shard + 1) * batch / shards) of each one. Every random draw keys on the global position, and
  // mixup/cutmix partners are global rows, so the rows are exactly those of the one-process batch (needs
  // drop_last and a batch divisible by shards).
  int64_t shard = 0, shards = 1;
};

struct Batch {
  int64_t epoch = 0, step = 0;   // step within the epoch
  int64_t size = 0;              // B (the last batch may be smaller unless drop_last); this shard's rows
  std::vector<float> images;     // (B, C, S, S) normalised, S = out_size
  std::vector<int64_t> labels;   // (B)
  std::vector<int64_t> indices;  // (B) indices into the ImageSet (which images these are)
  std::vector<float> targets;    // (B, classes) soft targets when mixup/cutmix applied, else empty
};

class Loader {
 public:
  // `indices`: which images of `set` to iterate (a hold-out or subset); the set must outlive the loader.
  // Throws std::invalid_argument when the images cannot be brought to out_size (smaller without upsample).
  Loader(const ImageSet& set, std::vector<int64_t> indices, LoaderOptions opt);
  ~Loader();  // stops and joins the background thread
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t size() const { return static_cast<int64_t>(indices_.size()); }
  int64_t steps_per_epoch() const;
  int64_t channels() const { return set_.channels; }
  int64_t out_size() const { return out_size_; }
  // Starts (or restarts) iterating epoch `epoch` at step `first_step`; the background thread begins at once.
  void start_epoch(int64_t epoch, int64_t first_step = 0);
  // The next batch of the current epoch; false when the epoch is done. Rethrows a worker's exception.
  bool next(Batch& out);

 private:
  void prepare(int64_t epoch, int64_t step, Batch& out) const;  // pure function of (epoch, step)
  // One augmented image -> dst (C, S, S); scratch is reused across the images of a batch.
  void render(int64_t index, uint64_t sample_key, float* dst, std::vector<float>& scratch) const;
  void worker();
  void stop();

  const ImageSet& set_;
  std::vector<int64_t> indices_;
  LoaderOptions opt_;
  int64_t out_size_ = 0;
  // Bilinear taps from output row/column to source row/column (set up once from the resize rule).
  struct Tap {
    int64_t i0, i1;
    float w;  // weight of i1
  };
  std::vector<Tap> rows_, cols_;
  bool identity_ = false;       // images already S x S: no resampling
  std::vector<int64_t> order_;  // indices_ in the current epoch's order
  // Background thread state.
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  int64_t epoch_ = 0, next_step_ = 0, produce_step_ = 0;
  bool stopping_ = false, running_ = false;
};

}  // namespace vb::data
