#include "models/core/cpu.hpp"

#include <fmt/format.h>

#include <dnnl.hpp>
#include <stdexcept>

namespace vb {

namespace {

std::string isa_name(dnnl::cpu_isa isa) {
  using i = dnnl::cpu_isa;
  switch (isa) {
    case i::sse41:
      return "sse41";
    case i::avx:
      return "avx";
    case i::avx2:
      return "avx2";
    case i::avx2_vnni:
      return "avx2_vnni";
    case i::avx512_mic:
      return "avx512_mic";
    case i::avx512_mic_4ops:
      return "avx512_mic_4ops";
    case i::avx512_core:
      return "avx512_core";
    case i::avx512_core_vnni:
      return "avx512_core_vnni";
    case i::avx512_core_bf16:
      return "avx512_core_bf16";
    case i::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "unknown";
  }
}

// oneDNN's cpu_isa values are bit sets that nest: an ISA "has" another when it contains all its bits.
bool contains(dnnl::cpu_isa have, dnnl::cpu_isa need) {
  const auto h = static_cast<unsigned>(have), n = static_cast<unsigned>(need);
  return (h & n) == n;
}

CpuCapabilities detect() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  CpuCapabilities c;
  c.isa = isa_name(isa);
  c.bf16 = contains(isa, dnnl::cpu_isa::avx512_core_bf16);
  c.amx = contains(isa, dnnl::cpu_isa::avx512_core_amx);
  return c;
}

}  // namespace

const CpuCapabilities& cpu_capabilities() {
  static const CpuCapabilities caps = detect();
  return caps;
}

bool dtype_available(DType d) {
  return d == DType::f32 || cpu_capabilities().bf16;
}

std::vector<DType> available_dtypes() {
  std::vector<DType> out;
  for (DType d : {DType::f32, DType::bf16})
    if (dtype_available(d)) out.push_back(d);
  return out;
}

namespace {
constexpr const char* kNeeds = "needs avx512_core_bf16 or AMX, oneDNN dispatches to";
}

std::string dtype_status(DType d) {
  if (dtype_available(d)) return "available";
  return fmt::format("not available: {} {}", kNeeds, cpu_capabilities().isa);
}

void require_dtype(DType d, const std::string& who) {
  if (!dtype_available(d))
    throw std::invalid_argument(fmt::format("{}: {} not available on this CPU: {} {}", who, to_string(d),
                                            kNeeds, cpu_capabilities().isa));
}

}  // namespace vb
