// `vitbench info`: what this machine and build are (oneDNN version, ISA, threads) and how fast oneDNN's
// GEMM runs here in each dtype this CPU offers (bf16 only with avx512_core_bf16 or AMX; otherwise info says
// why and measures f32 alone); printed, and written to an HDF5 result.
#include <fmt/format.h>

#include "harness/cli/commands.hpp"
#include "harness/cli/model_options.hpp"
#include "harness/dist/mpi.hpp"
#include "harness/gemm_peak.hpp"
#include "harness/results.hpp"
#include "models/core/cpu.hpp"

namespace vb::cli {

namespace {

struct InfoOptions {
  ModelOptions model;  // with --model: print that model's layer table instead of measuring the machine
  std::string output = "out/info.h5";
  int64_t gemm_size = 2048;
  int repeats = 5;
  bool capabilities = false;  // print what this CPU offers, one "<name> <status>" line each (for scripts)
};

void run_info(const InfoOptions& opt, const std::string& command) {
  Provenance prov = collect_provenance();
  prov.command = command;
  fmt::print("vitbench {} (git {}{})\n", VITBENCH_VERSION, prov.git_commit.substr(0, 12),
             prov.git_dirty ? ", modified" : "");
  fmt::print("oneDNN   {}\n", prov.onednn_version);
  fmt::print("CPU      {}\n", prov.cpu_model);
  fmt::print("ISA      {} (what oneDNN dispatches to{})\n", prov.isa,
             prov.isa_cap.empty() ? "" : ", capped by ONEDNN_MAX_CPU_ISA=" + prov.isa_cap);
  fmt::print("threads  {}\n", prov.threads);
  fmt::print("MPI      {}\n", dist::mpi_library());
  const nlohmann::json config = {{"gemm_size", opt.gemm_size}, {"repeats", opt.repeats}};
  ResultFile out(opt.output, "info", prov, config);
  // What this CPU offers: one line and one root attribute (capability_<dtype>) per dtype.
  for (DType d : {DType::f32, DType::bf16}) {
    fmt::print("{:<8} {}\n", to_string(d), dtype_status(d));
    out.attr(fmt::format("capability_{}", to_string(d)), dtype_status(d));
  }
  out.attr("capability_amx", int64_t{cpu_capabilities().amx});
  for (DType d : available_dtypes()) {
    const GemmPeak peak = measure_gemm_peak(d, opt.gemm_size, opt.repeats);
    fmt::print(
        "GEMM {:<4} {}^3: median {:8.1f} GFLOP/s, best {:8.1f} GFLOP/s over {} runs (GFLOP = 2 x MACs)\n",
        to_string(d), opt.gemm_size, peak.median(), peak.best(), peak.gflops.size());
    const std::string group = fmt::format("gemm/{}", to_string(d));
    out.write(group + "/gflops", peak.gflops);
    out.attr("median_gflops", peak.median(), group);
    out.attr("best_gflops", peak.best(), group);
  }
  fmt::print("wrote {}\n", out.commit().string());
}

}  // namespace

void add_info(CLI::App& app, const Common& common) {
  auto opt = std::make_shared<InfoOptions>();
  auto* cmd = app.add_subcommand("info",
                                 "Print oneDNN version, ISA, threads and measured GEMM GFLOP/s (f32, bf16); "
                                 "with --model, that model's layer table");
  opt->model.add_to(*cmd, false);
  cmd->add_option("-o,--output", opt->output, "HDF5 result file to write")->capture_default_str();
  cmd->add_option("--gemm-size", opt->gemm_size, "M = N = K of the timed matmul")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{16}, int64_t{16384}));
  cmd->add_option("--repeats", opt->repeats, "timed repetitions per dtype")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_flag("--capabilities", opt->capabilities,
                "print what this CPU offers and exit, one line each: `isa <name>`, `f32 available`, `bf16 "
                "available` or `bf16 not available: <why>` (scripts ask this before planning bf16 work)");
  cmd->callback([opt, &common] {
    if (opt->capabilities) {
      fmt::print("isa {}\n", cpu_capabilities().isa);
      for (DType d : {DType::f32, DType::bf16}) fmt::print("{} {}\n", to_string(d), dtype_status(d));
      // Data-parallel training (docs/distributed.md): `mpi compiled in: <library>` or `mpi not compiled in`.
      fmt::print("mpi {}\n",
                 dist::mpi_compiled() ? "compiled in: " + dist::mpi_library() : "not compiled in");
    } else if (!opt->model.model.empty())
      print_model_summary(opt->model.resolve());
    else
      run_info(*opt, common.command);
  });
}

}  // namespace vb::cli
