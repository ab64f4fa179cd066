// `vitbench rf`: receptive fields of a model (checkpoint or seeded random init) on N test images of a
// dataset: theoretical fields, effective receptive-field maps and scalars per tap, mean attention distance
// per block and head. Writes a `kind = rf` result (docs/results.md, docs/receptive_fields.md).
#include "harness/run/rf.hpp"

#include <fmt/format.h>

#include "harness/cli/commands.hpp"
#include "harness/cli/model_options.hpp"

namespace vb::cli {

namespace {

struct RfOptions {
  ModelOptions model;
  std::string weights;  // empty: random init with `seed`
  uint64_t seed = 0;
  std::string dataset;
  int64_t images = 0;
  uint64_t data_seed = 0;
  std::vector<std::string> layers;
  bool upsample = false;
  int64_t batch = 8;
  int64_t map_downsample = 1;
  std::string output;
  bool json = false;
};

void run_rf(const RfOptions& opt, const std::string& command) {
  run::RfOptions ro;
  ro.model = opt.model.resolve();
  ro.overrides = opt.model.overrides;
  ro.weights = opt.weights;
  ro.seed = opt.seed;
  ro.dataset = opt.dataset;
  ro.images = opt.images;
  ro.data_seed = opt.data_seed;
  ro.layers = opt.layers;
  ro.upsample = opt.upsample;
  ro.batch = opt.batch;
  ro.map_downsample = opt.map_downsample;
  ro.output = opt.output;
  ro.command = command;
  const run::RfResult r = run::measure_rf_file(ro);
  const ModelConfig& cfg = r.model;
  const rf::RfMeasurement& m = r.m;
  const std::string& checkpoint = r.checkpoint;
  const bool upsampled = r.upsampled;
  const auto& path = r.path;

  if (opt.json) {
    nlohmann::json j = {{"model", cfg.name},
                        {"checkpoint", checkpoint},
                        {"images", opt.images},
                        {"upsampled", upsampled},
                        {"output", path.string()}};
    for (const auto& e : m.layers)
      j["layers"].push_back(
          {{"name", e.name},
           {"depth", e.depth},
           {"words", e.words},
           {"theoretical", e.theoretical.whole_image ? cfg.img_size : e.theoretical.field.size},
           {"side20", e.scalars.side20},
           {"side50", e.scalars.side50},
           {"side90", e.scalars.side90},
           {"side99", e.scalars.side99},
           {"area90", e.scalars.area90},
           {"sigma", e.scalars.sigma}});
    j["attention_outer"] = m.attention_outer;
    j["attention_inner"] = m.attention_inner;
    fmt::print("{}\n", j.dump(1));
    return;
  }
  fmt::print("{} ({}), {} test images of {}{}\n", cfg.name,
             checkpoint == "random init" ? fmt::format("random init, seed {}", opt.seed) : checkpoint,
             opt.images, opt.dataset,
             upsampled ? fmt::format(" upsampled {}->{}", r.source_size, cfg.img_size) : "");
  fmt::print("{:<18} {:>6} {:>11} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7}\n", "layer", "depth", "theoretical",
             "erf20", "erf50", "erf90", "erf99", "area90", "sigma");
  for (const auto& e : m.layers)
    fmt::print("{:<18} {:>6.3f} {:>11} {:>6} {:>6} {:>6} {:>6} {:>7.4f} {:>7.2f}\n", e.name, e.depth,
               e.theoretical.whole_image ? "image" : std::to_string(e.theoretical.field.size),
               e.scalars.side20, e.scalars.side50, e.scalars.side90, e.scalars.side99, e.scalars.area90,
               e.scalars.sigma);
  auto att = [](const char* what, const std::vector<std::vector<double>>& d) {
    if (d.empty()) return;
    fmt::print("mean attention distance ({}, px), first block: {:.1f}; last block: {:.1f}\n", what,
               fmt::join(d.front(), " "), fmt::join(d.back(), " "));
  };
  att("patches", m.attention_outer);
  att("words", m.attention_inner);
  fmt::print("wrote {}\n", path.string());
}

}  // namespace

void add_rf(CLI::App& app, const Common& common) {
  auto opt = std::make_shared<RfOptions>();
  auto* cmd = app.add_subcommand("rf",
                                 "Receptive fields: theoretical, effective (gradient of the centre unit of "
                                 "each block/stage, averaged over "
                                 "N test images) and mean attention distance; docs/receptive_fields.md");
  opt->model.add_to(*cmd, true);
  auto* w =
      cmd->add_option("-w,--weights", opt->weights, "checkpoint (HDF5); without it, random init with --seed");
  cmd->add_option("--seed", opt->seed, "initialisation seed (random init)")
      ->capture_default_str()
      ->excludes(w);
  cmd->add_option("-d,--dataset", opt->dataset,
                  "dataset spec: fashion-mnist, folder:<root> (e.g. CIFAR-10 as an image folder), "
                  "cifar10:<dir> (its binary version), synthetic[:...]")
      ->required();
  cmd->add_option("-n,--images", opt->images, "test images to average over (a seeded stratified subset)")
      ->required()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--data-seed", opt->data_seed, "seed of the stratified subset")->capture_default_str();
  cmd->add_option("--layers", opt->layers,
                  "taps to map, comma-separated, e.g. layer1.2,layer4.2 or blocks.0,blocks.11 "
                  "(default: all; an unknown name lists the valid ones)")
      ->delimiter(',');
  cmd->add_flag("--upsample", opt->upsample,
                "resize images smaller than the model's input (bilinear), e.g. CIFAR->224");
  cmd->add_option("--batch", opt->batch, "images per forward")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--map-downsample", opt->map_downsample,
                  "store maps summed over KxK pixel blocks (scalars use full resolution)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("-o,--output", opt->output, "HDF5 result to write")->required();
  cmd->add_flag("--json", opt->json, "print the per-layer scalars and attention distances as JSON");
  cmd->callback([opt, &common] { run_rf(*opt, common.command); });
}

}  // namespace vb::cli
