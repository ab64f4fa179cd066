// vitbench: the command-line entry point. Subcommands are declared in commands.hpp, one file each.
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#include "harness/cli/commands.hpp"
#include "harness/dist/mpi.hpp"
#include "harness/stop_request.hpp"

namespace {
// One write per message, so that the lines of several ranks sharing a terminal do not interleave.
void print_error(const std::exception& e) {
  const std::string rank = vb::dist::multi() ? " (rank " + std::to_string(vb::dist::rank()) + ")" : "";
  const std::string line = "vitbench: error" + rank + ": " + e.what() + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}
}  // namespace

int main(int argc, char** argv) {
  vb::dist::Session mpi(argc, argv);  // MPI only under mpirun/srun (docs/distributed.md)
  CLI::App app{
      "vitbench: ResNet-50 vs ViT vs TNT on oneDNN - accuracy, throughput, receptive fields.\n"
      "Run `vitbench <command> --help` for a command's options."};
  app.require_subcommand(1);
  vb::cli::Common common;
  for (int i = 0; i < argc; ++i) common.command += (i ? " " : "") + std::string(argv[i]);
  app.add_option("--threads", common.threads, "OpenMP threads (default: OMP_NUM_THREADS or all cores)")
      ->check(CLI::NonNegativeNumber);
  app.parse_complete_callback([&] {
    if (common.threads > 0) {
      omp_set_num_threads(common.threads);
      vb::dist::set_threads_rule("--threads");
    } else if (std::getenv("OMP_NUM_THREADS")) {
      vb::dist::set_threads_rule("OMP_NUM_THREADS");
    } else if (vb::dist::multi()) {  // ranks sharing a node share its cores
      std::string why;
      omp_set_num_threads(vb::dist::default_threads(&why));
      vb::dist::set_threads_rule(why);
    }
  });
  vb::cli::add_info(app, common);
  vb::cli::add_models(app, common);
  vb::cli::add_init(app, common);
  vb::cli::add_predict(app, common);
  vb::cli::add_train(app, common);
  vb::cli::add_eval(app, common);
  vb::cli::add_rf(app, common);
  vb::cli::add_throughput(app, common);
  vb::cli::add_data(app, common);
  vb::cli::add_sweep(app, common);
  vb::cli::add_allreduce(app, common);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const vb::Stopped& e) {  // a stop request (stop_request.hpp), the state saved: every rank is here
    const std::string line = std::string("vitbench: ") + e.what() + "\n";
    if (!vb::dist::multi() || vb::dist::rank() == 0) std::fwrite(line.data(), 1, line.size(), stderr);
    return e.exit_status();
  } catch (const vb::dist::CollectiveError& e) {  // every rank is here with this message: a clean exit
    print_error(e);
    return 1;
  } catch (const std::exception& e) {
    print_error(e);
    vb::dist::abort_job(1);  // the other ranks may be waiting for this one: end the job, do not hang it
    return 1;
  }
  return 0;
}
