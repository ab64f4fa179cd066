// The --model / --set options shared by every subcommand that builds a model.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "harness/model_spec.hpp"

namespace vb::cli {

struct ModelOptions {
  std::string model;
  std::vector<std::string> overrides;  // field=value

  void add_to(CLI::App& cmd, bool required) {
    auto* o = cmd.add_option("-m,--model", model,
                             "model preset (see `vitbench models`), e.g. vit_small_patch16_224");
    if (required) o->required();
    cmd.add_option("--set", overrides,
                   "override a preset field, e.g. --set pos_embed=learned_2d --set depth=6")
        ->take_all();
  }
  // Refuses an unknown preset or field and bf16 on a CPU without it, before any work or output.
  ModelConfig resolve() const { return resolve_model(model, overrides); }
};

}  // namespace vb::cli
