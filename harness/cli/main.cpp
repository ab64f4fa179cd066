// vitbench: the command-line entry point. Subcommands are declared in commands.hpp, one file each.
#include <omp.h>

#include <exception>
#include <iostream>

#include "harness/cli/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"vitbench: ResNet-50 vs ViT vs TNT on oneDNN - accuracy, throughput, receptive fields.\n"
               "Run `vitbench <command> --help` for a command's options."};
  app.require_subcommand(1);
  vb::cli::Common common;
  for (int i = 0; i < argc; ++i) common.command += (i ? " " : "") + std::string(argv[i]);
  app.add_option("--threads", common.threads, "OpenMP threads (default: OMP_NUM_THREADS or all cores)")
      ->check(CLI::NonNegativeNumber);
  app.parse_complete_callback([&] {
    if (common.threads > 0) omp_set_num_threads(common.threads);
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "vitbench: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
