// TrainConfig <-> JSON: the run record stores the config as JSON, experiment presets are JSON files of the
// same keys, and a resumed run compares the two. Every key is listed once, in train_fields.hpp.
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <type_traits>

#include "harness/train/train_fields.hpp"
#include "harness/train/trainer.hpp"

namespace vb::train {

using json = nlohmann::json;

json TrainConfig::to_json() const {
  json j;
  for_each_train_field(*this, [&](const TrainField& f, const auto& member) {
    using T = std::decay_t<decltype(member)>;
    if (!f.key) return;
    if constexpr (std::is_enum_v<T>)
      j[f.key] = enum_name(member);
    else
      j[f.key] = json(member);
  });
  return j;
}

TrainConfig TrainConfig::from_json(const json& j) {
  if (!j.is_object()) throw std::invalid_argument("a training config must be a JSON object");
  TrainConfig c;
  for (const auto& item : j.items()) {
    // Named references, not a structured binding: the lambda below captures them, which clang 14 (the fuzz
    // preset) does not allow for structured bindings (a C++20 change it lacks).
    const std::string& key = item.key();
    const json& value = item.value();
    bool known = false;
    for_each_train_field(c, [&](const TrainField& f, auto& member) {
      if (!f.key || key != f.key) return;
      known = true;
      using T = std::decay_t<decltype(member)>;
      try {
        if constexpr (std::is_enum_v<T>)
          member = parse_enum<T>(key, value.get<std::string>());
        else
          member = value.get<T>();
      } catch (const std::invalid_argument& e) {  // parse_enum: names the setting and its values
        throw std::invalid_argument(fmt::format("training setting {}", e.what()));
      } catch (const json::exception& e) {
        throw std::invalid_argument(
            fmt::format("training setting '{}': {} (given {})", key, e.what(), value.dump()));
      }
    });
    if (!known) {
      std::vector<std::string> keys;
      for_each_train_field(c, [&](const TrainField& f, const auto&) {
        if (f.key) keys.push_back(f.key);
      });
      std::sort(keys.begin(), keys.end());
      throw std::invalid_argument(
          fmt::format("unknown training setting '{}'; known: {}", key, fmt::join(keys, ", ")));
    }
  }
  return c;
}

}  // namespace vb::train
