// The fast tier's replay of the fuzz corpora: every committed input of tests/fuzz/corpus/<target>/ (seeds and
// every crash found, docs/reliability.md) through the same entry functions the libFuzzer binaries call.
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>

#include "tests/fuzz/targets.hpp"

namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<fs::path> corpus(const std::string& target) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fs::path(VITBENCH_FUZZ_CORPUS) / target))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

TEST_CASE("fuzz corpora replay: every committed input is accepted or refused with a clear error") {
  for (const auto& t : vb::fuzz::targets()) {
    const auto files = corpus(t.name);
    INFO("target " << t.name);
    CHECK(files.size() >= 2);  // a seed or more, each target
    for (const auto& file : files) {
      INFO("input " << file.string());
      const auto bytes = read_bytes(file);
      CHECK(t.run(bytes.data(), bytes.size()) == "");
    }
  }
}

TEST_CASE("fuzz: the checkpoint mutator edits HDF5 images through the HDF5 API") {
  // Starting from a valid checkpoint, structure-aware mutations keep a readable HDF5 file most of the time
  // (they change shapes, dtypes, keys and attributes, not the superblock), so the loader, not libhdf5's
  // signature check, is what they reach.
  const auto seeds = corpus("checkpoint_h5");
  const auto seed = std::find_if(seeds.begin(), seeds.end(), [](const fs::path& p) {
    return p.filename().string().starts_with("seed-");
  });
  REQUIRE(seed != seeds.end());
  const auto original = read_bytes(*seed);
  REQUIRE(vb::fuzz::checkpoint_h5(original.data(), original.size()) == "");
  auto no_raw = [](uint8_t*, size_t size, size_t) { return size; };
  int changed = 0, still_hdf5 = 0;
  for (unsigned s = 0; s < 40; ++s) {
    std::vector<uint8_t> buf = original;
    buf.resize(1 << 20);
    const size_t n = vb::fuzz::mutate_checkpoint(buf.data(), original.size(), buf.size(), s, no_raw);
    buf.resize(n);
    changed += buf != original;
    still_hdf5 += n >= 8 && buf[1] == 'H' && buf[2] == 'D' && buf[3] == 'F';
    INFO("seed " << s);
    CHECK(vb::fuzz::checkpoint_h5(buf.data(), buf.size()) == "");
  }
  CHECK(changed >= 30);  // one in eight goes to the (here: no-op) byte mutator
  CHECK(still_hdf5 == 40);
}
