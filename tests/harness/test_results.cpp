// HDF5 result files: provenance recorded, atomic commit, clear errors.
#include <H5Cpp.h>
#include <fmt/format.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "harness/gemm_peak.hpp"
#include "harness/results.hpp"
#include "models/core/cpu.hpp"
#include "tests/support/temp_dir.hpp"

using namespace vb;
using vb::test::temp_dir;
namespace fs = std::filesystem;

namespace {

std::string read_string_attr(const H5::H5File& f, const std::string& name) {
  std::string value;
  auto a = f.openGroup("/").openAttribute(name);
  a.read(a.getStrType(), value);
  return value;
}

}  // namespace

TEST_CASE("a committed result holds provenance, config and datasets", "[harness]") {
  const auto dir = temp_dir("commit");
  Provenance prov = collect_provenance();
  prov.seed = 42;
  prov.command = "vitbench test";
  {
    ResultFile out(dir / "sub" / "r.h5", "test", prov, {{"batch", 8}});
    out.write("gemm/f32/gflops", std::vector<double>{1.0, 2.0, 3.0});
    out.write("maps", std::vector<float>(12, 0.5f), {2, 2, 3});
    out.attr("median_gflops", 2.0, "gemm/f32");
    // Built in memory: nothing on disk until commit but the writer's lock file.
    REQUIRE_FALSE(fs::exists(dir / "sub" / "r.h5"));
    REQUIRE_FALSE(fs::exists(dir / "sub" / "r.h5.partial"));
    REQUIRE(out.commit() == dir / "sub" / "r.h5");
  }
  REQUIRE_FALSE(fs::exists(dir / "sub" / "r.h5.partial"));
  H5::H5File f((dir / "sub" / "r.h5").string(), H5F_ACC_RDONLY);
  CHECK(read_string_attr(f, "kind") == "test");
  CHECK(read_string_attr(f, "config") == R"({"batch":8})");
  CHECK(read_string_attr(f, "git_commit").size() >= 7);
  CHECK(read_string_attr(f, "onednn_version").rfind("2.", 0) == 0);
  CHECK_FALSE(read_string_attr(f, "isa").empty());
  CHECK_FALSE(read_string_attr(f, "end_time").empty());
  int64_t complete = 0, seed = 0;
  f.openGroup("/").openAttribute("complete").read(H5::PredType::NATIVE_INT64, &complete);
  f.openGroup("/").openAttribute("seed").read(H5::PredType::NATIVE_INT64, &seed);
  CHECK(complete == 1);
  CHECK(seed == 42);
  std::vector<double> g(3);
  f.openDataSet("gemm/f32/gflops").read(g.data(), H5::PredType::NATIVE_DOUBLE);
  CHECK(g == std::vector<double>{1.0, 2.0, 3.0});
  hsize_t dims[3];
  REQUIRE(f.openDataSet("maps").getSpace().getSimpleExtentDims(dims) == 3);
  CHECK((dims[0] == 2 && dims[1] == 2 && dims[2] == 3));
  fs::remove_all(dir);
}

TEST_CASE("an abandoned result leaves no file behind", "[harness]") {
  const auto dir = temp_dir("abandon");
  {
    ResultFile out(dir / "r.h5", "test", collect_provenance(), {});
    out.write("x", std::vector<double>{1.0});
  }
  CHECK(fs::is_empty(dir));
  fs::remove_all(dir);
}

TEST_CASE("result file errors name the file and the problem", "[harness]") {
  const auto dir = temp_dir("errors");
  std::ofstream(dir / "blocker") << "a file where a folder should be";
  REQUIRE_THROWS_WITH(ResultFile(dir / "blocker" / "r.h5", "test", collect_provenance(), {}),
                      Catch::Contains("blocker"));
  ResultFile out(dir / "r.h5", "test", collect_provenance(), {});
  REQUIRE_THROWS_WITH(out.write("x", std::vector<double>{1.0, 2.0}, {3}),
                      Catch::Contains("x") && Catch::Contains("2 values"));
  out.write("y", std::vector<double>{1.0});
  REQUIRE_THROWS_WITH(out.write("y", std::vector<double>{1.0}),
                      Catch::Contains("r.h5") && Catch::Contains("y"));
  fs::remove_all(dir);
}

TEST_CASE("gemm peak returns one positive sample per repetition", "[harness]") {
  for (DType d : available_dtypes()) {
    const GemmPeak p = measure_gemm_peak(d, 64, 3);
    REQUIRE(p.gflops.size() == 3);
    CHECK(p.median() > 0);
    CHECK(p.best() >= p.median());
  }
  REQUIRE_THROWS_AS(measure_gemm_peak(DType::f32, 0), std::invalid_argument);
  if (!bf16_supported())  // no bf16 peak on a CPU without it: refused, naming the ISA
    REQUIRE_THROWS_WITH(measure_gemm_peak(DType::bf16, 64, 3),
                        Catch::Contains("bf16 not available on this CPU"));
}

TEST_CASE("a results file open for writing is refused to a second writer, naming the holder", "[harness]") {
  const auto dir = temp_dir("locked");
  {
    ResultFile first(dir / "r.h5", "test", collect_provenance(), {});
    // flock is per open file, so a second open in this same process conflicts as another process would.
    REQUIRE_THROWS_WITH(ResultFile(dir / "r.h5", "test", collect_provenance(), {}),
                        Catch::Contains("results file " + (dir / "r.h5").string()) &&
                            Catch::Contains(fmt::format("pid {} on host", ::getpid())) &&
                            Catch::Contains("command: "));
    first.commit();
  }
  CHECK_FALSE(fs::exists(dir / "r.h5.lock"));                        // released and removed by the holder
  ResultFile again(dir / "r.h5", "test", collect_provenance(), {});  // free once the first is done
  fs::remove_all(dir);
}
