// What every vitbench result records about where and how it was produced: git commit, oneDNN version,
// CPU model and ISA, threads, seed, command line and timestamps.
#pragma once

#include <cstdint>
#include <string>

namespace vb {

struct Provenance {
  std::string git_commit;
  bool git_dirty = false;
  std::string onednn_version;  // "2.6.3 (hash)"
  std::string cpu_model;       // /proc/cpuinfo "model name"
  std::string isa;             // the ISA oneDNN dispatches to, e.g. avx512_core_amx
  std::string isa_cap;         // ONEDNN_MAX_CPU_ISA as set for this process ("" when not set)
  std::string dtypes;          // the dtypes this CPU computes in: "f32 bf16" or "f32" (models/core/cpu.hpp)
  int threads = 0;             // OpenMP threads oneDNN runs with
  int cpu_cores = 0;           // logical CPUs this process may run on (omp_get_num_procs: its affinity mask)
  uint64_t seed = 0;
  std::string command;     // the command line
  std::string start_time;  // ISO 8601 UTC
};

// Fills everything but seed and command from this process and machine.
Provenance collect_provenance();
std::string onednn_version();
std::string cpu_model();
std::string utc_now();  // "2026-11-27T08:38:18Z"

}  // namespace vb
