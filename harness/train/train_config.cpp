// TrainConfig <-> JSON: the run record stores the config as JSON, experiment presets are JSON files of the same
// keys, and a resumed run compares the two. Every key is listed once, in the table below.
#include <functional>
#include <map>
#include <stdexcept>

#include <fmt/format.h>

#include "harness/train/trainer.hpp"

namespace vb::train {

namespace {

using json = nlohmann::json;

// One entry per key: how to write it and how to read it back.
struct Field {
  std::function<json(const TrainConfig&)> get;
  std::function<void(TrainConfig&, const json&)> set;
};

template <class T, class M>
Field field(M TrainConfig::*member) {
  return {[member](const TrainConfig& c) { return json(c.*member); },
          [member](TrainConfig& c, const json& v) { c.*member = v.get<T>(); }};
}
template <class T, class M>
Field opt_field(M OptimizerConfig::*member) {
  return {[member](const TrainConfig& c) { return json(c.optimizer.*member); },
          [member](TrainConfig& c, const json& v) { c.optimizer.*member = v.get<T>(); }};
}

const std::map<std::string, Field>& fields() {
  static const std::map<std::string, Field> table = {
      {"model", field<std::string>(&TrainConfig::model)},
      {"overrides", field<std::vector<std::string>>(&TrainConfig::overrides)},
      {"dataset", field<std::string>(&TrainConfig::dataset)},
      {"val_size", field<int64_t>(&TrainConfig::val_size)},
      {"train_size", field<int64_t>(&TrainConfig::train_size)},
      {"upsample", field<bool>(&TrainConfig::upsample)},
      {"epochs", field<int64_t>(&TrainConfig::epochs)},
      {"steps", field<int64_t>(&TrainConfig::steps)},
      {"batch", field<int64_t>(&TrainConfig::batch)},
      {"eval_batch", field<int64_t>(&TrainConfig::eval_batch)},
      {"optimizer", opt_field<std::string>(&OptimizerConfig::name)},
      {"weight_decay", opt_field<double>(&OptimizerConfig::weight_decay)},
      {"momentum", opt_field<double>(&OptimizerConfig::momentum)},
      {"nesterov", opt_field<bool>(&OptimizerConfig::nesterov)},
      {"beta1", opt_field<double>(&OptimizerConfig::beta1)},
      {"beta2", opt_field<double>(&OptimizerConfig::beta2)},
      {"eps", opt_field<double>(&OptimizerConfig::eps)},
      {"lr", field<double>(&TrainConfig::lr)},
      {"min_lr", field<double>(&TrainConfig::min_lr)},
      {"warmup_epochs", field<double>(&TrainConfig::warmup_epochs)},
      {"warmup_steps", field<int64_t>(&TrainConfig::warmup_steps)},
      {"label_smoothing", field<double>(&TrainConfig::label_smoothing)},
      {"clip_grad", field<double>(&TrainConfig::clip_grad)},
      {"drop_path", field<double>(&TrainConfig::drop_path)},
      {"crop_pad", field<int64_t>(&TrainConfig::crop_pad)},
      {"hflip", field<std::string>(&TrainConfig::hflip)},
      {"mixup", field<double>(&TrainConfig::mixup)},
      {"cutmix", field<double>(&TrainConfig::cutmix)},
      {"seed", field<uint64_t>(&TrainConfig::seed)},
      {"test_every_epoch", field<bool>(&TrainConfig::test_every_epoch)},
      {"eval_every", field<int64_t>(&TrainConfig::eval_every)},
  };
  return table;
}

}  // namespace

json TrainConfig::to_json() const {
  json j;
  for (const auto& [key, f] : fields()) j[key] = f.get(*this);
  return j;
}

TrainConfig TrainConfig::from_json(const json& j) {
  if (!j.is_object()) throw std::invalid_argument("a training config must be a JSON object");
  TrainConfig c;
  for (const auto& [key, value] : j.items()) {
    const auto it = fields().find(key);
    if (it == fields().end()) {
      std::vector<std::string> known;
      for (const auto& kv : fields()) known.push_back(kv.first);
      throw std::invalid_argument(fmt::format("unknown training setting '{}'; known: {}", key, fmt::join(known, ", ")));
    }
    try {
      it->second.set(c, value);
    } catch (const json::exception& e) {
      throw std::invalid_argument(fmt::format("training setting '{}': {} (given {})", key, e.what(), value.dump()));
    }
  }
  return c;
}

}  // namespace vb::train
