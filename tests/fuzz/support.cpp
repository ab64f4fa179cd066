// The scratch folder the fuzz targets write their inputs into (targets.hpp).
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "tests/fuzz/targets.hpp"

namespace vb::fuzz {

namespace fs = std::filesystem;

const fs::path& scratch() {
  static const fs::path dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    fs::path d = fs::path(tmp && *tmp ? tmp : "/tmp") / fmt::format("vitbench-fuzz-{}", ::getpid());
    fs::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(scratch(), ec);
    });
    return d;
  }();
  return dir;
}

void write_file(const fs::path& file, std::string_view bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::logic_error(fmt::format("fuzz harness: cannot write {}", file.string()));
}

}  // namespace vb::fuzz
