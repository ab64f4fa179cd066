// HDF5 result files. Every result carries the provenance as root attributes and is built in memory (HDF5's
// core driver, no backing store); commit() writes the finished image with write_file_atomically
// (atomic_write.hpp), so a killed run or a full disk never leaves a file at <path> that looks complete.
// Layout: docs/results.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/provenance.hpp"

namespace H5 {
class H5File;
}

namespace vb {

class FileLock;

// Holds an advisory lock on "<path>.lock" (file_lock.hpp) from construction to destruction: a second process
// writing the same results file is refused with the holder's pid, host and command.
class ResultFile {
 public:
  // `kind` names what wrote it ("info", "train", ...); `config` is the full resolved configuration.
  ResultFile(std::filesystem::path path, const std::string& kind, const Provenance& prov,
             const nlohmann::json& config);
  ~ResultFile();  // without commit(): discards the in-memory file; nothing reaches the disk
  ResultFile(const ResultFile&) = delete;
  ResultFile& operator=(const ResultFile&) = delete;

  // Datasets; parent groups in `name` ("gemm/f32/gflops") are created as needed. `shape` defaults to 1-D.
  void write(const std::string& name, const std::vector<double>& values,
             const std::vector<uint64_t>& shape = {});
  void write(const std::string& name, const std::vector<float>& values,
             const std::vector<uint64_t>& shape = {});
  void write(const std::string& name, const std::vector<int64_t>& values,
             const std::vector<uint64_t>& shape = {});
  // A scalar int64 dataset (PyTorch's num_batches_tracked, loop counters).
  void write_scalar(const std::string& name, int64_t value);
  // Attributes on the root group (or on group/dataset `object`, which must exist).
  void attr(const std::string& name, const std::string& value, const std::string& object = "/");
  void attr(const std::string& name, double value, const std::string& object = "/");
  void attr(const std::string& name, int64_t value, const std::string& object = "/");

  // Stamps end_time and complete=1, writes the image to <path> atomically. Returns the final path.
  std::filesystem::path commit();
  const std::filesystem::path& path() const { return path_; }

 private:
  template <class F>
  void guarded(const std::string& what, F&& f);
  template <class F>
  void put_attr(const std::string& name, const std::string& object, F&& create);
  std::filesystem::path path_;
  std::unique_ptr<FileLock> lock_;
  std::unique_ptr<H5::H5File> file_;
};

}  // namespace vb
