// Every experiment preset (experiments/*.json) is valid: known settings of the right types, a registered
// model, and overrides the model accepts. A broken preset fails here rather than minutes into a run.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "harness/model_spec.hpp"
#include "harness/train/trainer.hpp"

namespace vb::test {

TEST_CASE("every experiment preset parses and names a registered model", "[train][experiments]") {
  const std::filesystem::path dir = std::filesystem::path(VITBENCH_FIXTURES) / ".." / ".." / "experiments";
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    INFO(entry.path().string());
    std::ifstream in(entry.path());
    const auto cfg = train::TrainConfig::from_json(nlohmann::json::parse(in));
    CHECK_NOTHROW(resolve_model(cfg.model, cfg.overrides));
    CHECK((cfg.epochs > 0 || cfg.steps > 0));
    ++n;
  }
  CHECK(n >= 2);
}

TEST_CASE("a bad preset is refused naming the setting", "[train][experiments]") {
  REQUIRE_THROWS_WITH(
      train::TrainConfig::from_json(nlohmann::json::parse(R"({"model": "resnet50", "lr": "fast"})")),
      Catch::Contains("'lr'"));
}

}  // namespace vb::test
