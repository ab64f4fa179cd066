// Fuzz targets: one entry function per parser vitbench owns (docs/reliability.md). The same functions run
// under libFuzzer (libfuzzer_main.cpp, the `fuzz` preset) and in the fast tier, which replays every committed
// input of tests/fuzz/corpus/<target>/ through them (test_replay.cpp): a crash found once stays fixed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace vb::fuzz {

// Feeds one input to a parser. Returns "" when the parser accepted it or refused it with a clear error (an
// exception derived from std::exception whose message names the file, where there is one); otherwise what
// went wrong (std::bad_alloc: something was sized from the input before it was bounded; another exception
// type; an error that does not say which file). Crashes and sanitizer reports end the process.
using Target = std::string (*)(const uint8_t* data, size_t size);

struct TargetInfo {
  const char* name;  // the corpus folder and the libFuzzer binary (fuzz_<name>)
  Target run;
  const char* what;
};
const std::vector<TargetInfo>& targets();
const TargetInfo& target(std::string_view name);

std::string idx_raw(const uint8_t* data, size_t size);
std::string idx_gzip(const uint8_t* data, size_t size);
std::string cifar_bin(const uint8_t* data, size_t size);
std::string image_folder(const uint8_t* data, size_t size);
std::string image_cache(const uint8_t* data, size_t size);
std::string preset_json(const uint8_t* data, size_t size);
std::string sweep_json(const uint8_t* data, size_t size);
std::string checkpoint_h5(const uint8_t* data, size_t size);
std::string set_override(const uint8_t* data, size_t size);

// The checkpoint target's structure-aware mutator: opens the input as an in-memory HDF5 file and changes it
// through the HDF5 API (a dataset's shape or dtype, a missing, extra or renamed key, the root attributes),
// so that mutations reach the loader rather than only libhdf5's superblock checks. Falls back to `raw`
// (libFuzzer's byte mutator) when the input is not an HDF5 image, and for one mutation in eight. Returns the
// new size.
using RawMutator = size_t (*)(uint8_t* data, size_t size, size_t max_size);
size_t mutate_checkpoint(uint8_t* data, size_t size, size_t max_size, unsigned seed, RawMutator raw);

// --- Helpers shared by the targets.

// A folder of this process's own (removed at exit) for the files the parsers read.
const std::filesystem::path& scratch();
void write_file(const std::filesystem::path& file, std::string_view bytes);
// Runs `parse`; classifies what it threw as the Target contract says. `file` empty: any message is clear
// enough.
template <class F>
std::string expect_clear_error(const std::string& file, F&& parse);

}  // namespace vb::fuzz

#include "tests/fuzz/targets_impl.hpp"
