// Memory of a throughput measurement: the process's heap in use and resident set, the machine's available
// memory, and the estimate that refuses a batch which would not fit. The estimate is measured, not
// modelled: build the model at batch b and 2b, run one step, and take the heap growth of each; the
// difference / b is the per-image cost (activations, saved tensors), the rest is fixed (params, grads,
// scratch).
#pragma once

#include <cstdint>
#include <string>

namespace vb {

int64_t heap_in_use_bytes();    // bytes malloc'ed and not freed (glibc mallinfo2, or the sanitizer's count)
int64_t current_rss_bytes();    // /proc/self/statm resident pages
int64_t peak_rss_bytes();       // getrusage ru_maxrss
int64_t mem_available_bytes();  // /proc/meminfo MemAvailable (-1 if unknown)

struct MemoryEstimate {
  int64_t fixed_bytes = 0;      // independent of the batch
  int64_t per_image_bytes = 0;  // grows with every image of the batch
  int64_t bytes(int64_t batch) const { return fixed_bytes + per_image_bytes * batch; }
};

// From the heap growth at batch b and at batch 2b (each: after one step minus before building).
MemoryEstimate estimate_from_probes(int64_t growth_b, int64_t growth_2b, int64_t b);

// Throws std::runtime_error naming `what`, the batch, the estimate and how it was made when
// estimate.bytes(batch) exceeds `fraction` of `available` (unknown available: never throws).
void check_fits(const MemoryEstimate& estimate, int64_t batch, int64_t available, const std::string& what,
                double fraction = 0.9);

std::string format_bytes(int64_t bytes);  // "1.23 GiB"

}  // namespace vb
