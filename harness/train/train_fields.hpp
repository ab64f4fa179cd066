// TrainConfig's settings, listed once: the JSON key that run records and experiment presets use, and the
// `vitbench train` flag with its help. to_json / from_json (train_config.cpp) and the command's flags
// (harness/cli/train.cpp) both walk this list, so a new setting is one line here.
#pragma once

#include <string>
#include <vector>

#include "harness/train/trainer.hpp"

namespace vb::train {

struct TrainField {
  const char* key;  // JSON key; nullptr: a local setting, never recorded (where the image cache lives)
  const char*
      flag;  // CLI11 names, e.g. "-e,--epochs" ("!--no-x": a flag that sets false); nullptr: JSON only
  const char* help;
  bool show_default = false;  // --help prints the default value
};

// Calls v(field, member) for every setting, in the order of `vitbench train --help`; C is TrainConfig or
// const TrainConfig. An enum member is one of EnumNames<E>'s names in JSON and on the command line.
template <class C, class V>
void for_each_train_field(C& c, V&& v) {
  constexpr bool show = true;
  v({"model", "-m,--model", "model preset (see `vitbench models`)"}, c.model);
  v({"overrides", "--set", "override a model preset field, e.g. --set img_size=28"}, c.overrides);
  v({"dataset", "-d,--dataset",
     "fashion-mnist (default), mnist:<dir>, folder:<root>, cifar10:<dir>, synthetic[:k=v,...] "
     "(docs/data.md)"},
    c.dataset);
  v({nullptr, "--cache-dir", "where decoded image folders are cached (default $XDG_CACHE_HOME/vitbench)"},
    c.cache_dir);
  v({"val_size", "--val", "images held out of train for validation (stratified)", show}, c.val_size);
  v({"train_size", "--train-size", "train on a stratified subset of this many images (0 = all)"},
    c.train_size);
  v({"upsample", "--upsample", "allow images smaller than the model input (bilinear resize)"}, c.upsample);
  v({"epochs", "-e,--epochs", "budget in epochs", show}, c.epochs);
  v({"steps", "--steps", "budget in optimizer steps instead (overrides --epochs)"}, c.steps);
  v({"batch", "-b,--batch", "training batch size", show}, c.batch);
  v({"eval_batch", "--eval-batch", "evaluation batch size", show}, c.eval_batch);
  v({"optimizer", "--opt", "optimizer: adamw or sgd", show}, c.optimizer.kind);
  v({"lr", "--lr", "peak learning rate", show}, c.lr);
  v({"min_lr", "--min-lr", "learning rate at the end of the cosine", show}, c.min_lr);
  v({"warmup_epochs", "--warmup-epochs", "linear warm-up length (epochs, may be fractional)", show},
    c.warmup_epochs);
  v({"warmup_steps", "--warmup-steps",
     "warm-up length in optimizer steps (overrides --warmup-epochs; equal across subset sizes)"},
    c.warmup_steps);
  v({"weight_decay", "--weight-decay", "weight decay (not on norms, biases, cls token, position tables)",
     show},
    c.optimizer.weight_decay);
  v({"momentum", "--momentum", "SGD momentum", show}, c.optimizer.momentum);
  v({"nesterov", "--nesterov", "Nesterov momentum (SGD)"}, c.optimizer.nesterov);
  v({"label_smoothing", "--label-smoothing", "label smoothing", show}, c.label_smoothing);
  v({"clip_grad", "--clip-grad", "clip the global gradient norm to this (0 = off)"}, c.clip_grad);
  v({"drop_path", "--drop-path", "stochastic depth rate of ViT/TNT (default: the preset's)"}, c.drop_path);
  v({"crop_pad", "--crop-pad", "random-crop padding (default: the dataset's)"}, c.crop_pad);
  v({"hflip", "--hflip", "random horizontal flip on/off (default: the dataset's)"}, c.hflip);
  v({"mixup", "--mixup", "mixup alpha (0 = off)"}, c.mixup);
  v({"cutmix", "--cutmix", "cutmix alpha (0 = off)"}, c.cutmix);
  v({"seed", "-s,--seed", "seed of init, split, shuffling, augmentation, stochastic depth"}, c.seed);
  v({"test_every_epoch", "!--no-test-every-epoch", "evaluate test only at the end"}, c.test_every_epoch);
  v({"eval_every", "--eval-every",
     "validate and checkpoint every N optimizer steps (0 = every epoch); keeps evaluation cheap on small "
     "subsets"},
    c.eval_every);
  v({nullptr, "--checkpoint-minutes",
     "also save the run's state between evaluations after this many minutes of training (0 = only at "
     "evaluations): a killed run loses at most that much",
     show},
    c.checkpoint_minutes);
  // AdamW's constants: experiment presets may set them; no flag.
  v({"beta1", nullptr, "AdamW beta1"}, c.optimizer.beta1);
  v({"beta2", nullptr, "AdamW beta2"}, c.optimizer.beta2);
  v({"eps", nullptr, "AdamW epsilon"}, c.optimizer.eps);
}

}  // namespace vb::train
