// A fresh, empty scratch folder per test (named after the test and the process, so parallel runs do not
// clash).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace vb::test {

inline std::filesystem::path temp_dir(const std::string& name) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("vitbench_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace vb::test
