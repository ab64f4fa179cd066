// The measurement loop of `vitbench throughput` and its JSON / HDF5 output.
#include "harness/throughput/throughput.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <chrono>
#include <stdexcept>

#include "harness/provenance.hpp"
#include "harness/results.hpp"
#include "harness/throughput/workload.hpp"
#include "models/core/cpu.hpp"
#include "models/cost.hpp"

namespace vb {

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

}  // namespace

// The timed loop on its own, never inlined: the CI gate counts instructions in exactly this function under
// `valgrind --tool=callgrind --toggle-collect='vb::timed_iterations*'` (scripts/throughput_gate.sh).
[[gnu::noinline]] void timed_iterations(Workload& w, const TimingOptions& opt, Measurement& m) {
  const auto start = clock_type::now();
  while (static_cast<int>(m.total_s.size()) < opt.iters || seconds_since(start) < opt.min_time) {
    double phases[3] = {0, 0, 0};
    const auto t0 = clock_type::now();
    iteration(w, phases);
    m.total_s.push_back(seconds_since(t0));
    if (w.mode == Mode::train) {
      m.forward_s.push_back(phases[0]);
      m.backward_s.push_back(phases[1]);
      m.step_s.push_back(phases[2]);
    }
  }
}

ModelConfig with_dtype(ModelConfig cfg, DType d) {
  require_dtype(d, cfg.name);
  cfg.dtype = d;
  return cfg;
}

MemoryEstimate probe_memory(const ModelConfig& cfg, Mode mode, uint64_t seed) {
  // Batches 2 and 4, not 1: training BatchNorm needs more than one value per channel.
  int64_t growth[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    const int64_t before = heap_in_use_bytes();
    Workload w = make_workload(cfg, mode, 2 << i, seed);
    iteration(w);
    growth[i] = heap_in_use_bytes() - before;
  }
  return estimate_from_probes(growth[0], growth[1], 2);
}

void Measurement::set_peak(double peak) {
  peak_gflops = peak;
  peak_fraction = peak > 0 ? gflops / peak : 0;
}

Measurement measure(const ThroughputCase& c, const TimingOptions& opt) {
  check_arg(c.batch > 0, "throughput", "batch must be positive");
  check_arg(opt.iters > 0, "throughput", "iters must be positive");
  Measurement m;
  m.c = c;
  m.threads = omp_get_max_threads();
  m.macs_per_image = total_macs(cost_table(c.cfg));
  m.flop_per_iter = flop_per_iteration(c.cfg, c.mode, c.batch);
  m.rss_before = current_rss_bytes();
  {
    Workload w = make_workload(c.cfg, c.mode, c.batch, opt.seed);
    m.params = w.model->num_params();
    for (int i = 0; i <= opt.warmup; ++i) iteration(w);  // the first builds the primitives
    timed_iterations(w, opt, m);
    m.rss_after = current_rss_bytes();
  }
  m.peak_rss = peak_rss_bytes();
  for (double t : m.total_s) m.images_per_s.push_back(static_cast<double>(c.batch) / t);
  m.ips = quantiles(m.images_per_s);
  m.latency_s = quantile(m.total_s, 0.5);
  m.gflops = m.flop_per_iter * m.ips.median / static_cast<double>(c.batch) / 1e9;
  return m;
}

nlohmann::json json_line(const Measurement& m) {
  nlohmann::json j = {{"model", m.c.cfg.name},
                      {"mode", enum_name(m.c.mode)},
                      {"dtype", to_string(m.c.dtype)},
                      {"batch", m.c.batch},
                      {"threads", m.threads},
                      {"images_per_s", m.ips.median},
                      {"p10", m.ips.p10},
                      {"p90", m.ips.p90},
                      {"gflops", m.gflops},
                      {"peak_fraction", m.peak_fraction},
                      {"latency_ms", 1e3 * m.latency_s},
                      {"iters", m.total_s.size()},
                      {"peak_rss_mb", static_cast<double>(m.peak_rss) / (1024.0 * 1024.0)}};
  if (m.c.mode == Mode::train) {
    j["forward_ms"] = 1e3 * quantile(m.forward_s, 0.5);
    j["backward_ms"] = 1e3 * quantile(m.backward_s, 0.5);
    j["step_ms"] = 1e3 * quantile(m.step_s, 0.5);
  }
  return j;
}

std::string group_name(const ThroughputCase& c) {
  return fmt::format("throughput/{}/{}/{}/batch{}", c.cfg.name, enum_name(c.mode), to_string(c.dtype),
                     c.batch);
}

void write_measurement(ResultFile& out, const Measurement& m) {
  const std::string g = group_name(m.c);
  out.write(g + "/total_s", m.total_s);
  out.write(g + "/images_per_s", m.images_per_s);
  if (m.c.mode == Mode::train) {
    out.write(g + "/forward_s", m.forward_s);
    out.write(g + "/backward_s", m.backward_s);
    out.write(g + "/step_s", m.step_s);
  }
  out.attr("model", m.c.cfg.name, g);
  out.attr("mode", enum_name(m.c.mode), g);
  out.attr("dtype", to_string(m.c.dtype), g);
  out.attr("batch", m.c.batch, g);
  out.attr("threads", int64_t{m.threads}, g);
  out.attr("params", m.params, g);
  out.attr("macs_per_image", m.macs_per_image, g);
  out.attr("flop_per_iter", m.flop_per_iter, g);
  out.attr("images_per_s_median", m.ips.median, g);
  out.attr("images_per_s_p10", m.ips.p10, g);
  out.attr("images_per_s_p90", m.ips.p90, g);
  out.attr("latency_s_median", m.latency_s, g);
  if (m.c.mode == Mode::train) {
    out.attr("forward_s_median", quantile(m.forward_s, 0.5), g);
    out.attr("backward_s_median", quantile(m.backward_s, 0.5), g);
    out.attr("step_s_median", quantile(m.step_s, 0.5), g);
  }
  out.attr("gflops", m.gflops, g);
  out.attr("peak_gflops", m.peak_gflops, g);
  out.attr("peak_fraction", m.peak_fraction, g);
  out.attr("rss_before_bytes", m.rss_before, g);
  out.attr("rss_after_bytes", m.rss_after, g);
  out.attr("rss_growth_bytes", m.rss_after - m.rss_before, g);
  out.attr("peak_rss_bytes", m.peak_rss, g);
  out.attr("estimate_fixed_bytes", m.estimate.fixed_bytes, g);
  out.attr("estimate_per_image_bytes", m.estimate.per_image_bytes, g);
}

}  // namespace vb
