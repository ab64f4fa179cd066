// Receptive fields as a library call; see rf.hpp.
#include "harness/run/rf.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <numeric>
#include <optional>

#include "harness/atomic_write.hpp"
#include "harness/checkpoint.hpp"
#include "harness/data/dataset.hpp"
#include "harness/data/loader.hpp"
#include "harness/provenance.hpp"
#include "harness/results.hpp"
#include "models/core/cpu.hpp"
#include "models/model.hpp"

namespace vb::run {

namespace {

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

}  // namespace

RfResult measure_rf_file(const RfOptions& opt) {
  require_writable_folder(opt.output.has_parent_path() ? opt.output.parent_path() : ".");  // before the work
  Provenance prov = collect_provenance();  // start_time: before the measurement
  std::optional<data::Dataset> loaded;
  ModelConfig cfg = opt.model;
  if (opt.adapt_to_dataset) {
    loaded = data::load_dataset(opt.dataset, {opt.cache_dir, false});
    cfg.in_chans = loaded->test.channels;
    cfg.num_classes = static_cast<int64_t>(loaded->test.classes.size());
  }
  cfg.drop_path = 0;  // measurements need a deterministic forward
  auto model = create_model(cfg);
  if (!opt.weights.empty())
    load_checkpoint(opt.weights, *model);
  else
    model->init(opt.seed);
  rf::resolve_layers(*model, opt.layers);  // bad names fail before the images are prepared
  if (cfg.img_size % opt.map_downsample != 0)
    throw std::invalid_argument(fmt::format("--map-downsample {} does not divide the {}-pixel maps of {}",
                                            opt.map_downsample, cfg.img_size, cfg.name));
  if (!loaded) loaded = data::load_dataset(opt.dataset, {opt.cache_dir, false});  // after the cheap checks
  const data::Dataset& ds = *loaded;
  const std::vector<float> images = load_images(opt, cfg, ds);
  RfResult r;
  r.upsampled = ds.test.height < cfg.img_size || ds.test.width < cfg.img_size;
  r.source_size = ds.test.height;

  const bool tty = isatty(fileno(stderr));
  const auto t0 = std::chrono::steady_clock::now();
  rf::MeasureOptions mo{.layers = opt.layers, .batch = opt.batch, .progress = {}};
  if (opt.progress)
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
  r.m = rf::measure_rf(*model, images, opt.images, mo);

  prov.command = opt.command;
  prov.seed = opt.weights.empty() ? opt.seed : 0;
  r.checkpoint = opt.weights.empty() ? "random init" : opt.weights;
  const nlohmann::json config = {{"model", cfg.name},
                                 {"overrides", opt.overrides},
                                 {"checkpoint", r.checkpoint},
                                 {"init_seed", opt.seed},
                                 {"dataset", opt.dataset},
                                 {"split", "test"},
                                 {"images", opt.images},
                                 {"data_seed", opt.data_seed},
                                 {"source_size", {ds.test.height, ds.test.width}},
                                 {"img_size", cfg.img_size},
                                 {"upsampled", r.upsampled},
                                 {"layers", opt.layers},
                                 {"batch", opt.batch},
                                 {"map_downsample", opt.map_downsample}};
  ResultFile out(opt.output, "rf", prov, config);
  out.attr("model", cfg.name);
  out.attr("family", to_string(cfg.family));
  out.attr("checkpoint", r.checkpoint);
  out.attr("dataset", opt.dataset);
  out.attr("images", opt.images);
  out.attr("upsampled", static_cast<int64_t>(r.upsampled));
  out.attr("img_size", cfg.img_size);
  rf::write_rf(out, r.m, opt.map_downsample);
  r.path = out.commit();
  r.model = cfg;
  return r;
}

}  // namespace vb::run
