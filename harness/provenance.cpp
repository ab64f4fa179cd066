// Gathers provenance from the build (git), oneDNN, /proc/cpuinfo and OpenMP.
#include "harness/provenance.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <oneapi/dnnl/dnnl.hpp>

#include "harness/build_info.hpp"
#include "models/core/cpu.hpp"

namespace vb {

std::string onednn_version() {
  const auto* v = dnnl::version();
  return fmt::format(
      "{}.{}.{}{}", v->major, v->minor, v->patch,
      v->hash && *v->hash && std::string(v->hash) != "N/A" ? fmt::format(" ({})", v->hash) : "");
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown";
}

std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Provenance collect_provenance() {
  Provenance p;
  p.git_commit = kGitCommit;
  p.git_dirty = kGitDirty;
  p.onednn_version = onednn_version();
  p.cpu_model = cpu_model();
  p.isa = cpu_isa_string();
  if (const char* cap = std::getenv("ONEDNN_MAX_CPU_ISA")) p.isa_cap = cap;
  for (DType d : available_dtypes()) {
    if (!p.dtypes.empty()) p.dtypes += ' ';
    p.dtypes += to_string(d);
  }
  p.threads = omp_get_max_threads();
  p.cpu_cores = omp_get_num_procs();
  p.start_time = utc_now();
  return p;
}

}  // namespace vb
