// Each subcommand lives in its own file and registers itself on the CLI11 app through one of these.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "models/config.hpp"

namespace vb::cli {

// Options every subcommand shares, applied before the subcommand runs.
struct Common {
  int threads = 0;      // 0: OpenMP's default (OMP_NUM_THREADS or all cores)
  std::string command;  // the full command line, recorded in results
};

void add_info(CLI::App& app, const Common& common);
void add_models(CLI::App& app, const Common& common);
void add_predict(CLI::App& app, const Common& common);
void add_init(CLI::App& app, const Common& common);
void add_train(CLI::App& app, const Common& common);
void add_eval(CLI::App& app, const Common& common);
void add_rf(CLI::App& app, const Common& common);
void add_throughput(CLI::App& app, const Common& common);
void add_data(CLI::App& app, const Common& common);
void add_sweep(CLI::App& app, const Common& common);
void add_allreduce(CLI::App& app, const Common& common);

// The layer table of a model (used by `info --model`).
void print_model_summary(const ModelConfig& c);

}  // namespace vb::cli
