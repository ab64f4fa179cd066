// Reading HDF5 inputs with errors that name the file and what was expected (missing file, not HDF5, missing
// dataset, wrong rank). Used for checkpoints and `vitbench predict` inputs.
//
// libhdf5 1.10 is not memory-safe on crafted files, so each constructor first reads the whole file in a
// forked child process (every attribute, every dataset) and refuses it, naming the file, if libhdf5 crashed
// or hung there; only then does this process open it (h5read.cpp, docs/reliability.md).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/core/tensor.hpp"

namespace H5 {
class H5File;
}

namespace vb {

class H5Input {
 public:
  explicit H5Input(const std::filesystem::path& path);  // throws if missing or not HDF5
  // An HDF5 file image held in memory (HDF5's core driver, no backing store; the bytes are copied), called
  // `name` in errors. The fuzz targets (tests/fuzz/) read checkpoints this way, without touching the disk.
  H5Input(const void* image, size_t bytes, const std::string& name);
  ~H5Input();
  const std::string& path() const { return path_; }
  bool has(const std::string& dataset) const;
  // Every dataset, by path relative to the root ("layer1.0.conv1.weight", "grads/x").
  std::map<std::string, Dims> datasets() const;
  Dims shape(const std::string& dataset) const;  // throws naming the file if missing; {} for a scalar
  std::vector<float> read_f32(const std::string& dataset) const;
  std::vector<double> read_f64(const std::string& dataset) const;
  std::vector<int64_t> read_i64(const std::string& dataset) const;
  // A string attribute of the root group (throws naming the file if missing).
  std::string root_attr(const std::string& name) const;
  int64_t root_attr_i64(const std::string& name) const;  // an integer attribute of the root group
  double root_attr_f64(const std::string& name) const;   // a numeric attribute of the root group
  int64_t read_i64_scalar(const std::string& dataset) const;
  // Refuses, naming the file, a vitbench result (root attribute schema = vitbench-result/...) whose
  // `complete` attribute is not 1: a run that stopped while writing it. Files from elsewhere (converted
  // PyTorch weights) carry no schema and pass.
  void require_complete() const;

 private:
  std::string path_;
  uint64_t bytes_ = 0;  // the file's size: what bounds the shapes it may claim
  std::unique_ptr<H5::H5File> file_;
};

}  // namespace vb
