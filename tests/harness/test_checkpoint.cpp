// Checkpoints: round trip, strict loading (missing / unexpected keys, shape mismatch), bad files.
#include <H5Cpp.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "harness/checkpoint.hpp"
#include "harness/h5read.hpp"
#include "harness/pos_resample.hpp"
#include "tests/support/temp_dir.hpp"

using namespace vb;
using vb::test::temp_dir;
namespace fs = std::filesystem;

namespace {

// A stand-in model with one parameter, one float buffer and one counter: checkpoints only see state().
class TinyModel : public Model {
 public:
  explicit TinyModel(int64_t out = 3) : Model(preset("resnet50_w16_32")) {
    w_.name = "weight";
    w_.value = Tensor({out, 2});
    w_.grad = Tensor({out, 2});
    running_ = Tensor({out});
  }
  const Tensor& forward(const Tensor& x, Mode) override { return x; }
  const Tensor& backward(const Tensor& d) override { return d; }
  std::vector<StateEntry> state() override {
    return {{"fc.weight", &w_, nullptr, nullptr},
            {"bn.running_var", nullptr, &running_, nullptr},
            {"bn.num_batches_tracked", nullptr, nullptr, &count_}};
  }
  std::vector<std::string> taps() const override { return {}; }
  const Tensor& tap(size_t) const override { throw std::logic_error("no taps"); }
  const Tensor& backward_from(size_t, const Tensor& d) override { return d; }
  void init(uint64_t) override {}
  Param w_;
  Tensor running_;
  int64_t count_ = 0;
};

}  // namespace

