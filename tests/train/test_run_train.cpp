// The TrainConfig setting list, and run::train_config: how `vitbench train` (and a sweep line) turns an
// experiment preset and the settings given on top of it into the TrainConfig the trainer runs; errors name
// the file and the setting.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>

#include "harness/run/train.hpp"
#include "harness/train/train_fields.hpp"
#include "tests/support/temp_dir.hpp"

namespace vb::test {

TEST_CASE("a preset's settings, with the given ones on top, become the run's config", "[train][run]") {
  const auto dir = temp_dir("run_train_config");
  const auto preset = dir / "preset.json";
  std::ofstream(preset)
      << R"({"model": "resnet50_w16_32", "lr": 0.05, "batch": 64, "overrides": ["img_size=16"]})";
  run::TrainOptions o;
  o.config_file = preset.string();
  o.settings = {{"batch", 32}, {"seed", 4}};
  o.output = dir / "run";
  o.cache_dir = "cache";
  o.progress = false;
  const train::TrainConfig cfg = run::train_config(o), defaults;
  CHECK(cfg.model == "resnet50_w16_32");
  CHECK(cfg.lr == 0.05);                 // from the preset
  CHECK(cfg.batch == 32);                // the given setting wins
  CHECK(cfg.seed == 4);                  // given, not in the preset
  CHECK(cfg.epochs == defaults.epochs);  // in neither: the default
  CHECK(cfg.overrides == std::vector<std::string>{"img_size=16"});
  CHECK(cfg.output == dir / "run");  // local settings: never from the preset, never recorded
  CHECK(cfg.cache_dir == "cache");
  CHECK_FALSE(cfg.progress);
  CHECK_FALSE(cfg.to_json().contains("cache_dir"));

  o.settings = {{"epochz", 3}};
  CHECK_THROWS_WITH(run::train_config(o),
                    Catch::StartsWith(preset.string() + ": unknown training setting 'epochz'"));
  std::ofstream(preset) << "[1, 2]";
  o.settings = nlohmann::json::object();
  CHECK_THROWS_WITH(run::train_config(o),
                    Catch::Contains(preset.string() + ": a training config must be a JSON object"));
  o.config_file = (dir / "missing.json").string();
  CHECK_THROWS_WITH(run::train_config(o), Catch::Contains("missing.json: cannot open the experiment preset"));
  o.config_file.clear();
  CHECK_THROWS_WITH(run::train_config(o), Catch::Contains("no model"));
}

TEST_CASE("the setting list: every key and flag once, and JSON holds exactly the keyed settings",
          "[train][config]") {
  const train::TrainConfig c;
  std::set<std::string> keys, flags;
  train::for_each_train_field(c, [&](const train::TrainField& f, const auto&) {
    INFO((f.key ? f.key : "") << " " << (f.flag ? f.flag : ""));
    CHECK((f.key || f.flag));  // a setting neither recorded nor settable would be dead
    CHECK(std::string(f.help).size() > 3);
    if (f.key) CHECK(keys.insert(f.key).second);
    if (f.flag) CHECK(flags.insert(f.flag).second);
  });
  std::set<std::string> written;
  const nlohmann::json j = c.to_json();
  for (const auto& [k, v] : j.items()) written.insert(k);
  CHECK(written == keys);
  CHECK(keys.size() == 31);  // the run record's config keys (changing them changes every record)
}

TEST_CASE("enum settings are their names in JSON, and an unknown name is refused listing the known ones",
          "[train][config]") {
  const auto cfg = train::TrainConfig::from_json({{"optimizer", "sgd"}, {"hflip", "off"}});
  CHECK(cfg.optimizer.kind == train::OptimizerKind::sgd);
  CHECK(cfg.hflip == train::HFlip::off);
  CHECK(cfg.to_json()["optimizer"] == "sgd");
  CHECK(train::TrainConfig{}.to_json()["hflip"] == "");  // the dataset's default, as records have always said
  CHECK(train::TrainConfig::from_json({{"hflip", ""}}).hflip == train::HFlip::dataset);
  CHECK_THROWS_WITH(train::TrainConfig::from_json({{"hflip", "maybe"}}),
                    "training setting hflip: unknown hflip 'maybe'; known: on, off");
  CHECK_THROWS_WITH(train::TrainConfig::from_json({{"optimizer", "adam"}}),
                    Catch::Contains("known: adamw, sgd"));
}

}  // namespace vb::test
