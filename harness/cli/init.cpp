// `vitbench init`: a freshly initialised model (timm / torchvision initialisation, seeded) saved as a
// checkpoint, the starting point of a from-scratch run and a way to get weights for `predict` without
// training.
#include <fmt/format.h>

#include "harness/checkpoint.hpp"
#include "harness/cli/commands.hpp"
#include "harness/cli/model_options.hpp"

namespace vb::cli {

void add_init(CLI::App& app, const Common&) {
  struct Options {
    ModelOptions model;
    uint64_t seed = 0;
    std::string output;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "init", "Save a freshly initialised model (reference initialisation, seeded) as a checkpoint");
  opt->model.add_to(*cmd, true);
  cmd->add_option("--seed", opt->seed, "initialisation seed")->capture_default_str();
  cmd->add_option("-o,--output", opt->output, "checkpoint to write (HDF5, PyTorch state_dict keys)")
      ->required();
  cmd->callback([opt] {
    auto model = create_model(opt->model.resolve());
    model->init(opt->seed);
    save_checkpoint(opt->output, *model);
    fmt::print("{} ({} parameters, seed {}) -> wrote {}\n", model->config().name, model->num_params(),
               opt->seed, opt->output);
  });
}

}  // namespace vb::cli
