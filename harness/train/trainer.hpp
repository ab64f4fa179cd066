// Training from scratch and evaluation: the DeiT-style recipe (AdamW or SGD, warm-up + cosine, label
// smoothing, gradient clipping, stochastic depth, mixup/cutmix), validation every epoch on a split held out
// of train, test at the end, a checkpoint every epoch, exact resume, and one HDF5 run record
// (docs/training.md).
//
// One optimizer step is: forward, loss, backward (local gradients), GradientReducer::reduce (a no-op on one
// process; an MPI allreduce that averages across data-parallel ranks: harness/dist/), clipping, update. Under
// mpirun/srun each rank takes its contiguous slice of every global batch (docs/distributed.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/data/loader.hpp"
#include "harness/enum_names.hpp"
#include "harness/train/optimizer.hpp"
#include "models/config.hpp"
#include "models/model.hpp"

namespace vb::train {

// Random horizontal flip: the dataset's default, or forced on or off.
enum class HFlip { dataset, on, off };

struct TrainConfig {
  std::string model;                   // preset name
  std::vector<std::string> overrides;  // "field=value" on the preset
  std::string dataset = "fashion-mnist";
  std::string cache_dir;           // image-folder cache ("" = XDG default)
  double checkpoint_minutes = 10;  // also save the state mid-period after this many minutes (0 = never): a
                                   // killed run loses at most that much (a local setting, never recorded)
  int64_t val_size = 5000;         // images held out of train for validation (stratified, seeded)
  int64_t train_size = 0;          // stratified subset of the remaining train images (0 = all of them)
  bool upsample = false;           // allow images smaller than the model's input (bilinear upsampling)
  int64_t epochs = 10;
  int64_t steps = 0;  // > 0: the budget in optimizer steps instead of epochs
  int64_t batch = 128, eval_batch = 256;
  OptimizerConfig optimizer;
  double lr = 1e-3, min_lr = 1e-5;
  double warmup_epochs = 1;   // converted to steps
  int64_t warmup_steps = -1;  // >= 0: the warm-up in optimizer steps instead (equal across subset sizes)
  double label_smoothing = 0.1;
  double clip_grad = 0;   // max global gradient norm (0 = off)
  double drop_path = -1;  // stochastic depth rate (< 0: the preset's)
  // Augmentation: < 0 / "" = the dataset's default.
  int64_t crop_pad = -1;
  HFlip hflip = HFlip::dataset;
  double mixup = 0, cutmix = 0;
  uint64_t seed = 0;
  bool test_every_epoch = true;  // also record test metrics at every evaluation (never used for choices)
  int64_t eval_every = 0;        // validate and checkpoint every this many steps (0 = every epoch); the
                                 // record's epochs/* arrays then hold one row per evaluation
  std::filesystem::path output = "runs/run";  // run folder: record.h5, checkpoint.h5, best.h5
  bool progress = true;

  nlohmann::json to_json() const;
  static TrainConfig from_json(const nlohmann::json& j);  // throws naming an unknown or ill-typed key
};

struct Metrics {
  double loss = 0, top1 = 0, top5 = 0;  // top-k in percent
  int64_t images = 0;
};

// Loss (plain cross-entropy, no smoothing), top-1 and top-5 of `model` in eval mode over every batch of
// `loader` (one epoch, epoch index 0).
Metrics evaluate(Model& model, data::Loader& loader, const std::string& what, bool progress);

// Averages gradients across data-parallel ranks: on return every rank's Param::grad holds the sum over ranks
// divided by the number of ranks (each rank's gradient is that of its slice's mean loss, so the average is
// the gradient of the global batch's mean loss). The single-process one does nothing; the MPI one is
// dist::MpiGradientReducer (harness/dist/reducer.hpp).
class GradientReducer {
 public:
  virtual ~GradientReducer() = default;
  virtual void reduce(const std::vector<Slot>& slots) { (void)slots; }
  virtual double seconds() const { return 0; }       // wall time spent in reduce() so far
  virtual double wait_seconds() const { return 0; }  // the part of it spent waiting for the slowest rank
  virtual double mpi_seconds() const { return 0; }  // the part of it inside MPI_Allreduce (the rest: packing)
};

struct RunResult {
  Metrics test, best_val;
  int64_t best_epoch = -1;
  double wall_s = 0, images_per_s = 0;
  std::filesystem::path record;
};

// Trains as configured. resume = continue from <output>/checkpoint.h5 (same config required). Writes
// <output>/record.h5 at the end. Throws std::runtime_error on bad input or a NaN loss (after which the last
// good checkpoint is left in place). stop_after_epochs > 0 stops once that many epochs are done in this
// process, as a kill right after a checkpoint would (a job time limit; resume later): no record then, and
// RunResult::record is empty.
RunResult train(const TrainConfig& cfg, bool resume, const std::string& command,
                int64_t stop_after_epochs = 0);

}  // namespace vb::train

namespace vb {
template <>
struct EnumNames<train::HFlip> {  // the "hflip" setting's values ("": the dataset's default)
  inline static const std::vector<std::pair<train::HFlip, const char*>> list{
      {train::HFlip::dataset, ""}, {train::HFlip::on, "on"}, {train::HFlip::off, "off"}};
};
}  // namespace vb
