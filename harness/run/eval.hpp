// Evaluation as a library call (the `vitbench eval` command calls it): loss, top-1 and top-5 of a checkpoint
// on a dataset's test split, or on the validation split a training run held out; optionally a `kind = eval`
// record.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "harness/enum_names.hpp"
#include "harness/train/trainer.hpp"

namespace vb::run {

enum class Split { test, val };  // val: the validation split a training run held out

struct EvalOptions {
  std::string model;                   // preset name
  std::vector<std::string> overrides;  // field=value
  std::string weights;                 // checkpoint
  std::string dataset = "fashion-mnist", cache_dir;
  Split split = Split::test;
  int64_t batch = 256, val_size = 5000;  // val_size and seed: as the training run held out (split val)
  uint64_t seed = 0;
  bool upsample = false, progress = true;
  std::string output;  // empty: no record
  std::string command;
};

struct EvalResult {
  ModelConfig model;  // as evaluated (adapted to the dataset)
  std::string dataset;
  train::Metrics metrics;
  double wall_s = 0;
  std::filesystem::path record;  // empty without an output
};

EvalResult evaluate_checkpoint(const EvalOptions& opt);

}  // namespace vb::run

template <>
struct vb::EnumNames<vb::run::Split> {
  inline static const std::vector<std::pair<vb::run::Split, const char*>> list{{vb::run::Split::test, "test"},
                                                                               {vb::run::Split::val, "val"}};
};
