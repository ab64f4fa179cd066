// Throughput sweeps (docs/sweeps.md, "Throughput sweeps"): a sweep file with "kind": "throughput" plans one
// line per framework x model x mode x dtype x batch x round, rounds outermost so that the two frameworks
// alternate (A B A B) and machine drift hits both. A line measures one case in its own process and writes a
// `kind = throughput` record: vitbench through run::measure_throughput (with the GEMM peak of the same
// process), PyTorch through scripts/torch_throughput.py with the fair setup of scripts/compare_throughput.py,
// ONNX Runtime through scripts/ort/ort_throughput.mjs on the PyTorch model exported by scripts/export_onnx.py
// (docs/throughput.md).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace vb::run {

// The settings a throughput line may have (the sweep's `base`, an arm's `set`, the axes).
const std::set<std::string>& throughput_line_keys();

// Checks one line's settings (`where` names it in errors), filling defaults; throws std::invalid_argument.
// Models are built once per distinct (model, overrides) in `built`.
nlohmann::json check_throughput_line(const nlohmann::json& settings, std::set<std::string>& built);

// Why this CPU or framework leaves the line out of a plan ("" = it runs): bf16 on a CPU without it; ONNX
// Runtime outside f32 inference.
std::string throughput_line_left_out(const nlohmann::json& line);

// Planned seconds of one line from the sweep's seconds_per_step entry of its model: {"infer": s, "train": s,
// "batch": b} = seconds per timed iteration at batch b ("infer_bf16", "train_bf16": the same in bf16, if
// given).
double throughput_line_seconds(const nlohmann::json& line, const nlohmann::json& per_step);

// The environment both frameworks run in (the malloc setting is read at process start): `sweep run` sets it
// for its children; a launcher that calls `sweep exec` itself sets GLIBC_TUNABLES the same way
// (docs/sweeps.md).
void set_throughput_environment();

// Measures the line into <dir>/record.h5 (written atomically; complete = 1 only when whole).
void exec_throughput_line(const nlohmann::json& line, int threads, const std::filesystem::path& dir,
                          const std::string& command);

}  // namespace vb::run
