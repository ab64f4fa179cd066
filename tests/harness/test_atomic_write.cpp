// write_file_atomically (and copy_file_atomically): replaces whole files, leaves nothing behind on failure,
// keeps the old file intact; require_writable_folder refuses folders that cannot hold a file, naming them.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "harness/atomic_write.hpp"
#include "tests/support/temp_dir.hpp"

using namespace vb;
using vb::test::temp_dir;
namespace fs = std::filesystem;

namespace {

std::span<const std::byte> bytes_of(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("an atomic write replaces the whole file and leaves no partial file", "[harness][atomic]") {
  const auto dir = temp_dir("atomic");
  write_file_atomically(dir / "f.bin", bytes_of("first version"));
  write_file_atomically(dir / "f.bin", bytes_of("second"));
  CHECK(slurp(dir / "f.bin") == "second");
  CHECK_FALSE(fs::exists(dir / "f.bin.partial"));
  fs::remove_all(dir);
}

TEST_CASE("a failed atomic write names the file and the reason and keeps the old file", "[harness][atomic]") {
  const auto dir = temp_dir("atomic_fail");
  write_file_atomically(dir / "f.bin", bytes_of("good"));
  fs::create_directory(dir / "f.bin.partial");  // the temporary name cannot be created as a file
  CHECK_THROWS_WITH(
      write_file_atomically(dir / "f.bin", bytes_of("new")),
      Catch::Contains("f.bin: cannot create f.bin.partial") && Catch::Contains("Is a directory"));
  CHECK(slurp(dir / "f.bin") == "good");
  fs::remove_all(dir);
}

TEST_CASE("an atomic copy copies whole files and names a missing source or a failed write",
          "[harness][atomic]") {
  const auto dir = temp_dir("atomic_copy");
  std::string big(1 << 20, 'x');  // 1 MiB with a recognisable tail
  big.back() = 'y';
  write_file_atomically(dir / "src.h5", bytes_of(big));
  write_file_atomically(dir / "dst.h5", bytes_of("old"));
  copy_file_atomically(dir / "src.h5", dir / "dst.h5");
  CHECK(slurp(dir / "dst.h5") == big);
  CHECK_FALSE(fs::exists(dir / "dst.h5.partial"));
  CHECK_THROWS_WITH(copy_file_atomically(dir / "missing.h5", dir / "dst.h5"),
                    Catch::Contains("missing.h5: cannot open it to copy it to") &&
                        Catch::Contains("No such file or directory"));
  fs::create_directory(dir / "dst.h5.partial");  // the temporary name cannot be created as a file
  CHECK_THROWS_WITH(copy_file_atomically(dir / "src.h5", dir / "dst.h5"),
                    Catch::Contains("dst.h5: cannot create dst.h5.partial"));
  CHECK(slurp(dir / "dst.h5") == big);  // the previous copy is intact
  fs::remove_all(dir);
}

TEST_CASE("an output folder that cannot hold files is refused by name, creating nothing",
          "[harness][atomic]") {
  const auto dir = temp_dir("atomic_folder");
  require_writable_folder(dir / "new" / "sub");  // a missing folder under a writable one is fine
  CHECK_FALSE(fs::exists(dir / "new"));          // and is not created by the check
  create_output_folder(dir / "new" / "sub");
  CHECK(fs::is_directory(dir / "new" / "sub"));
  std::ofstream(dir / "blocker") << "a file where a folder should be";
  CHECK_THROWS_WITH(
      require_writable_folder(dir / "blocker" / "out"),
      Catch::Contains("blocker/out: cannot create the output folder") && Catch::Contains("not a directory"));
  CHECK_THROWS_WITH(create_output_folder(dir / "blocker" / "out"), Catch::Contains("blocker/out"));
  fs::remove_all(dir);
}
