// Training as a library call (the `vitbench train` command calls it; a sweep runs each of its lines through
// it): an experiment preset and/or settings in, the trainer's result out (harness/train/trainer.hpp does the
// work).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "harness/train/trainer.hpp"

namespace vb::run {

struct TrainOptions {
  std::string config_file;  // an experiment preset: a JSON file of TrainConfig keys ("" = none)
  nlohmann::json settings = nlohmann::json::object();  // TrainConfig keys set on top of the preset (they win)
  std::filesystem::path output = "runs/run";           // run folder: record.h5, checkpoint.h5, best.h5
  std::string cache_dir;                               // image-folder cache ("" = XDG default)
  double checkpoint_minutes = 10;  // mid-period checkpoints (TrainConfig::checkpoint_minutes)
  bool resume = false, progress = true;
  int64_t stop_after_epochs = 0;  // > 0: stop after this many epochs of this call (no record; --resume later)
  std::string command;            // recorded in the run's provenance
};

struct TrainResult {
  train::TrainConfig config;  // the settings the run used (the preset with the given settings on top)
  train::RunResult run;       // run.record is empty when stopped early (stop_after_epochs)
};

// The preset's settings with `settings` on top; a bad file, key or value is an error naming the file and key.
train::TrainConfig train_config(const TrainOptions& opt);

// Trains as train_config(opt) says (train::train: resume, errors and the record as documented there).
TrainResult run_training(const TrainOptions& opt);

}  // namespace vb::run
