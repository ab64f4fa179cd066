// The C++ counter-based weight generator (tests/support/counter_weights.hpp) against the values its Python
// twin wrote into tests/fixtures/counter_weights.h5: the parity fixtures store no weights, so both languages
// must produce the same bits for every state_dict entry.
#include <H5Cpp.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "models/core/rng.hpp"
#include "tests/support/counter_weights.hpp"

namespace {

std::filesystem::path fixture(const std::string& name) {
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "fixtures" / name;
}

struct Dataset {
  std::vector<int64_t> shape;
  std::vector<float> values;
};

Dataset read_f32(const H5::Group& g, const std::string& name) {
  H5::DataSet ds = g.openDataSet(name);
  H5::DataSpace space = ds.getSpace();
  std::vector<hsize_t> dims(static_cast<size_t>(space.getSimpleExtentNdims()));
  space.getSimpleExtentDims(dims.data());
  Dataset d;
  d.shape.assign(dims.begin(), dims.end());
  d.values.resize(static_cast<size_t>(space.getSimpleExtentNpoints()));
  ds.read(d.values.data(), H5::PredType::NATIVE_FLOAT);
  return d;
}

}  // namespace

TEST_CASE("FNV-1a 64 matches the published test vectors", "[parity]") {
  REQUIRE(vb::test::fnv1a64("") == 0xcbf29ce484222325ull);
  REQUIRE(vb::test::fnv1a64("a") == 0xaf63dc4c8601ec8cull);
  REQUIRE(vb::test::fnv1a64("foobar") == 0x85944171f73967e8ull);
}

TEST_CASE("counter weights are bit-identical to the Python generator", "[parity]") {
  const auto path = fixture("counter_weights.h5");
  INFO("fixture " << path.string() << " (python3 tests/parity/make_fixtures.py counter_weights)");
  REQUIRE(std::filesystem::exists(path));
  H5::H5File file(path.string(), H5F_ACC_RDONLY);
  uint64_t seed = 0;
  file.openAttribute("seed").read(H5::PredType::NATIVE_UINT64, &seed);
  REQUIRE(seed == 1);

  H5::Group tensors = file.openGroup("tensors");
  REQUIRE(tensors.getNumObjs() == 8);  // one key per rule of the generator
  for (hsize_t t = 0; t < tensors.getNumObjs(); ++t) {
    const std::string key = tensors.getObjnameByIdx(t);
    const Dataset expected = read_f32(tensors, key);
    const std::vector<float> actual = vb::test::counter_weights(seed, key, expected.shape);
    INFO("key " << key);
    REQUIRE(actual.size() == expected.values.size());
    size_t mismatches = 0, first = 0;
    for (size_t i = 0; i < actual.size(); ++i)
      if (actual[i] != expected.values[i] && mismatches++ == 0) first = i;
    INFO("first mismatch at " << first << ": C++ " << actual[first] << " vs Python "
                              << expected.values[first]);
    CHECK(mismatches == 0);
    // A different seed must give different values (the seed is really used).
    CHECK(vb::test::counter_weights(seed + 1, key, expected.shape) != actual);
  }
}

TEST_CASE("counter normal draws match the Python fixture inputs", "[parity]") {
  H5::H5File file(fixture("counter_weights.h5").string(), H5F_ACC_RDONLY);
  uint64_t seed = 0;
  file.openAttribute("normal_seed").read(H5::PredType::NATIVE_UINT64, &seed);
  const Dataset expected = read_f32(file.openGroup("/"), "normal");
  REQUIRE(expected.values.size() == 1024);
  // Box-Muller goes through log and cos, whose last bit may differ between glibc and numpy's SIMD versions:
  // allow a few float ulps (everything else in the formula is exactly rounded).
  size_t worst = 0;
  double worst_err = 0;
  for (size_t i = 0; i < expected.values.size(); ++i) {
    const double err = std::abs(double(vb::rng::normal(seed, i)) - double(expected.values[i])) /
                       (std::abs(double(expected.values[i])) + 1e-30);
    if (err > worst_err) worst_err = err, worst = i;
  }
  INFO("worst relative error " << worst_err << " at " << worst);
  CHECK(worst_err <= 4.0 * 0x1p-24);
}
