// `vitbench models`: the registered presets with parameters and cost; `vitbench info --model` uses the same
// cost table for its per-layer view.
#include <fmt/format.h>

#include "harness/cli/commands.hpp"
#include "models/config_fields.hpp"
#include "models/cost.hpp"
#include "models/families/families.hpp"

namespace vb::cli {

void print_model_summary(const ModelConfig& c) {
  const auto rows = cost_table(c);
  fmt::print("{} ({}, {}x{}x{} input, {} classes, {} compute)\n", c.name, to_string(c.family), c.in_chans,
             c.img_size, c.img_size, c.num_classes, to_string(c.dtype));
  fmt::print("  {:<26} {:>16} {:>12} {:>12}\n", "layer", "output", "params", "MMACs");
  for (const auto& r : rows)
    fmt::print("  {:<26} {:>16} {:>12} {:>12.1f}\n", r.name,
               fmt::format("({})", fmt::join(r.out_shape, ", ")), r.params, r.macs / 1e6);
  fmt::print("  {:<26} {:>16} {:>12} {:>12.1f}   (GFLOP = 2 x MACs = {:.2f})\n", "total", "",
             total_params(rows), total_macs(rows) / 1e6, 2 * total_macs(rows) / 1e9);
}

void add_models(CLI::App& app, const Common&) {
  auto* cmd = app.add_subcommand("models", "List the model presets with parameter counts and MACs per image");
  cmd->callback([] {
    fmt::print("{:<24} {:<7} {:>6} {:>13} {:>9}  {}\n", "preset", "family", "input", "params", "GMACs",
               "notes");
    for (const auto& name : preset_names()) {
      const ModelConfig& c = preset(name);
      const auto rows = cost_table(c);
      std::vector<std::string> notes;
      for (const auto& f : family_info(c.family).headline) notes.push_back(f + "=" + field_text(c, f));
      fmt::print("{:<24} {:<7} {:>6} {:>13} {:>9.3f}  {}\n", name, to_string(c.family), c.img_size,
                 total_params(rows), total_macs(rows) / 1e9, fmt::join(notes, " "));
    }
    fmt::print(
        "MACs = multiply-accumulates of one image (the papers' \"FLOPs\"); GFLOP = 2 x GMACs.\n"
        "Overrides: --set field=value (e.g. --set pos_embed=learned_2d, --set dtype=bf16). Details: vitbench "
        "info --model NAME\n");
  });
}

}  // namespace vb::cli
