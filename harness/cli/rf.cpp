// `vitbench rf`: receptive fields of a model (checkpoint or seeded random init) on N test images of a
// dataset: theoretical fields, effective receptive-field maps and scalars per tap, mean attention distance
// per block and head. Writes a `kind = rf` result (docs/results.md, docs/receptive_fields.md).
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <numeric>

#include "harness/checkpoint.hpp"
#include "harness/cli/commands.hpp"
#include "harness/cli/model_options.hpp"
#include "harness/data/dataset.hpp"
#include "harness/data/loader.hpp"
#include "harness/results.hpp"
#include "harness/rf/measure.hpp"
#include "models/model.hpp"

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

// The first n images of a seeded stratified subset of the dataset's test split, brought to the model's input
// size by the loader's rules, normalised: (n, C, S, S).
std::vector<float> load_images(const RfOptions& opt, const ModelConfig& cfg, const data::Dataset& ds) {
  const data::ImageSet& test = ds.test;
  if (opt.images > test.size())
    throw std::invalid_argument(fmt::format("--images {}: the test split of {} has only {} images",
                                            opt.images, opt.dataset, test.size()));
  if (test.channels != cfg.in_chans)
    throw std::invalid_argument(
        fmt::format("{} has {} channel(s), model {} expects in_chans={} (for grey data use "
                    "--set in_chans={})",
                    opt.dataset, test.channels, cfg.name, cfg.in_chans, test.channels));
  if ((test.height < cfg.img_size || test.width < cfg.img_size) && !opt.upsample)
    throw std::invalid_argument(
        fmt::format("{} images are {}x{}, model {} takes {}x{}: pass --upsample to resize "
                    "them (bilinear)",
                    opt.dataset, test.height, test.width, cfg.name, cfg.img_size, cfg.img_size));
  std::vector<int64_t> all(static_cast<size_t>(test.size()));
  std::iota(all.begin(), all.end(), 0);
  const auto subset = data::stratified_subset(test.labels, all, opt.images, opt.data_seed);
  data::LoaderOptions lo;
  lo.batch = opt.images;
  lo.out_size = cfg.img_size;
  lo.upsample = opt.upsample;
  lo.normalize = ds.normalize;
  lo.seed = opt.data_seed;
  lo.prefetch = 0;
  data::Loader loader(test, {subset.begin(), subset.begin() + opt.images}, lo);
  loader.start_epoch(0);
  std::vector<float> out;
  data::Batch b;
  while (loader.next(b)) out.insert(out.end(), b.images.begin(), b.images.end());
  return out;
}

void run_rf(const RfOptions& opt, const std::string& command) {
  ModelConfig cfg = opt.model.resolve();
  cfg.drop_path = 0;  // measurements need a deterministic forward
  auto model = create_model(cfg);
  if (!opt.weights.empty())
    load_checkpoint(opt.weights, *model);
  else
    model->init(opt.seed);
  rf::resolve_layers(*model, opt.layers);  // bad names fail before the data is read
  if (cfg.img_size % opt.map_downsample != 0)
    throw std::invalid_argument(fmt::format("--map-downsample {} does not divide the {}-pixel maps of {}",
                                            opt.map_downsample, cfg.img_size, cfg.name));

  const data::Dataset ds = data::load_dataset(opt.dataset);
  const std::vector<float> images = load_images(opt, cfg, ds);
  const bool upsampled = ds.test.height < cfg.img_size || ds.test.width < cfg.img_size;

  const bool tty = isatty(fileno(stderr));
  const auto t0 = std::chrono::steady_clock::now();
  rf::MeasureOptions mo{.layers = opt.layers, .batch = opt.batch, .progress = {}};
  mo.progress = [&](int64_t done, int64_t n, size_t k, size_t taps, const std::string& name) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (tty)
      fmt::print(stderr, "\rrf {}: images {}/{}, layer {}/{} {:<16} {:7.1f} s", cfg.name, done, n, k + 1,
                 taps, name, s);
    else  // one short line per layer
      fmt::print(stderr, "rf {}: images {}/{}, layer {}/{} {}, {:.1f} s\n", cfg.name, done, n, k + 1, taps,
                 name, s);
    if (tty && k + 1 == taps && done == n) fmt::print(stderr, "\n");
  };
  const rf::RfMeasurement m = rf::measure_rf(*model, images, opt.images, mo);

  Provenance prov = collect_provenance();
  prov.command = command;
  prov.seed = opt.weights.empty() ? opt.seed : 0;
  const std::string checkpoint = opt.weights.empty() ? "random init" : opt.weights;
  const nlohmann::json config = {{"model", cfg.name},
                                 {"overrides", opt.model.overrides},
                                 {"checkpoint", checkpoint},
                                 {"init_seed", opt.seed},
                                 {"dataset", opt.dataset},
                                 {"split", "test"},
                                 {"images", opt.images},
                                 {"data_seed", opt.data_seed},
                                 {"source_size", {ds.test.height, ds.test.width}},
                                 {"img_size", cfg.img_size},
                                 {"upsampled", upsampled},
                                 {"layers", opt.layers},
                                 {"batch", opt.batch},
                                 {"map_downsample", opt.map_downsample}};
  ResultFile out(opt.output, "rf", prov, config);
  out.attr("model", cfg.name);
  out.attr("family", to_string(cfg.family));
  out.attr("checkpoint", checkpoint);
  out.attr("dataset", opt.dataset);
  out.attr("images", opt.images);
  out.attr("upsampled", static_cast<int64_t>(upsampled));
  out.attr("img_size", cfg.img_size);
  rf::write_rf(out, m, opt.map_downsample);
  const auto path = out.commit();

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
             upsampled ? fmt::format(" upsampled {}->{}", ds.test.height, cfg.img_size) : "");
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
  cmd->add_option(
         "-d,--dataset", opt->dataset,
         "dataset spec: fashion-mnist, folder:<root> (e.g. CIFAR-10 as an image folder), cifar10:<dir> (its binary version), synthetic[:...]")
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
