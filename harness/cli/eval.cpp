// `vitbench eval`: the flags of harness/run/eval.hpp; prints the metrics (or one JSON line).
#include "harness/run/eval.hpp"

#include <fmt/format.h>

#include "harness/cli/commands.hpp"
#include "harness/cli/model_options.hpp"

namespace vb::cli {

namespace {

struct EvalOptions {
  ModelOptions model;
  run::EvalOptions run;
  bool json = false, quiet = false;
};

void run_eval(const EvalOptions& o, const std::string& command) {
  run::EvalOptions ro = o.run;
  ro.model = o.model.model;
  ro.overrides = o.model.overrides;
  ro.progress = !o.quiet;
  ro.command = command;
  const run::EvalResult r = run::evaluate_checkpoint(ro);
  const train::Metrics& m = r.metrics;
  const std::string record = r.record.string();
  if (o.json)
    fmt::print("{}\n", nlohmann::json{{"top1", m.top1},
                                      {"top5", m.top5},
                                      {"loss", m.loss},
                                      {"images", m.images},
                                      {"wall_s", r.wall_s},
                                      {"images_per_s", static_cast<double>(m.images) / r.wall_s},
                                      {"record", record}}
                           .dump());
  else
    fmt::print("{} on {} {} ({} images): loss {:.4f}, top-1 {:.2f}%, top-5 {:.2f}%{}\n", r.model.name,
               r.dataset, enum_name(ro.split), m.images, m.loss, m.top1, m.top5,
               record.empty() ? "" : "; wrote " + record);
}

}  // namespace

void add_eval(CLI::App& app, const Common& common) {
  auto o = std::make_shared<EvalOptions>();
  auto* cmd = app.add_subcommand("eval",
                                 "Loss, top-1 and top-5 of a checkpoint on a dataset's test (or "
                                 "validation) split");
  o->model.add_to(*cmd, true);
  cmd->add_option("-w,--weights", o->run.weights,
                  "checkpoint (a run's best.h5 or checkpoint.h5, or imported weights)")
      ->required();
  cmd->add_option("-d,--dataset", o->run.dataset, "dataset (as for train)")->capture_default_str();
  cmd->add_option_function<std::string>(
         "--split", [o](const std::string& s) { o->run.split = parse_enum<run::Split>("split", s); },
         "test, or val (the split train held out: give its --val and --seed)")
      ->check(CLI::IsMember(enum_names<run::Split>()))
      ->default_str("test");
  cmd->add_option("--val", o->run.val_size, "validation size used in training (--split val)")
      ->capture_default_str();
  cmd->add_option("-s,--seed", o->run.seed, "seed used in training (--split val)");
  cmd->add_option("-b,--batch", o->run.batch, "batch size")->capture_default_str();
  cmd->add_option("--cache-dir", o->run.cache_dir, "image-folder cache (default $XDG_CACHE_HOME/vitbench)");
  cmd->add_flag("--upsample", o->run.upsample, "allow images smaller than the model input (bilinear resize)");
  cmd->add_option("-o,--output", o->run.output, "write an HDF5 record of the evaluation here");
  cmd->add_flag("--json", o->json, "print one JSON line of the metrics (for scripts)");
  cmd->add_flag("-q,--quiet", o->quiet, "no progress bar");
  cmd->callback([o, &common] { run_eval(*o, common.command); });
}

}  // namespace vb::cli
