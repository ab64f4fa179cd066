// Receptive fields of one model as a library call (the `vitbench rf` command and the rf step of a sweep's
// runs both call it): theoretical fields, effective receptive fields per tap and mean attention distance per
// block and head, on N test images of a dataset; writes a `kind = rf` result (docs/receptive_fields.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "harness/rf/measure.hpp"
#include "models/config.hpp"

namespace vb::run {

struct RfOptions {
  ModelConfig model;                   // the resolved preset (+ overrides)
  std::vector<std::string> overrides;  // as given, for the record
  bool adapt_to_dataset = false;       // take in_chans and num_classes from the dataset (as training does)
  std::string weights;                 // checkpoint; empty: random init with `seed`
  uint64_t seed = 0;
  std::string dataset, cache_dir;
  int64_t images = 0;  // test images to average over (a seeded stratified subset)
  uint64_t data_seed = 0;
  std::vector<std::string> layers;  // taps to map (empty: all)
  bool upsample = false;
  int64_t batch = 8, map_downsample = 1;
  std::filesystem::path output;
  std::string command;
  bool progress = true;
};

struct RfResult {
  ModelConfig model;  // as measured (drop_path 0, adapted to the data if asked)
  rf::RfMeasurement m;
  std::filesystem::path path;
  std::string checkpoint;  // the weights, or "random init"
  bool upsampled = false;
  int64_t source_size = 0;
};

RfResult measure_rf_file(const RfOptions& opt);

}  // namespace vb::run
