// `vitbench train`: the flags of harness/run/train.hpp. Settings come from an experiment preset (--config
// experiments/<name>.json) and/or flags; a flag given overrides the preset.
#include <fmt/format.h>

#include "harness/cli/commands.hpp"
#include "harness/dist/mpi.hpp"
#include "harness/run/train.hpp"

namespace vb::cli {

namespace {

struct TrainOptions {
  train::TrainConfig given;  // flag values (defaults where not given)
  std::vector<std::pair<CLI::Option*, std::string>> keys;  // flag -> TrainConfig JSON key
  run::TrainOptions run;
  std::string output = "runs/run";  // a string, not run.output's path: CLI11 would print a path's default quoted
  bool json = false, quiet = false;
};

void run_train(const TrainOptions& o, const std::string& command) {
  run::TrainOptions ro = o.run;
  const nlohmann::json flags = o.given.to_json();
  for (const auto& [opt, key] : o.keys)
    if (opt->count() > 0) ro.settings[key] = flags[key];
  ro.output = o.output;
  ro.progress = !o.quiet;
  ro.command = command;
  const train::RunResult r = run::run_training(ro).run;
  if (o.json && !r.record.empty())
    fmt::print("{}\n", nlohmann::json{{"top1", r.test.top1}, {"top5", r.test.top5}, {"loss", r.test.loss},
                                      {"wall_s", r.wall_s}, {"images_per_s", r.images_per_s},
                                      {"best_val_top1", r.best_val.top1}, {"best_epoch", r.best_epoch},
                                      {"record", r.record.string()}}.dump());
}

}  // namespace

void add_train(CLI::App& app, const Common& common) {
  auto o = std::make_shared<TrainOptions>();
  auto* cmd = app.add_subcommand(
      "train", fmt::format("Train a model from scratch on a dataset; validation every epoch, test at the end, "
                           "checkpoints every epoch, one HDF5 run record. Data-parallel under `mpirun -np R` or "
                           "`srun --mpi=pmix` (the batch is split across ranks; docs/distributed.md); MPI: {}",
                           dist::mpi_compiled() ? "compiled in" : "not compiled in"));
  train::TrainConfig& g = o->given;
  auto key = [&](CLI::Option* opt, const std::string& k) { o->keys.emplace_back(opt, k); };
  cmd->add_option("-c,--config", o->run.config_file, "experiment preset (JSON of the settings below), e.g. "
                                                  "experiments/fmnist_resnet.json; flags override it");
  key(cmd->add_option("-m,--model", g.model, "model preset (see `vitbench models`)"), "model");
  key(cmd->add_option("--set", g.overrides, "override a model preset field, e.g. --set img_size=28")->take_all(),
      "overrides");
  key(cmd->add_option("-d,--dataset", g.dataset, "fashion-mnist (default), mnist:<dir>, folder:<root>, cifar10:<dir>, "
                                                 "synthetic[:k=v,...] (docs/data.md)"), "dataset");
  cmd->add_option("--cache-dir", o->run.cache_dir, "where decoded image folders are cached (default "
                                               "$XDG_CACHE_HOME/vitbench)");
  key(cmd->add_option("--val", g.val_size, "images held out of train for validation (stratified)")->capture_default_str(), "val_size");
  key(cmd->add_option("--train-size", g.train_size, "train on a stratified subset of this many images (0 = all)"), "train_size");
  key(cmd->add_flag("--upsample", g.upsample, "allow images smaller than the model input (bilinear resize)"), "upsample");
  key(cmd->add_option("-e,--epochs", g.epochs, "budget in epochs")->capture_default_str(), "epochs");
  key(cmd->add_option("--steps", g.steps, "budget in optimizer steps instead (overrides --epochs)"), "steps");
  key(cmd->add_option("-b,--batch", g.batch, "training batch size")->capture_default_str(), "batch");
  key(cmd->add_option("--eval-batch", g.eval_batch, "evaluation batch size")->capture_default_str(), "eval_batch");
  key(cmd->add_option("--opt", g.optimizer.name, "optimizer: adamw or sgd")->capture_default_str(), "optimizer");
  key(cmd->add_option("--lr", g.lr, "peak learning rate")->capture_default_str(), "lr");
  key(cmd->add_option("--min-lr", g.min_lr, "learning rate at the end of the cosine")->capture_default_str(), "min_lr");
  key(cmd->add_option("--warmup-epochs", g.warmup_epochs, "linear warm-up length (epochs, may be fractional)")->capture_default_str(), "warmup_epochs");
  key(cmd->add_option("--warmup-steps", g.warmup_steps, "warm-up length in optimizer steps (overrides "
                                                        "--warmup-epochs; equal across subset sizes)"), "warmup_steps");
  key(cmd->add_option("--weight-decay", g.optimizer.weight_decay, "weight decay (not on norms, biases, cls token, "
                                                                  "position tables)")->capture_default_str(), "weight_decay");
  key(cmd->add_option("--momentum", g.optimizer.momentum, "SGD momentum")->capture_default_str(), "momentum");
  key(cmd->add_flag("--nesterov", g.optimizer.nesterov, "Nesterov momentum (SGD)"), "nesterov");
  key(cmd->add_option("--label-smoothing", g.label_smoothing, "label smoothing")->capture_default_str(), "label_smoothing");
  key(cmd->add_option("--clip-grad", g.clip_grad, "clip the global gradient norm to this (0 = off)"), "clip_grad");
  key(cmd->add_option("--drop-path", g.drop_path, "stochastic depth rate of ViT/TNT (default: the preset's)"), "drop_path");
  key(cmd->add_option("--crop-pad", g.crop_pad, "random-crop padding (default: the dataset's)"), "crop_pad");
  key(cmd->add_option("--hflip", g.hflip, "random horizontal flip on/off (default: the dataset's)")
          ->check(CLI::IsMember({"on", "off"})), "hflip");
  key(cmd->add_option("--mixup", g.mixup, "mixup alpha (0 = off)"), "mixup");
  key(cmd->add_option("--cutmix", g.cutmix, "cutmix alpha (0 = off)"), "cutmix");
  key(cmd->add_option("-s,--seed", g.seed, "seed of init, split, shuffling, augmentation, stochastic depth"), "seed");
  key(cmd->add_flag("!--no-test-every-epoch", g.test_every_epoch, "evaluate test only at the end"), "test_every_epoch");
  key(cmd->add_option("--eval-every", g.eval_every, "validate and checkpoint every N optimizer steps (0 = every "
                                                    "epoch); keeps evaluation cheap on small subsets"), "eval_every");
  cmd->add_option("-o,--output", o->output, "run folder: record.h5, checkpoint.h5, best.h5")->capture_default_str();
  cmd->add_flag("--resume", o->run.resume, "continue the run in --output from its last checkpoint");
  cmd->add_option("--stop-after-epochs", o->run.stop_after_epochs, "stop after this many epochs of this invocation (a "
                                                        "job time limit); continue with --resume");
  cmd->add_flag("--json", o->json, "end with one JSON line of the final metrics (for scripts)");
  cmd->add_flag("-q,--quiet", o->quiet, "no progress bars");
  cmd->callback([o, &common] { run_train(*o, common.command); });
}

}  // namespace vb::cli
