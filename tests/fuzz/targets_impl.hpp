// expect_clear_error (targets.hpp), a template.
#pragma once

#include <new>
#include <stdexcept>
#include <string>
#include <typeinfo>

namespace vb::fuzz {

// A property of the parsed result that does not hold (thrown by the targets' own checks; deliberately not a
// std::exception, so that it is never mistaken for the parser's clear error).
struct Violation {
  std::string what;
};
[[noreturn]] inline void violated(const std::string& what) {
  throw Violation{what};
}

template <class F>
std::string expect_clear_error(const std::string& file, F&& parse) {
  try {
    parse();
  } catch (const Violation& v) {
    return v.what;
  } catch (const std::bad_alloc& e) {
    return std::string("std::bad_alloc (an allocation sized by the input before a bound): ") + e.what();
  } catch (const std::exception& e) {
    const std::string message = e.what();
    if (!file.empty() && message.find(file) == std::string::npos)
      return "an error that does not name " + file + " (" + typeid(e).name() + "): " + message;
  } catch (...) {
    return "an exception not derived from std::exception";
  }
  return "";
}

}  // namespace vb::fuzz
