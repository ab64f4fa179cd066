// `vitbench train`: the flags of harness/run/train.hpp. Settings come from an experiment preset (--config
// experiments/<name>.json) and/or flags; a flag given overrides the preset. The setting flags, their help and
// their JSON keys come from the one list in harness/train/train_fields.hpp.
#include "harness/run/train.hpp"

#include <fmt/format.h>

#include <type_traits>

#include "harness/cli/commands.hpp"
#include "harness/dist/mpi.hpp"
#include "harness/train/train_fields.hpp"

namespace vb::cli {

namespace {

struct TrainOptions {
  train::TrainConfig given;                                // flag values (defaults where not given)
  std::vector<std::pair<CLI::Option*, std::string>> keys;  // setting flag -> its JSON key
  run::TrainOptions run;
  std::string output =
      "runs/run";  // a string, not run.output's path: CLI11 would print a path's default quoted
  bool json = false, quiet = false;
};

void run_train(const TrainOptions& o, const std::string& command) {
  run::TrainOptions ro = o.run;
  const nlohmann::json flags = o.given.to_json();
  for (const auto& [opt, key] : o.keys)
    if (opt->count() > 0) ro.settings[key] = flags[key];
  ro.cache_dir = o.given.cache_dir;
  ro.checkpoint_minutes = o.given.checkpoint_minutes;
  ro.output = o.output;
  ro.progress = !o.quiet;
  ro.command = command;
  const train::RunResult r = run::run_training(ro).run;
  if (o.json && !r.record.empty())
    fmt::print("{}\n", nlohmann::json{{"top1", r.test.top1},
                                      {"top5", r.test.top5},
                                      {"loss", r.test.loss},
                                      {"wall_s", r.wall_s},
                                      {"images_per_s", r.images_per_s},
                                      {"best_val_top1", r.best_val.top1},
                                      {"best_epoch", r.best_epoch},
                                      {"record", r.record.string()}}
                           .dump());
}

// One flag per setting that has one, bound to its member of `given`.
void add_setting_flags(CLI::App& cmd, TrainOptions& o) {
  train::for_each_train_field(o.given, [&](const train::TrainField& f, auto& member) {
    if (!f.flag) return;
    using T = std::decay_t<decltype(member)>;
    CLI::Option* opt = nullptr;
    if constexpr (std::is_same_v<T, bool>) {
      opt = cmd.add_flag(f.flag, member, f.help);
    } else if constexpr (std::is_enum_v<T>) {  // one of its names (CLI11 would read an enum as its number)
      opt = cmd.add_option_function<std::string>(
          f.flag, [&member, key = f.key](const std::string& s) { member = parse_enum<T>(key, s); }, f.help);
      opt->check(CLI::IsMember(enum_names<T>()));
      if (f.show_default) opt->default_str(enum_name(member));
    } else {
      opt = cmd.add_option(f.flag, member, f.help);
      if (f.show_default) opt->capture_default_str();
    }
    if constexpr (std::is_same_v<T, std::vector<std::string>>) opt->take_all();
    if (f.key) o.keys.emplace_back(opt, f.key);
  });
}

}  // namespace

void add_train(CLI::App& app, const Common& common) {
  auto o = std::make_shared<TrainOptions>();
  auto* cmd = app.add_subcommand(
      "train",
      fmt::format("Train a model from scratch on a dataset; validation every epoch, test at the end, "
                  "checkpoints every epoch, one HDF5 run record. Data-parallel under `mpirun -np R` or "
                  "`srun --mpi=pmix` (the batch is split across ranks; docs/distributed.md); MPI: {}",
                  dist::mpi_compiled() ? "compiled in" : "not compiled in"));
  cmd->add_option("-c,--config", o->run.config_file,
                  "experiment preset (JSON of the settings below), e.g. "
                  "experiments/fmnist_resnet.json; flags override it");
  add_setting_flags(*cmd, *o);
  cmd->add_option("-o,--output", o->output, "run folder: record.h5, checkpoint.h5, best.h5")
      ->capture_default_str();
  cmd->add_flag("--resume", o->run.resume, "continue the run in --output from its last checkpoint");
  cmd->add_option("--stop-after-epochs", o->run.stop_after_epochs,
                  "stop after this many epochs of this invocation (a "
                  "job time limit); continue with --resume");
  cmd->add_flag("--json", o->json, "end with one JSON line of the final metrics (for scripts)");
  cmd->add_flag("-q,--quiet", o->quiet, "no progress bars");
  cmd->callback([o, &common] { run_train(*o, common.command); });
}

}  // namespace vb::cli
