// Harness settings that are one of a few choices are enums, each with one name table (a specialisation of
// EnumNames): the names JSON records and the command line use, as models/config_fields.cpp does for
// ModelConfig.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace vb {

// Specialise with `inline static const std::vector<std::pair<E, const char*>> list`, every value once.
template <class E>
struct EnumNames;

template <class E>
const char* enum_name(E e) {
  for (const auto& [v, n] : EnumNames<E>::list)
    if (v == e) return n;
  throw std::logic_error("an enum value missing from its name table");
}

// The names a user may give, in table order: an empty name (a "not set" value, e.g. the dataset's default) is
// left out.
template <class E>
std::vector<std::string> enum_names() {
  std::vector<std::string> names;
  for (const auto& [v, n] : EnumNames<E>::list)
    if (*n) names.emplace_back(n);
  return names;
}

// The value named `text`, or std::invalid_argument "<what>: unknown <what> '<text>'; known: a, b".
template <class E>
E parse_enum(const std::string& what, const std::string& text) {
  for (const auto& [v, n] : EnumNames<E>::list)
    if (text == n) return v;
  throw std::invalid_argument(
      fmt::format("{}: unknown {} '{}'; known: {}", what, what, text, fmt::join(enum_names<E>(), ", ")));
}

}  // namespace vb
