// Fuzz targets for the text inputs: experiment presets (TrainConfig JSON), sweep files, `--set` overrides.
#include <nlohmann/json.hpp>

#include "harness/model_spec.hpp"
#include "harness/run/sweep.hpp"
#include "harness/train/trainer.hpp"
#include "models/config_fields.hpp"
#include "models/cost.hpp"
#include "tests/fuzz/targets.hpp"

namespace vb::fuzz {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// What `vitbench info` prints for a config: the cost table and its totals (UBSan catches an overflow in
// them).
void cost_of(const ModelConfig& mc) {
  const auto rows = cost_table(mc);
  (void)total_params(rows);
  (void)total_macs(rows);
}

// Sweep files name datasets; the target plans them against small synthetic data instead, so that planning
// never reads the disk's datasets (a folder: spec could walk the file system): every "dataset" value that is
// not a synthetic one, and the base's default (Fashion-MNIST), become synthetic:train=96,test=32,size=8.
void synthetic_data(json& j) {
  const json small = "synthetic:train=96,test=32,size=8";
  auto fix = [&](json& settings, bool add) {
    if (!settings.is_object()) return;
    if (!settings.contains("dataset")) {
      if (add) settings["dataset"] = small;
    } else if (!settings["dataset"].is_string() ||
               !settings["dataset"].get<std::string>().starts_with("synthetic")) {
      settings["dataset"] = small;
    }
  };
  if (!j.is_object()) return;
  if (j.contains("base")) fix(j["base"], true);
  if (j.contains("arms") && j["arms"].is_array())
    for (json& arm : j["arms"])
      if (arm.is_object() && arm.contains("set")) fix(arm["set"], false);
  if (j.contains("tiers") && j["tiers"].is_object())
    for (auto& [name, tier] : j["tiers"].items())
      if (tier.is_object() && tier.contains("set")) fix(tier["set"], false);
  for (const char* axes_at : {"axes"})
    if (j.contains(axes_at) && j[axes_at].is_object() && j[axes_at].contains("dataset") &&
        j[axes_at]["dataset"].is_array())
      for (json& v : j[axes_at]["dataset"])
        if (!v.is_string() || !v.get<std::string>().starts_with("synthetic")) v = small;
}

}  // namespace

// As `vitbench train --config <file>` reads it: JSON, then the TrainConfig table, then the model it names.
std::string preset_json(const uint8_t* data, size_t size) {
  json j;
  try {
    j = json::parse(data, data + size);
  } catch (const json::exception&) {
    return "";  // the CLI reports "<file>: not valid JSON: ..." (tests/cli covers the message)
  }
  return expect_clear_error("", [&] {
    const train::TrainConfig c = train::TrainConfig::from_json(j);
    if (train::TrainConfig::from_json(c.to_json()).to_json() != c.to_json())
      violated("TrainConfig: to_json/from_json does not round-trip");
    if (!c.model.empty()) cost_of(resolve_model(c.model, c.overrides));
  });
}

// `vitbench sweep plan <file> --tier smoke`: every error names the sweep file.
std::string sweep_json(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    json j = json::parse(text);
    synthetic_data(j);
    text = j.dump();
  } catch (const json::exception&) {
    // not JSON: planned as it is, for the "not valid JSON" path
  }
  const fs::path file = scratch() / "sweep.json";
  write_file(file, text);
  setenv("XDG_CACHE_HOME", (scratch() / "cache").c_str(), 1);
  run::PlanOptions opt;
  opt.sweep_file = file;
  opt.tier = "smoke";
  opt.out = scratch() / "plan";
  opt.threads = 1;
  opt.allow_dirty = true;
  opt.force = true;
  return expect_clear_error(file.string(), [&] {
    const run::Plan p = run::plan(opt);
    if (run::load_plan(p.dir).runs.size() != p.runs.size()) violated("sweep: the manifest read back differs");
  });
}

// Input: the first line names a preset (or, if it is none, picks one by its first byte); every other line is
// one `--set` override. Then the cost table `vitbench info --model` prints, and the config's JSON round trip.
std::string set_override(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> lines;
  for (size_t at = 0; at <= text.size();) {
    const size_t end = std::min(text.find('\n', at), text.size());
    lines.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  const auto names = preset_names();
  std::string model = lines[0];
  if (std::find(names.begin(), names.end(), model) == names.end())
    model = names[size ? data[0] % names.size() : 0];
  return expect_clear_error("", [&] {
    ModelConfig mc = preset(model);
    for (size_t i = 1; i < lines.size(); ++i) apply_override(mc, lines[i]);
    cost_of(mc);
    ModelConfig back = preset(model);
    apply_json(back, to_json(mc));
    if (to_json(back) != to_json(mc)) violated("ModelConfig: to_json/apply_json does not round-trip");
  });
}

}  // namespace vb::fuzz