TEST_CASE("a checkpoint round-trips parameters, buffers and counters", "[harness][checkpoint]") {
  const auto dir = temp_dir("roundtrip");
  TinyModel a;
  a.w_.value.assign({1, 2, 3, 4, 5, 6});
  a.running_.assign({0.5f, 1.5f, 2.5f});
  a.count_ = 7;
  save_checkpoint(dir / "a.h5", a);
  REQUIRE_FALSE(fs::exists(dir / "a.h5.partial"));
  TinyModel b;
  load_checkpoint(dir / "a.h5", b);
  CHECK(b.w_.value.to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(b.running_.to_vector() == std::vector<float>{0.5f, 1.5f, 2.5f});
  CHECK(b.count_ == 7);
  // Stored as PyTorch would: float32 with the parameter's shape, the counter as an int64 scalar.
  H5::H5File f((dir / "a.h5").string(), H5F_ACC_RDONLY);
  CHECK(f.openDataSet("fc.weight").getDataType() == H5::PredType::NATIVE_FLOAT);
  CHECK(f.openDataSet("bn.num_batches_tracked").getDataType() == H5::PredType::NATIVE_INT64);
  fs::remove_all(dir);
}

TEST_CASE("loading is strict and names the file, the key and both shapes", "[harness][checkpoint]") {
  const auto dir = temp_dir("strict");
  TinyModel small(3);
  save_checkpoint(dir / "small.h5", small);
  TinyModel big(4);
  CHECK_THROWS_WITH(load_checkpoint(dir / "small.h5", big),
                    Catch::Contains("small.h5") && Catch::Contains("fc.weight") &&
                        Catch::Contains("[3, 2]") && Catch::Contains("[4, 2]"));
  {
    H5::H5File f((dir / "small.h5").string(), H5F_ACC_RDWR);
    f.unlink("bn.running_var");
    const hsize_t one = 1;
    f.createDataSet("extra.bias", H5::PredType::NATIVE_FLOAT, H5::DataSpace(1, &one));
  }
  CHECK_THROWS_WITH(load_checkpoint(dir / "small.h5", small),
                    Catch::Contains("missing key 'bn.running_var'"));
  save_checkpoint(dir / "extra.h5", small);
  {
    H5::H5File f((dir / "extra.h5").string(), H5F_ACC_RDWR);
    const hsize_t one = 1;
    f.createDataSet("extra.bias", H5::PredType::NATIVE_FLOAT, H5::DataSpace(1, &one));
  }
  CHECK_THROWS_WITH(load_checkpoint(dir / "extra.h5", small),
                    Catch::Contains("unexpected key(s)") && Catch::Contains("extra.bias"));
  fs::remove_all(dir);
}

TEST_CASE("missing, non-HDF5 and truncated checkpoints get a clear error", "[harness][checkpoint]") {
  const auto dir = temp_dir("bad");
  TinyModel m;
  CHECK_THROWS_WITH(load_checkpoint(dir / "nope.h5", m),
                    Catch::Contains("nope.h5") && Catch::Contains("no such file"));
  std::ofstream(dir / "text.h5") << "this is not HDF5";
  CHECK_THROWS_WITH(load_checkpoint(dir / "text.h5", m),
                    Catch::Contains("text.h5") && Catch::Contains("not an HDF5"));
  save_checkpoint(dir / "full.h5", m);
  const auto size = fs::file_size(dir / "full.h5");
  fs::copy_file(dir / "full.h5", dir / "cut.h5");
  fs::resize_file(dir / "cut.h5", size / 2);
  CHECK_THROWS_WITH(load_checkpoint(dir / "cut.h5", m), Catch::Contains("cut.h5"));
  fs::remove_all(dir);
}

TEST_CASE("bilinear resampling matches F.interpolate(align_corners=False)", "[harness][checkpoint]") {
  // A 1x2 row [a, b] resized to 1x4: source x = (i + 0.5) / 2 - 0.5 = -0.25 (clamped), 0.25, 0.75, 1.25
  // (clamped).
  const auto row = resample_grid({2.0f, 6.0f}, 1, 2, 1, 1, 4, true);
  CHECK(row == std::vector<float>{2.0f, 3.0f, 5.0f, 6.0f});
  // Channels-first 2x2 grid of 2 channels to 4x4: channel 1 constant stays constant; corners are kept.
  const auto grid = resample_grid({0, 1, 2, 3, 7, 7, 7, 7}, 2, 2, 2, 4, 4, false);
  CHECK(grid[0] == 0.0f);
  CHECK(grid[15] == 3.0f);
  CHECK(grid[1] == Approx(0.25f));      // (y=0, x=1): 0.75 * 0 + 0.25 * 1
  CHECK(grid[4 + 1] == Approx(0.75f));  // (y=1, x=1): 0.75 * (0.25) + 0.25 * (2 + 0.25)
  for (int i = 16; i < 32; ++i) CHECK(grid[i] == 7.0f);
}

TEST_CASE("a checkpoint's position table for another grid is resampled on load", "[harness][checkpoint]") {
  const auto dir = temp_dir("resample");
  // pos_embed (1, 1 + 2*2, 3) saved, model wants (1, 1 + 4*4, 3): the cls row is copied, the grid resampled.
  struct PosModel : TinyModel {
    explicit PosModel(int64_t grid) : grid(grid) {
      pos.name = "pos_embed";
      pos.value = Tensor({1, 1 + grid * grid, 3});
      pos.grad = Tensor({1, 1 + grid * grid, 3});
    }
    std::vector<StateEntry> state() override { return {{"pos_embed", &pos, nullptr, nullptr}}; }
    std::vector<PosTable> pos_tables() const override {
      return {{.key = "pos_embed", .prefix = 1, .grid_h = grid, .grid_w = grid}};
    }
    int64_t grid;
    Param pos;
  };
  PosModel small(2), big(4);
  std::vector<float> v(15);
  for (int i = 0; i < 15; ++i) v[i] = static_cast<float>(i);
  small.pos.value.assign(v);
  save_checkpoint(dir / "pos.h5", small);
  load_checkpoint(dir / "pos.h5", big);
  const auto r = big.pos.value.to_vector();
  CHECK(std::vector<float>(r.begin(), r.begin() + 3) == std::vector<float>{0, 1, 2});  // cls row untouched
  CHECK(std::vector<float>(r.begin() + 3, r.begin() + 6) == std::vector<float>{3, 4, 5});  // top-left corner
  CHECK(std::vector<float>(r.end() - 3, r.end()) == std::vector<float>{12, 13, 14});  // bottom-right corner
  // A table that is not a square grid plus cls cannot be resampled: a clear error instead.
  PosModel odd(3);
  odd.pos.value = Tensor({1, 7, 3});
  CHECK_THROWS_WITH(load_checkpoint(dir / "pos.h5", odd),
                    Catch::Contains("pos_embed") && Catch::Contains("[1, 5, 3]"));
  fs::remove_all(dir);
}

TEST_CASE("an incomplete checkpoint is refused, naming the file", "[harness][checkpoint]") {
  const auto dir = temp_dir("incomplete");
  TinyModel m;
  save_checkpoint(dir / "c.h5", m);
  {  // as left by a writer that stopped before commit(): complete = 0
    H5::H5File f((dir / "c.h5").string(), H5F_ACC_RDWR);
    const int64_t zero = 0;
    f.openGroup("/").openAttribute("complete").write(H5::PredType::NATIVE_INT64, &zero);
  }
  CHECK_THROWS_WITH(load_checkpoint(dir / "c.h5", m),
                    Catch::Contains("c.h5") && Catch::Contains("incomplete"));
  {  // weights from elsewhere (scripts/convert_state_dict.py) carry no schema and load
    H5::H5File f((dir / "c.h5").string(), H5F_ACC_RDWR);
    f.openGroup("/").removeAttr("schema");
  }
  load_checkpoint(dir / "c.h5", m);
  fs::remove_all(dir);
}

TEST_CASE("a dataset claiming 2^40 elements is refused before allocating", "[harness][checkpoint]") {
  const auto dir = temp_dir("huge");
  TinyModel m;
  save_checkpoint(dir / "h.h5", m);
  {  // a (2^20, 2^20) table with no data written: the file stays small, the header lies
    H5::H5File f((dir / "h.h5").string(), H5F_ACC_RDWR);
    f.unlink("fc.weight");
    const hsize_t dims[2] = {hsize_t{1} << 20, hsize_t{1} << 20};
    f.createDataSet("fc.weight", H5::PredType::NATIVE_FLOAT, H5::DataSpace(2, dims));
  }
  // The shape differs from the model's, so only the position-table path would read it; read it directly.
  CHECK_THROWS_WITH(H5Input(dir / "h.h5").read_f32("fc.weight"), Catch::Contains("h.h5") &&
                                                                     Catch::Contains("[1048576, 1048576]") &&
                                                                     Catch::Contains("more than a file"));
  CHECK_THROWS_WITH(load_checkpoint(dir / "h.h5", m),
                    Catch::Contains("h.h5") && Catch::Contains("fc.weight"));
  fs::remove_all(dir);
}

TEST_CASE("a file that crashes libhdf5 is refused from a child process, naming the file",
          "[harness][checkpoint]") {
  // Found by the checkpoint_h5 fuzz target (docs/reliability.md): a corrupt global heap under the root's
  // variable-length `schema` attribute makes libhdf5 1.10.8 dereference a bad pointer (SEGV in a plain build,
  // a sanitizer report under ASan). This process must survive and say so.
  const fs::path file =
      fs::path(VITBENCH_FUZZ_CORPUS) / "checkpoint_h5" / "crash-a81ec4dedb99425df7855c8a07c1773a9404c361";
  REQUIRE(fs::exists(file));
  CHECK_THROWS_WITH(H5Input(file), Catch::Contains("crash-a81ec4de") && Catch::Contains("libhdf5") &&
                                       (Catch::Contains("crashed") || Catch::Contains("memory error")) &&
                                       Catch::Contains("not opened"));
  TinyModel m;
  CHECK_THROWS_WITH(load_checkpoint(file, m), Catch::Contains("libhdf5"));
}
