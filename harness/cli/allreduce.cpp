// `vitbench allreduce`: the MPI_Allreduce message-size sweep and its alpha-beta fit (harness/dist/
// allreduce_bench.hpp), printed and written to an HDF5 result, for the scaling model of docs/distributed.md.
#include <fmt/format.h>

#include "harness/cli/commands.hpp"
#include "harness/dist/allreduce_bench.hpp"
#include "harness/dist/mpi.hpp"
#include "harness/results.hpp"

namespace vb::cli {

void add_allreduce(CLI::App& app, const Common& common) {
  struct Options {
    int64_t min_bytes = 4, max_bytes = int64_t{64} << 20;
    int repeats = 20;
    std::string output = "out/allreduce.h5";
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("allreduce",
                                 "Time MPI_Allreduce (float sum) over message sizes and fit latency + "
                                 "bandwidth; run under mpirun -np R (docs/distributed.md)");
  cmd->add_option("--min-bytes", o->min_bytes, "smallest message")->capture_default_str();
  cmd->add_option("--max-bytes", o->max_bytes, "largest message (sizes grow x4)")->capture_default_str();
  cmd->add_option("--repeats", o->repeats, "timed calls per size")->capture_default_str();
  cmd->add_option("-o,--output", o->output, "HDF5 result (rank 0 writes it)")->capture_default_str();
  cmd->callback([o, &common] {
    const auto points = dist::measure_allreduce(o->min_bytes, o->max_bytes, o->repeats);
    const dist::AlphaBeta fit = dist::fit_alpha_beta(points);
    if (dist::rank() != 0) return;
    Provenance prov = collect_provenance();
    prov.command = common.command;
    ResultFile out(o->output, "allreduce", prov,
                   {{"min_bytes", o->min_bytes},
                    {"max_bytes", o->max_bytes},
                    {"repeats", o->repeats},
                    {"world_size", dist::size()},
                    {"mpi", dist::mpi_library()}});
    std::vector<double> bytes, median;
    fmt::print("{:>12}  {:>12}  {:>10}\n", "bytes", "median us", "GB/s");
    for (const auto& p : points) {
      bytes.push_back(static_cast<double>(p.bytes));
      median.push_back(p.median());
      fmt::print("{:>12}  {:>12.2f}  {:>10.3f}\n", p.bytes, p.median() * 1e6, p.bytes / p.median() / 1e9);
      out.write(fmt::format("samples/{}", p.bytes), p.seconds);
    }
    out.write("bytes", bytes);
    out.write("median_s", median);
    out.attr("alpha_s", fit.alpha_s);
    out.attr("bandwidth_bytes_s", fit.bandwidth_bytes_s);
    out.attr("link_bandwidth_bytes_s", fit.link_bandwidth_bytes_s(dist::size()));
    fmt::print(
        "fit t = alpha + n / bw over {} ranks: alpha {:.2f} us, bw {:.3f} GB/s (ring link bandwidth "
        "{:.3f} GB/s); wrote {}\n",
        dist::size(), fit.alpha_s * 1e6, fit.bandwidth_bytes_s / 1e9,
        fit.link_bandwidth_bytes_s(dist::size()) / 1e9, out.commit().string());
  });
}

}  // namespace vb::cli
