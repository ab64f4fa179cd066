// `vitbench eval`: loss, top-1 and top-5 of a checkpoint on a dataset split, recorded in HDF5.
#include <chrono>
#include <numeric>

#include <fmt/format.h>

#include "harness/checkpoint.hpp"
#include "harness/cli/commands.hpp"
#include "harness/cli/model_options.hpp"
#include "models/config_fields.hpp"
#include "harness/results.hpp"
#include "harness/train/trainer.hpp"

namespace vb::cli {

namespace {

struct EvalOptions {
  ModelOptions model;
  std::string weights, dataset = "fashion-mnist", split = "test", output, cache_dir;
  int64_t batch = 256, val_size = 5000;
  uint64_t seed = 0;
  bool upsample = false, json = false, quiet = false;
};

void run_eval(const EvalOptions& o, const std::string& command) {
  const auto start = std::chrono::steady_clock::now();
  const data::Dataset ds = data::load_dataset(o.dataset, {o.cache_dir, !o.quiet});
  const ModelConfig mc = train::model_for(o.model.model, o.model.overrides, ds);
  auto model = create_model(mc);
  load_checkpoint(o.weights, *model);

  // The validation split is rebuilt exactly as training held it out (same val size and seed).
  const bool val = o.split == "val";
  const data::ImageSet& set = val ? ds.train : ds.test;
  std::vector<int64_t> indices;
  if (val) {
    indices = data::hold_out(ds.train.labels, o.val_size, o.seed).val;
  } else {
    indices.resize(ds.test.size());
    std::iota(indices.begin(), indices.end(), 0);
  }
  data::LoaderOptions lo;
  lo.batch = o.batch;
  lo.out_size = mc.img_size;
  lo.upsample = o.upsample;
  lo.normalize = ds.normalize;
  data::Loader loader(set, indices, lo);
  const train::Metrics m = train::evaluate(*model, loader, o.split, !o.quiet);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::string record;
  if (!o.output.empty()) {
    Provenance prov = collect_provenance();
    prov.seed = o.seed;
    prov.command = command;
    ResultFile f(o.output, "eval", prov,
                 {{"model", o.model.model}, {"overrides", o.model.overrides}, {"resolved_model", to_json(mc)},
                  {"weights", o.weights}, {"dataset", o.dataset}, {"split", o.split}, {"val_size", o.val_size},
                  {"images", m.images}, {"batch", o.batch}, {"upsample", o.upsample}});
    f.attr("loss", m.loss);
    f.attr("top1", m.top1);
    f.attr("top5", m.top5);
    f.attr("images", m.images);
    f.attr("wall_s", wall);
    record = f.commit().string();
  }
  if (o.json)
    fmt::print("{}\n", nlohmann::json{{"top1", m.top1}, {"top5", m.top5}, {"loss", m.loss}, {"images", m.images},
                                      {"wall_s", wall}, {"images_per_s", static_cast<double>(m.images) / wall},
                                      {"record", record}}.dump());
  else
    fmt::print("{} on {} {} ({} images): loss {:.4f}, top-1 {:.2f}%, top-5 {:.2f}%{}\n", mc.name, ds.name, o.split,
               m.images, m.loss, m.top1, m.top5, record.empty() ? "" : "; wrote " + record);
}

}  // namespace

void add_eval(CLI::App& app, const Common& common) {
  auto o = std::make_shared<EvalOptions>();
  auto* cmd = app.add_subcommand("eval", "Loss, top-1 and top-5 of a checkpoint on a dataset's test (or "
                                         "validation) split");
  o->model.add_to(*cmd, true);
  cmd->add_option("-w,--weights", o->weights, "checkpoint (a run's best.h5 or checkpoint.h5, or imported weights)")
      ->required();
  cmd->add_option("-d,--dataset", o->dataset, "dataset (as for train)")->capture_default_str();
  cmd->add_option("--split", o->split, "test, or val (the split train held out: give its --val and --seed)")
      ->check(CLI::IsMember({"test", "val"}))->capture_default_str();
  cmd->add_option("--val", o->val_size, "validation size used in training (--split val)")->capture_default_str();
  cmd->add_option("-s,--seed", o->seed, "seed used in training (--split val)");
  cmd->add_option("-b,--batch", o->batch, "batch size")->capture_default_str();
  cmd->add_option("--cache-dir", o->cache_dir, "image-folder cache (default $XDG_CACHE_HOME/vitbench)");
  cmd->add_flag("--upsample", o->upsample, "allow images smaller than the model input (bilinear resize)");
  cmd->add_option("-o,--output", o->output, "write an HDF5 record of the evaluation here");
  cmd->add_flag("--json", o->json, "print one JSON line of the metrics (for scripts)");
  cmd->add_flag("-q,--quiet", o->quiet, "no progress bar");
  cmd->callback([o, &common] { run_eval(*o, common.command); });
}

}  // namespace vb::cli
