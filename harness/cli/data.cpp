// `vitbench data`: what a dataset spec loads to (splits, sizes, image shape, classes and their counts,
// normalisation, augmentation defaults, the folder cache), to check a dataset before training on it.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "harness/cli/commands.hpp"
#include "harness/data/dataset.hpp"
#include "harness/data/sources.hpp"

namespace vb::cli {

namespace {

struct DataOptions {
  std::string dataset = "fashion-mnist";
  std::string cache_dir;
  bool quiet = false;
};

void run_data(const DataOptions& opt) {
  data::DatasetOptions dopt;
  dopt.cache_dir = opt.cache_dir;
  dopt.progress = !opt.quiet;
  const data::Dataset d = data::load_dataset(opt.dataset, dopt);
  fmt::print("dataset   {} ({})\n", d.name, opt.dataset);
  if (opt.dataset.rfind("folder:", 0) == 0) fmt::print("cache     {}\n", data::cache_dir(dopt).string());
  for (const data::ImageSet* s : {&d.train, &d.test}) {
    fmt::print("{:<9} {} images of {}x{}x{} (C x H x W) from {}\n", s->name.substr(s->name.rfind('/') + 1),
               s->size(), s->channels, s->height, s->width, s->source);
  }
  fmt::print("classes   {}\n", d.train.classes.size());
  std::vector<int64_t> train(d.train.classes.size(), 0), test(d.train.classes.size(), 0);
  for (int32_t l : d.train.labels) ++train[l];
  for (int32_t l : d.test.labels) ++test[l];
  for (size_t c = 0; c < d.train.classes.size(); ++c)
    fmt::print("  {:>3} {:<20} train {:>7}  test {:>7}\n", c, d.train.classes[c], train[c], test[c]);
  fmt::print("normalise mean {::.4f} std {::.4f}\n", d.normalize.mean, d.normalize.std);
  fmt::print("augment   crop_pad {}, hflip {} (defaults for training)\n", d.augment.crop_pad,
             d.augment.hflip ? "on" : "off");
}

}  // namespace

void add_data(CLI::App& app, const Common&) {
  auto opt = std::make_shared<DataOptions>();
  auto* cmd = app.add_subcommand("data",
                                 "Load a dataset and print its splits, image shape, classes, "
                                 "normalisation and augmentation defaults (see docs/data.md)");
  cmd->add_option("-d,--dataset", opt->dataset,
                  "fashion-mnist | fashion-mnist:<dir> | mnist:<dir> | folder:<root> | cifar10:<dir> | "
                  "synthetic[:key=value,...]")
      ->capture_default_str();
  cmd->add_option(
      "--cache-dir", opt->cache_dir,
      "where decoded image folders are cached (default: $XDG_CACHE_HOME/vitbench or ~/.cache/vitbench)");
  cmd->add_flag("-q,--quiet", opt->quiet, "no progress line while decoding a folder");
  cmd->callback([opt] { run_data(*opt); });
}

}  // namespace vb::cli
