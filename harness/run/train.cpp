// `vitbench train` as a library call (see train.hpp).
#include "harness/run/train.hpp"

#include <fmt/format.h>

#include <fstream>
#include <stdexcept>

namespace vb::run {

namespace {

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open the experiment preset", path));
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("{}: not valid JSON: {}", path, e.what()));
  }
}

}  // namespace

train::TrainConfig train_config(const TrainOptions& o) {
  nlohmann::json j = o.config_file.empty() ? nlohmann::json::object() : read_json_file(o.config_file);
  if (!j.is_object() || !o.settings.is_object())
    throw std::runtime_error(fmt::format("{}: a training config must be a JSON object",
                                         o.config_file.empty() ? "settings" : o.config_file));
  for (const auto& [key, value] : o.settings.items()) j[key] = value;
  train::TrainConfig cfg;
  try {
    cfg = train::TrainConfig::from_json(j);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(o.config_file.empty() ? e.what()
                                                   : fmt::format("{}: {}", o.config_file, e.what()));
  }
  if (cfg.model.empty())
    throw std::runtime_error("no model: pass --model (see `vitbench models`) or a --config preset");
  cfg.output = o.output;
  cfg.cache_dir = o.cache_dir;
  cfg.checkpoint_minutes = o.checkpoint_minutes;
  cfg.progress = o.progress;
  return cfg;
}

TrainResult run_training(const TrainOptions& o) {
  TrainResult r;
  r.config = train_config(o);
  r.run = train::train(r.config, o.resume, o.command, o.stop_after_epochs);
  return r;
}

}  // namespace vb::run
