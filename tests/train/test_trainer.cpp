// The trainer end to end on the synthetic dataset with a tiny ViT: it learns, it is bit-identical for the
// same seed and threads, a resumed run equals an uninterrupted one, and bad settings or a diverging loss stop
// it with a clear message and no record that looks complete.
#include <H5Cpp.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>

#include "harness/h5read.hpp"
#include "harness/train/trainer.hpp"
#include "tests/support/temp_dir.hpp"

namespace vb::test {

namespace {

// 4 classes of 16x16 synthetic images; a 2-block ViT with stochastic depth and mixup, so every random stream
// of a run (split, shuffle, augmentation, mixup, drop path) is exercised.
train::TrainConfig tiny(const std::filesystem::path& out) {
  train::TrainConfig c;
  c.model = "vit_tiny_patch4_32";
  c.overrides = {"img_size=16", "embed_dim=32", "depth=2", "num_heads=2", "mlp_dim=64"};
  c.dataset = "synthetic:train=384,test=128,classes=4,size=16,seed=3";
  c.val_size = 64;
  c.epochs = 3;
  c.batch = 32;
  c.eval_batch = 64;
  c.lr = 2e-3;
  c.warmup_epochs = 0.5;
  c.drop_path = 0.1;
  c.mixup = 0.2;
  c.seed = 7;
  c.output = out;
  c.progress = false;
  return c;
}

std::vector<double> step_losses(const std::filesystem::path& record) {
  return H5Input(record).read_f64("steps/loss");
}

}  // namespace

TEST_CASE("training learns and records every step and epoch", "[train][trainer]") {
  // 64 training images without augmentation, 15 epochs of 2 steps: the tiny ViT must fit them (chance is
  // 25%).
  const auto dir = temp_dir("train_learns");
  auto cfg = tiny(dir / "run");
  cfg.dataset = "synthetic:train=96,test=32,classes=4,size=16,seed=3";
  cfg.val_size = 32;
  cfg.epochs = 15;
  cfg.lr = 3e-3;
  cfg.warmup_epochs = 1;
  cfg.crop_pad = 0;
  cfg.mixup = 0;
  cfg.drop_path = 0;
  cfg.label_smoothing = 0;
  const auto r = train::train(cfg, false, "test");
  const H5Input rec(r.record);
  const auto train_loss = rec.read_f64("epochs/train_loss");
  const auto train_top1 = rec.read_f64("epochs/train_top1");
  CHECK(train_loss.back() < 0.85 * train_loss.front());
  CHECK(train_top1.back() > 50.0);
  CHECK(r.test.images == 32);
  CHECK(rec.shape("steps/loss") == Dims{30});
  CHECK(rec.shape("epochs/val_top1") == Dims{15});
  const auto lr = rec.read_f64("steps/lr");
  CHECK(lr[1] == Approx(3e-3));  // the end of the one-epoch (2-step) warm-up is the peak
  CHECK(lr[29] < 1e-4);
  CHECK(std::filesystem::exists(dir / "run" / "best.h5"));
  CHECK(std::filesystem::exists(dir / "run" / "checkpoint.h5"));
  const auto config = nlohmann::json::parse(rec.root_attr("config"));
  CHECK(config["resolved"]["model"]["in_chans"] == 3);
  CHECK(config["resolved"]["dataset"]["val_images"] == 32);
  CHECK(rec.root_attr("kind") == "train");
}

TEST_CASE("same seed and threads give bit-identical per-step losses, another seed does not",
          "[train][trainer]") {
  const auto dir = temp_dir("train_repro");
  auto a = tiny(dir / "a"), b = tiny(dir / "b"), c = tiny(dir / "c");
  a.epochs = b.epochs = c.epochs = 1;
  c.seed = 8;
  const auto la = step_losses(train::train(a, false, "test").record);
  const auto lb = step_losses(train::train(b, false, "test").record);
  const auto lc = step_losses(train::train(c, false, "test").record);
  CHECK(la == lb);  // exactly, not approximately
  CHECK(la != lc);
}

TEST_CASE("a run stopped after a checkpoint and resumed ends exactly as the uninterrupted run",
          "[train][trainer]") {
  const auto dir = temp_dir("train_resume");
  const auto whole = train::train(tiny(dir / "whole"), false, "test");
  const auto cfg = tiny(dir / "split");
  CHECK(train::train(cfg, false, "test", 1).record.empty());  // one epoch, then "killed"
  CHECK(std::filesystem::exists(dir / "split" / "checkpoint.h5"));
  CHECK_FALSE(std::filesystem::exists(dir / "split" / "record.h5"));
  const auto resumed = train::train(cfg, true, "test");
  CHECK(step_losses(resumed.record) == step_losses(whole.record));
  CHECK(resumed.test.top1 == whole.test.top1);
  CHECK(resumed.test.loss == whole.test.loss);
  CHECK(H5Input(resumed.record).read_f64("epochs/val_loss") ==
        H5Input(whole.record).read_f64("epochs/val_loss"));
  // The run's wall time counts both processes (the first up to its checkpoint), this one's is kept apart.
  const H5Input once(whole.record), twice(resumed.record);
  CHECK(once.root_attr_i64("sessions") == 1);
  CHECK(once.root_attr_f64("run_wall_s") == once.root_attr_f64("session_wall_s"));
  CHECK(twice.root_attr_i64("sessions") == 2);
  CHECK(twice.root_attr_f64("run_wall_s") > twice.root_attr_f64("session_wall_s"));
  CHECK(twice.root_attr_f64("run_wall_s") > twice.root_attr_f64("train_wall_s"));
}

TEST_CASE(
    "evaluating every K steps trains the same steps, and stopped mid-epoch and resumed it ends the same",
    "[train][trainer]") {
  // 320 training images / batch 32 = 10 steps per epoch, 3 epochs = 30 steps; eval_every 4 ends evaluation
  // periods mid-epoch (steps 4, 8, 12, ...) and the last one short (28-30).
  const auto dir = temp_dir("train_eval_every");
  const auto per_epoch = train::train(tiny(dir / "epoch"), false, "test");
  auto cfg = tiny(dir / "k4");
  cfg.eval_every = 4;
  cfg.test_every_epoch = false;
  const auto whole = train::train(cfg, false, "test");
  // Evaluation changes nothing in training: the same per-step losses and final test metrics.
  CHECK(step_losses(whole.record) == step_losses(per_epoch.record));
  CHECK(whole.test.loss == per_epoch.test.loss);
  const H5Input rec(whole.record);
  CHECK(rec.read_f64("epochs/step") == std::vector<double>{4, 8, 12, 16, 20, 24, 28, 30});
  CHECK(rec.shape("epochs/val_top1") == Dims{8});
  const auto test_top1 = rec.read_f64("epochs/test_top1");
  CHECK(std::isnan(test_top1[0]));  // test only at the end
  CHECK(test_top1.back() == whole.test.top1);
  CHECK(H5Input(per_epoch.record).read_f64("epochs/step") == std::vector<double>{10, 20, 30});
  // Stopped after 3 periods (step 12: inside epoch 2) and resumed: the same record.
  auto split = cfg;
  split.output = dir / "k4_split";
  CHECK(train::train(split, false, "test", 3).record.empty());
  const auto resumed = train::train(split, true, "test");
  CHECK(step_losses(resumed.record) == step_losses(whole.record));
  CHECK(H5Input(resumed.record).read_f64("epochs/val_loss") == rec.read_f64("epochs/val_loss"));
  CHECK(resumed.test.top1 == whole.test.top1);
}

TEST_CASE("mid-period checkpoints change nothing in training and are not recorded", "[train][trainer]") {
  // --checkpoint-minutes ~0: the state is saved before every step of a period but its first, so the run
  // writes its checkpoint 27 more times; the per-step losses and metrics are those of a run that saves only
  // at evaluations. (Killed after such a save and resumed, a run ends the same: tests/cli/kill_resume.sh
  // mid-period.)
  const auto dir = temp_dir("train_mid_period");
  auto plain = tiny(dir / "plain"), saving = tiny(dir / "saving");
  plain.checkpoint_minutes = 0;
  saving.checkpoint_minutes = 1e-9;
  const auto a = train::train(plain, false, "test");
  const auto b = train::train(saving, false, "test");
  CHECK(step_losses(a.record) == step_losses(b.record));
  CHECK(H5Input(a.record).read_f64("epochs/train_loss") == H5Input(b.record).read_f64("epochs/train_loss"));
  CHECK(a.test.loss == b.test.loss);
  // A local setting: the records' configs are equal, and a run resumes whatever the interval.
  CHECK(H5Input(a.record).root_attr("config") == H5Input(b.record).root_attr("config"));
  CHECK_FALSE(saving.to_json().contains("checkpoint_minutes"));
}

TEST_CASE("resume refuses other settings and a fresh run refuses a folder holding one", "[train][trainer]") {
  const auto dir = temp_dir("train_refuse");
  auto cfg = tiny(dir / "run");
  cfg.epochs = 2;
  train::train(cfg, false, "test", 1);
  REQUIRE_THROWS_WITH(train::train(cfg, false, "test"),
                      Catch::Contains("already holds a run") && Catch::Contains("--resume"));
  auto other = cfg;
  other.lr = 1e-3;
  REQUIRE_THROWS_WITH(train::train(other, true, "test"),
                      Catch::Contains("cannot resume") && Catch::Contains("lr: 0.002"));
  auto missing = tiny(dir / "nothing");
  REQUIRE_THROWS_WITH(train::train(missing, true, "test"), Catch::Contains("no checkpoint to resume from"));
}

TEST_CASE("resume refuses a checkpoint whose config attribute is damaged, naming the file",
          "[train][trainer]") {
  const auto dir = temp_dir("train_bad_config");
  auto cfg = tiny(dir / "run");
  cfg.epochs = 2;
  train::train(cfg, false, "test", 1);
  const auto ckpt = dir / "run" / "checkpoint.h5";
  auto set_config =
      [&](const std::string& text) {  // the file stays a complete checkpoint; only the attribute changes
        H5::H5File f(ckpt.string(), H5F_ACC_RDWR);
        H5::Group root = f.openGroup("/");
        root.removeAttr("config");
        const H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
        root.createAttribute("config", type, H5::DataSpace(H5S_SCALAR)).write(type, text);
      };
  set_config("{\"model\": \"vit_tiny");  // cut short
  REQUIRE_THROWS_WITH(train::train(cfg, true, "test"), Catch::Contains(ckpt.string()) &&
                                                           Catch::Contains("'config'") &&
                                                           Catch::Contains("not valid JSON"));
  set_config("[1, 2]");  // JSON of the wrong shape
  REQUIRE_THROWS_WITH(train::train(cfg, true, "test"), Catch::Contains(ckpt.string()) &&
                                                           Catch::Contains("'config'") &&
                                                           Catch::Contains("not an object"));
  set_config("{\"model\": 3}");  // an object, other settings: the differences are listed
  REQUIRE_THROWS_WITH(train::train(cfg, true, "test"), Catch::Contains(ckpt.string()) &&
                                                           Catch::Contains("cannot resume") &&
                                                           Catch::Contains("model: 3"));
}

TEST_CASE("a diverging loss stops the run naming the step, and leaves no record", "[train][trainer]") {
  const auto dir = temp_dir("train_nan");
  auto cfg = tiny(dir / "run");
  cfg.optimizer.kind = train::OptimizerKind::sgd;
  cfg.lr = cfg.min_lr = 1e12;
  cfg.warmup_epochs = 0;
  cfg.label_smoothing = 0;
  REQUIRE_THROWS_WITH(train::train(cfg, false, "test"),
                      Catch::Matches(".*step \\d+ \\(epoch 1.*(loss|gradient norm) is (nan|inf|-nan).*"));
  CHECK_FALSE(std::filesystem::exists(dir / "run" / "record.h5"));
  CHECK_FALSE(std::filesystem::exists(dir / "run" / "record.h5.partial"));
}

TEST_CASE("bad training settings are refused with the setting's name", "[train][trainer]") {
  const auto dir = temp_dir("train_bad");
  auto cfg = tiny(dir / "run");
  cfg.model = "resnet51";
  REQUIRE_THROWS_WITH(train::train(cfg, false, "test"), Catch::Contains("unknown model 'resnet51'"));
  cfg = tiny(dir / "run");
  cfg.val_size = 300;
  REQUIRE_THROWS_WITH(train::train(cfg, false, "test"), Catch::Contains("val_size 300"));
  cfg = tiny(dir / "run");
  cfg.train_size = 1000;
  REQUIRE_THROWS_WITH(train::train(cfg, false, "test"), Catch::Contains("train_size 1000"));
  cfg = tiny(dir / "run");
  cfg.overrides.push_back("patch_size=5");  // 16 px images do not split into 5 px patches
  REQUIRE_THROWS_WITH(train::train(cfg, false, "test"), Catch::Contains("patch"));
  cfg = tiny(dir / "run");
  cfg.lr = 0;
  REQUIRE_THROWS_WITH(train::train(cfg, false, "test"), Catch::Contains("lr"));
  cfg = tiny(dir / "run");
  cfg.checkpoint_minutes = NAN;
  REQUIRE_THROWS_WITH(train::train(cfg, false, "test"), Catch::Contains("--checkpoint-minutes must be >= 0"));
}

TEST_CASE("training settings round-trip through JSON and unknown keys are named", "[train][config]") {
  auto cfg = tiny("unused");
  cfg.optimizer.nesterov = true;
  cfg.hflip = train::HFlip::off;
  const auto back = train::TrainConfig::from_json(cfg.to_json());
  CHECK(back.to_json() == cfg.to_json());
  REQUIRE_THROWS_WITH(train::TrainConfig::from_json({{"epochz", 3}}),
                      Catch::Contains("unknown training setting 'epochz'"));
  REQUIRE_THROWS_WITH(train::TrainConfig::from_json({{"epochs", "three"}}), Catch::Contains("'epochs'"));
  // Integers are range-checked (tests/fuzz/corpus/preset_json/crash-5e83...: a seed beyond uint64, parsed as
  // a double, was an unchecked cast); whole floats are accepted.
  REQUIRE_THROWS_WITH(
      train::TrainConfig::from_json(nlohmann::json::parse(R"({"seed": 184246744073709551615})")),
      Catch::Contains("'seed'") && Catch::Contains("expected a whole number"));
  REQUIRE_THROWS_WITH(train::TrainConfig::from_json({{"seed", -1}}), Catch::Contains("'seed'"));
  REQUIRE_THROWS_WITH(train::TrainConfig::from_json({{"epochs", 2.5}}), Catch::Contains("'epochs'"));
  REQUIRE_THROWS_WITH(train::TrainConfig::from_json({{"batch", 1e19}}), Catch::Contains("'batch'"));
  CHECK(train::TrainConfig::from_json({{"epochs", 1e3}}).epochs == 1000);
  CHECK(train::TrainConfig::from_json({{"seed", 18446744073709551615ull}}).seed == UINT64_MAX);
}

}  // namespace vb::test
