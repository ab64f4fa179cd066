// What this CPU offers oneDNN, detected once per process and asked everywhere (models, layers, the CLI, the
// throughput gate through `vitbench info --dtypes`, the tests' skips). Detection reads the ISA oneDNN
// dispatches to, so ONEDNN_MAX_CPU_ISA=AVX2 makes any machine look like an AVX2-only one
// (docs/portability.md).
#pragma once

#include <string>
#include <vector>

#include "models/core/tensor.hpp"

namespace vb {

struct CpuCapabilities {
  std::string
      isa;  // oneDNN's name for the ISA it dispatches to: avx2, avx512_core_bf16, avx512_core_amx, ...
  bool bf16 =
      false;  // bf16 compute: avx512_core_bf16 or AMX (below that oneDNN has no or only emulated kernels)
  bool amx = false;  // AMX tiles (bf16 GEMMs several times faster than avx512_core_bf16)
};

// Detected on first use, then fixed for the process (oneDNN reads ONEDNN_MAX_CPU_ISA once, too).
const CpuCapabilities& cpu_capabilities();

// The dtypes this CPU computes in: f32 always, bf16 where cpu_capabilities().bf16.
std::vector<DType> available_dtypes();
bool dtype_available(DType d);

// "available", or why not: "not available: needs avx512_core_bf16 or AMX, oneDNN dispatches to avx2".
std::string dtype_status(DType d);

// Throws std::invalid_argument "<who>: bf16 not available on this CPU: needs avx512_core_bf16 or AMX, oneDNN
// dispatches to avx2" when `d` is not available. Called before any work that would compute in `d`.
void require_dtype(DType d, const std::string& who);

// Shorthands used by the layers.
inline bool bf16_supported() {
  return cpu_capabilities().bf16;
}
inline const std::string& cpu_isa_string() {
  return cpu_capabilities().isa;
}

}  // namespace vb
