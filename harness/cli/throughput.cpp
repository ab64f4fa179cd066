// `vitbench throughput`: the flags of harness/run/throughput.hpp; a summary table (or --json lines) on
// stdout, progress on stderr, raw samples in an HDF5 result (docs/results.md, kind = throughput).
#include "harness/run/throughput.hpp"

#include <fmt/format.h>

#include <iostream>

#include "harness/cli/commands.hpp"

namespace vb::cli {

namespace {

struct ThroughputOptions {
  run::ThroughputOptions run;
  std::string output = "out/throughput.h5";
  bool json = false;
};

void run_throughput(const ThroughputOptions& opt, const std::string& command) {
  run::ThroughputOptions ro = opt.run;
  ro.output = opt.output;
  ro.command = command;
  const run::ThroughputResult r = run::measure_throughput(ro);
  if (opt.json) {
    for (const Measurement& m : r.measurements) std::cout << json_line(m).dump() << "\n";
  } else {
    fmt::print("{:<24} {:<5} {:<4} {:>5} {:>10} {:>10} {:>10} {:>9} {:>7}\n", "model", "mode", "dtype",
               "batch", "img/s", "p10", "p90", "GFLOP/s", "%peak");
    for (const Measurement& m : r.measurements)
      fmt::print("{:<24} {:<5} {:<4} {:>5} {:>10.2f} {:>10.2f} {:>10.2f} {:>9.1f} {:>7.1f}\n", m.c.cfg.name,
                 enum_name(m.c.mode), to_string(m.c.dtype), m.c.batch, m.ips.median, m.ips.p10, m.ips.p90,
                 m.gflops, 100 * m.peak_fraction);
  }
  fmt::print(stderr, "wrote {}\n", r.path.string());
}

}  // namespace

void add_throughput(CLI::App& app, const Common& common) {
  auto opt = std::make_shared<ThroughputOptions>();
  auto* cmd = app.add_subcommand(
      "throughput",
      "Images/s of models in inference and training, f32 and bf16, vs the GEMM peak measured in the same run "
      "(GFLOP = 2 x MACs; a training step counts 3 x the forward MACs)");
  cmd->add_option("-m,--model", opt->run.models, "model presets, comma-separated (see `vitbench models`)")
      ->required()
      ->delimiter(',');
  cmd->add_option("--set", opt->run.overrides, "override a preset field of every model, e.g. --set depth=6")
      ->take_all();
  cmd->add_option("-b,--batch", opt->run.batches, "batch sizes, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  // Modes and dtypes by name (CLI11 would read an enum as its number).
  cmd->add_option_function<std::vector<std::string>>(
         "--mode",
         [opt](const std::vector<std::string>& v) {
           opt->run.modes.clear();
           for (const auto& s : v) opt->run.modes.push_back(parse_enum<Mode>("mode", s));
         },
         "infer and/or train, comma-separated")
      ->delimiter(',')
      ->check(CLI::IsMember(enum_names<Mode>()))
      ->default_str("infer");
  cmd->add_option_function<std::vector<std::string>>(
         "--dtype",
         [opt](const std::vector<std::string>& v) {
           opt->run.dtypes.clear();
           for (const auto& s : v) opt->run.dtypes.push_back(parse_dtype(s));
         },
         "f32 and/or bf16, comma-separated")
      ->delimiter(',')
      ->check(CLI::IsMember({"f32", "bf16"}))
      ->default_str("f32");
  cmd->add_option("--warmup", opt->run.timing.warmup,
                  "untimed iterations after the one that builds the primitives")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--iters", opt->run.timing.iters, "timed iterations (at least)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--min-time", opt->run.timing.min_time, "time at least this many seconds per measurement")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", opt->run.timing.seed, "seed of the weights, images and output gradient")
      ->capture_default_str();
  cmd->add_option("-o,--output", opt->output, "HDF5 result file to write")->capture_default_str();
  cmd->add_flag("--json", opt->json, "print one JSON line per measurement instead of the table");
  cmd->add_option("--peak-size", opt->run.peak_size,
                  "M = N = K of the GEMM peak matmul (0: do not measure it)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{16384}));
  cmd->add_option("--peak-repeats", opt->run.peak_repeats,
                  "timed GEMM repetitions at the start and at the end")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_flag("!--no-memory-check", opt->run.memory_check,
                "skip the batch-fits estimate (one step at batch 2 and 4 per model, mode and dtype)");
  cmd->callback([opt, &common] { run_throughput(*opt, common.command); });
}

}  // namespace vb::cli
