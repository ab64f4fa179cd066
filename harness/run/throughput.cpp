// `vitbench throughput` as a library call (see throughput.hpp).
#include "harness/run/throughput.hpp"

#include <fmt/format.h>

#include "harness/atomic_write.hpp"
#include "harness/gemm_peak.hpp"
#include "harness/model_spec.hpp"
#include "harness/results.hpp"
#include "harness/throughput/memory.hpp"
#include "harness/throughput/stats.hpp"
#include "models/core/cpu.hpp"

namespace vb::run {

double PeakSamples::median() const {
  std::vector<double> all = start;
  all.insert(all.end(), end.begin(), end.end());
  return all.empty() ? 0.0 : quantile(all, 0.5);
}

namespace {

void measure_peaks(std::map<DType, PeakSamples>& peaks, bool at_start, const ThroughputOptions& opt) {
  if (opt.peak_size <= 0) return;
  for (auto& [d, s] : peaks) {
    const GemmPeak p = measure_gemm_peak(d, opt.peak_size, opt.peak_repeats);
    (at_start ? s.start : s.end) = p.gflops;
    fmt::print(stderr, "GEMM peak {} {}^3 ({}): median {:.1f} GFLOP/s\n", to_string(d), opt.peak_size,
               at_start ? "start" : "end", p.median());
  }
}

}  // namespace

ThroughputResult measure_throughput(const ThroughputOptions& opt) {
  // A folder that cannot hold the result is refused before anything is built or timed.
  require_writable_folder(opt.output.has_parent_path() ? opt.output.parent_path() : ".");
  for (int64_t b : opt.batches)
    if (b <= 0) throw std::invalid_argument(fmt::format("--batch: batch must be positive, given {}", b));
  // Cases, each with its memory estimate: probed once per model, mode and dtype, before anything is timed.
  std::vector<ThroughputCase> cases;
  std::vector<MemoryEstimate> estimates;
  for (const auto& name : opt.models) {
    const ModelConfig base = resolve_model(name, opt.overrides);
    for (Mode mode : opt.modes)
      for (DType d : opt.dtypes) {
        const ModelConfig cfg = with_dtype(base, d);
        MemoryEstimate e;
        if (opt.memory_check) {
          e = probe_memory(cfg, mode, opt.timing.seed);
          for (int64_t b : opt.batches)
            check_fits(e, b, mem_available_bytes(),
                       fmt::format("{} {} {}", name, enum_name(mode), to_string(d)));
        }
        for (int64_t b : opt.batches) cases.push_back({cfg, d, mode, b}), estimates.push_back(e);
      }
  }

  Provenance prov = collect_provenance();
  prov.command = opt.command;
  prov.seed = opt.timing.seed;
  std::vector<std::string> mode_names, dtype_names;
  for (Mode m : opt.modes) mode_names.emplace_back(enum_name(m));
  for (DType d : opt.dtypes) dtype_names.emplace_back(to_string(d));
  const nlohmann::json config = {{"models", opt.models},
                                 {"overrides", opt.overrides},
                                 {"batches", opt.batches},
                                 {"modes", mode_names},
                                 {"dtypes", dtype_names},
                                 {"warmup", opt.timing.warmup},
                                 {"iters", opt.timing.iters},
                                 {"min_time_s", opt.timing.min_time},
                                 {"peak_size", opt.peak_size},
                                 {"peak_repeats", opt.peak_repeats},
                                 {"flop_convention", "GFLOP = 2 x MACs; train = 3 x forward MACs"}};
  ResultFile out(opt.output, "throughput", prov, config);

  ThroughputResult r;
  for (DType d : available_dtypes()) r.peaks[d] = {};  // no bf16 peak on a CPU without bf16
  measure_peaks(r.peaks, true, opt);
  for (size_t i = 0; i < cases.size(); ++i) {
    const ThroughputCase& c = cases[i];
    fmt::print(stderr, "[{}/{}] {} {} {} batch {}: ", i + 1, cases.size(), c.cfg.name, enum_name(c.mode),
               to_string(c.dtype), c.batch);
    Measurement m = measure(c, opt.timing);
    m.estimate = estimates[i];
    fmt::print(stderr, "{:.2f} img/s (p10 {:.2f}, p90 {:.2f}), {:.1f} GFLOP/s, {} iterations\n", m.ips.median,
               m.ips.p10, m.ips.p90, m.gflops, m.total_s.size());
    r.measurements.push_back(std::move(m));
  }
  measure_peaks(r.peaks, false, opt);

  for (auto& [d, s] : r.peaks) {
    const std::string g = fmt::format("gemm/{}", to_string(d));
    if (s.start.empty()) continue;
    out.write(g + "/start_gflops", s.start);
    out.write(g + "/end_gflops", s.end);
    out.attr("median_gflops", s.median(), g);
    out.attr("size", opt.peak_size, g);
  }
  for (Measurement& m : r.measurements) {
    // The reference is the median of the peaks at both ends of the run, so it is known only now.
    m.set_peak(r.peaks.count(m.c.dtype) ? r.peaks.at(m.c.dtype).median() : 0.0);
    write_measurement(out, m);
  }
  r.path = out.commit();
  return r;
}

}  // namespace vb::run
