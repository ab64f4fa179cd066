// `vitbench throughput`: images/s of models x batches x modes x dtypes (cross product), with the GEMM peak
// measured in the same process at the start and the end. Progress on stderr, a summary (or --json lines)
// on stdout, raw samples in an HDF5 result (docs/results.md, kind = throughput).
#include <fmt/format.h>

#include <iostream>
#include <map>

#include "harness/cli/commands.hpp"
#include "harness/gemm_peak.hpp"
#include "harness/results.hpp"
#include "harness/throughput/throughput.hpp"
#include "models/core/cpu.hpp"

namespace vb::cli {

namespace {

struct ThroughputOptions {
  std::vector<std::string> models, modes{"infer"}, dtypes{"f32"}, overrides;
  std::vector<int64_t> batches{32};
  TimingOptions timing;
  std::string output = "out/throughput.h5";
  bool json = false;
  bool memory_check = true;
  int64_t peak_size = 2048;
  int peak_repeats = 3;
};

// The run's GEMM peak per dtype: samples at the start and at the end of the run; their median is the reference.
struct PeakSamples {
  std::vector<double> start, end;
  double median() const {
    std::vector<double> all = start;
    all.insert(all.end(), end.begin(), end.end());
    return all.empty() ? 0.0 : quantile(all, 0.5);
  }
};

void measure_peaks(std::map<DType, PeakSamples>& peaks, bool at_start, const ThroughputOptions& opt) {
  if (opt.peak_size <= 0) return;
  for (auto& [d, s] : peaks) {
    const GemmPeak p = measure_gemm_peak(d, opt.peak_size, opt.peak_repeats);
    (at_start ? s.start : s.end) = p.gflops;
    fmt::print(stderr, "GEMM peak {} {}^3 ({}): median {:.1f} GFLOP/s\n", to_string(d), opt.peak_size,
               at_start ? "start" : "end", p.median());
  }
}

void run_throughput(const ThroughputOptions& opt, const std::string& command) {
  // Everything that can be refused is refused before anything is timed.
  std::vector<RunMode> modes;
  std::vector<DType> dtypes;
  for (const auto& m : opt.modes) modes.push_back(parse_run_mode(m));
  for (const auto& d : opt.dtypes) dtypes.push_back(parse_dtype(d));
  for (int64_t b : opt.batches) check_arg(b > 0, "--batch", fmt::format("batch must be positive, given {}", b));
  std::vector<ThroughputCase> cases;
  for (const auto& name : opt.models) {
    ModelConfig base = preset(name);
    for (const auto& o : opt.overrides) apply_override(base, o);
    for (RunMode mode : modes)
      for (DType d : dtypes) {
        const ModelConfig cfg = with_dtype(base, d);
        if (opt.memory_check) {
          const MemoryEstimate e = probe_memory(cfg, mode, opt.timing.seed);
          for (int64_t b : opt.batches)
            check_fits(e, b, mem_available_bytes(), fmt::format("{} {} {}", name, to_string(mode), to_string(d)));
        }
        for (int64_t b : opt.batches) cases.push_back({cfg, d, mode, b});
      }
  }

  Provenance prov = collect_provenance();
  prov.command = command;
  prov.seed = opt.timing.seed;
  const nlohmann::json config = {{"models", opt.models},   {"overrides", opt.overrides},
                                 {"batches", opt.batches}, {"modes", opt.modes},
                                 {"dtypes", opt.dtypes},   {"warmup", opt.timing.warmup},
                                 {"iters", opt.timing.iters}, {"min_time_s", opt.timing.min_time},
                                 {"peak_size", opt.peak_size}, {"peak_repeats", opt.peak_repeats},
                                 {"flop_convention", "GFLOP = 2 x MACs; train = 3 x forward MACs"}};
  ResultFile out(opt.output, "throughput", prov, config);

  std::map<DType, PeakSamples> peaks;
  for (DType d : available_dtypes()) peaks[d] = {};  // no bf16 peak on a CPU without bf16
  measure_peaks(peaks, true, opt);

  std::vector<Measurement> results;
  for (size_t i = 0; i < cases.size(); ++i) {
    const ThroughputCase& c = cases[i];
    fmt::print(stderr, "[{}/{}] {} {} {} batch {}: ", i + 1, cases.size(), c.cfg.name, to_string(c.mode),
               to_string(c.dtype), c.batch);
    Measurement m = measure(c, opt.timing);
    m.estimate = opt.memory_check ? probe_memory(c.cfg, c.mode, opt.timing.seed) : MemoryEstimate{};
    fmt::print(stderr, "{:.2f} img/s (p10 {:.2f}, p90 {:.2f}), {:.1f} GFLOP/s, {} iterations\n", m.ips.median,
               m.ips.p10, m.ips.p90, m.gflops, m.total_s.size());
    results.push_back(std::move(m));
  }

  measure_peaks(peaks, false, opt);
  for (auto& [d, s] : peaks) {
    const std::string g = fmt::format("gemm/{}", to_string(d));
    if (s.start.empty()) continue;
    out.write(g + "/start_gflops", s.start);
    out.write(g + "/end_gflops", s.end);
    out.attr("median_gflops", s.median(), g);
    out.attr("size", opt.peak_size, g);
  }
  for (Measurement& m : results) {
    m.set_peak(peaks.count(m.c.dtype) ? peaks.at(m.c.dtype).median() : 0.0);
    write_measurement(out, m);
    if (opt.json) std::cout << json_line(m).dump() << "\n";
  }
  if (!opt.json) {
    fmt::print("{:<24} {:<5} {:<4} {:>5} {:>10} {:>10} {:>10} {:>9} {:>7}\n", "model", "mode", "dtype", "batch",
               "img/s", "p10", "p90", "GFLOP/s", "%peak");
    for (const Measurement& m : results)
      fmt::print("{:<24} {:<5} {:<4} {:>5} {:>10.2f} {:>10.2f} {:>10.2f} {:>9.1f} {:>7.1f}\n", m.c.cfg.name,
                 to_string(m.c.mode), to_string(m.c.dtype), m.c.batch, m.ips.median, m.ips.p10, m.ips.p90,
                 m.gflops, 100 * m.peak_fraction);
  }
  const auto path = out.commit();
  fmt::print(stderr, "wrote {}\n", path.string());
}

}  // namespace

void add_throughput(CLI::App& app, const Common& common) {
  auto opt = std::make_shared<ThroughputOptions>();
  auto* cmd = app.add_subcommand(
      "throughput",
      "Images/s of models in inference and training, f32 and bf16, vs the GEMM peak measured in the same run "
      "(GFLOP = 2 x MACs; a training step counts 3 x the forward MACs)");
  cmd->add_option("-m,--model", opt->models, "model presets, comma-separated (see `vitbench models`)")
      ->required()
      ->delimiter(',');
  cmd->add_option("--set", opt->overrides, "override a preset field of every model, e.g. --set depth=6")
      ->take_all();
  cmd->add_option("-b,--batch", opt->batches, "batch sizes, comma-separated")->delimiter(',')->capture_default_str();
  cmd->add_option("--mode", opt->modes, "infer and/or train, comma-separated")->delimiter(',')->capture_default_str();
  cmd->add_option("--dtype", opt->dtypes, "f32 and/or bf16, comma-separated")->delimiter(',')->capture_default_str();
  cmd->add_option("--warmup", opt->timing.warmup, "untimed iterations after the one that builds the primitives")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--iters", opt->timing.iters, "timed iterations (at least)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--min-time", opt->timing.min_time, "time at least this many seconds per measurement")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", opt->timing.seed, "seed of the weights, images and output gradient")->capture_default_str();
  cmd->add_option("-o,--output", opt->output, "HDF5 result file to write")->capture_default_str();
  cmd->add_flag("--json", opt->json, "print one JSON line per measurement instead of the table");
  cmd->add_option("--peak-size", opt->peak_size, "M = N = K of the GEMM peak matmul (0: do not measure it)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{16384}));
  cmd->add_option("--peak-repeats", opt->peak_repeats, "timed GEMM repetitions at the start and at the end")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_flag("!--no-memory-check", opt->memory_check,
                "skip the batch-fits estimate (one step at batch 2 and 4 per model, mode and dtype)");
  cmd->callback([opt, &common] { run_throughput(*opt, common.command); });
}

}  // namespace vb::cli
