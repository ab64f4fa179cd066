// Heap, RSS and MemAvailable readers, and the batch-fits check.
#include "harness/throughput/memory.hpp"

#include <fmt/format.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#if defined(__SANITIZE_ADDRESS__)
// libasan's allocator statistics. Declared here: gcc 12 on Debian ships the runtime but not the
// <sanitizer/allocator_interface.h> header.
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace vb {

int64_t heap_in_use_bytes() {
#if defined(__SANITIZE_ADDRESS__)
  // ASan replaces malloc: glibc's counters see none of it.
  return static_cast<int64_t>(__sanitizer_get_current_allocated_bytes());
#else
  const struct mallinfo2 mi = mallinfo2();
  return static_cast<int64_t>(mi.uordblks + mi.hblkhd);  // small-chunk heap + mmapped chunks
#endif
}

int64_t current_rss_bytes() {
  std::ifstream in("/proc/self/statm");
  int64_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

int64_t peak_rss_bytes() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<int64_t>(ru.ru_maxrss) * 1024;  // Linux reports KiB
}

int64_t mem_available_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream fields(line.substr(13));
    int64_t kib = -1;
    fields >> kib;
    return kib < 0 ? -1 : kib * 1024;
  }
  return -1;
}

MemoryEstimate estimate_from_probes(int64_t growth_b, int64_t growth_2b, int64_t b) {
  MemoryEstimate e;
  e.per_image_bytes = std::max<int64_t>(0, (growth_2b - growth_b) / b);
  e.fixed_bytes = std::max<int64_t>(0, growth_b - b * e.per_image_bytes);
  return e;
}

std::string format_bytes(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) return fmt::format("{:.2f} GiB", b / (1024.0 * 1024 * 1024));
  if (b >= 1024.0 * 1024) return fmt::format("{:.1f} MiB", b / (1024.0 * 1024));
  return fmt::format("{:.1f} KiB", b / 1024.0);
}

void check_fits(const MemoryEstimate& estimate, int64_t batch, int64_t available, const std::string& what,
                double fraction) {
  if (available < 0) return;
  const int64_t need = estimate.bytes(batch);
  if (static_cast<double>(need) <= fraction * static_cast<double>(available)) return;
  throw std::runtime_error(fmt::format(
      "{} batch {} would not fit in memory: estimated {} ({} fixed + {} per image x {}, measured as the heap "
      "growth of one step at batch 2 and 4) > {:.0f}% of MemAvailable {}",
      what, batch, format_bytes(need), format_bytes(estimate.fixed_bytes),
      format_bytes(estimate.per_image_bytes), batch, 100 * fraction, format_bytes(available)));
}

}  // namespace vb
