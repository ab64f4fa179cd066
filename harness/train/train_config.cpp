// TrainConfig <-> JSON: the run record stores the config as JSON, experiment presets are JSON files of the
// same keys, and a resumed run compares the two. Every key is listed once, in train_fields.hpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "harness/train/train_fields.hpp"
#include "harness/train/trainer.hpp"

namespace vb::train {

using json = nlohmann::json;

namespace {

// An integer setting, range-checked: nlohmann's get<T>() casts unchecked, so a seed of 184246744073709551615
// (parsed as a double, beyond uint64) was undefined behaviour (UBSan, found by the preset_json fuzz target)
// and -1 wrapped around to 2^64 - 1. A float is accepted when it is a whole number in range (1e3 for 1000).
template <class T>
T json_integer(const std::string& key, const json& v) {
  using limits = std::numeric_limits<T>;
  if (v.is_number_unsigned()) {
    if (std::in_range<T>(v.get<uint64_t>())) return static_cast<T>(v.get<uint64_t>());
  } else if (v.is_number_integer()) {
    if (std::in_range<T>(v.get<int64_t>())) return static_cast<T>(v.get<int64_t>());
  } else if (v.is_number_float()) {
    const double d = v.get<double>(), top = std::ldexp(1.0, limits::digits);  // 2^63 or 2^64, exact
    if (d == std::floor(d) && d >= (limits::is_signed ? -top : 0.0) && d < top) return static_cast<T>(d);
  } else {
    return v.get<T>();  // not a number: nlohmann's type_error, reported below with the key
  }
  throw std::invalid_argument(fmt::format("'{}': expected a whole number in [{}, {}], given {}", key,
                                          limits::min(), limits::max(), v.dump()));
}

}  // namespace

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
        else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
          member = json_integer<T>(key, value);
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
