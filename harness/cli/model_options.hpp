// The --model / --set options shared by every subcommand that builds a model.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "models/config.hpp"
#include "models/core/cpu.hpp"

namespace vb::cli {

struct ModelOptions {
  std::string model;
  std::vector<std::string> overrides;  // field=value

  void add_to(CLI::App& cmd, bool required) {
    auto* o = cmd.add_option("-m,--model", model, "model preset (see `vitbench models`), e.g. vit_small_patch16_224");
    if (required) o->required();
    cmd.add_option("--set", overrides, "override a preset field, e.g. --set pos_embed=learned_2d --set depth=6")
        ->take_all();
  }
  ModelConfig resolve() const {
    ModelConfig cfg = preset(model);
    for (const auto& o : overrides) apply_override(cfg, o);
    require_dtype(cfg.dtype, cfg.name);  // bf16 on a CPU without it: refused before any work or output
    return cfg;
  }
};

}  // namespace vb::cli
