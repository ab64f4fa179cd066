// Checkpoints: round trip, strict loading (missing / unexpected keys, shape mismatch), bad files.
#include <H5Cpp.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "harness/checkpoint.hpp"

using namespace vb;
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

fs::path temp_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("vitbench_ckpt_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

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
                    Catch::Contains("small.h5") && Catch::Contains("fc.weight") && Catch::Contains("[3, 2]") &&
                        Catch::Contains("[4, 2]"));
  {
    H5::H5File f((dir / "small.h5").string(), H5F_ACC_RDWR);
    f.unlink("bn.running_var");
    const hsize_t one = 1;
    f.createDataSet("extra.bias", H5::PredType::NATIVE_FLOAT, H5::DataSpace(1, &one));
  }
  CHECK_THROWS_WITH(load_checkpoint(dir / "small.h5", small), Catch::Contains("missing key 'bn.running_var'"));
  save_checkpoint(dir / "extra.h5", small);
  {
    H5::H5File f((dir / "extra.h5").string(), H5F_ACC_RDWR);
    const hsize_t one = 1;
    f.createDataSet("extra.bias", H5::PredType::NATIVE_FLOAT, H5::DataSpace(1, &one));
  }
  CHECK_THROWS_WITH(load_checkpoint(dir / "extra.h5", small), Catch::Contains("unexpected key(s)") && Catch::Contains("extra.bias"));
  fs::remove_all(dir);
}

TEST_CASE("missing, non-HDF5 and truncated checkpoints get a clear error", "[harness][checkpoint]") {
  const auto dir = temp_dir("bad");
  TinyModel m;
  CHECK_THROWS_WITH(load_checkpoint(dir / "nope.h5", m), Catch::Contains("nope.h5") && Catch::Contains("no such file"));
  std::ofstream(dir / "text.h5") << "this is not HDF5";
  CHECK_THROWS_WITH(load_checkpoint(dir / "text.h5", m), Catch::Contains("text.h5") && Catch::Contains("not an HDF5"));
  save_checkpoint(dir / "full.h5", m);
  const auto size = fs::file_size(dir / "full.h5");
  fs::copy_file(dir / "full.h5", dir / "cut.h5");
  fs::resize_file(dir / "cut.h5", size / 2);
  CHECK_THROWS_WITH(load_checkpoint(dir / "cut.h5", m), Catch::Contains("cut.h5"));
  fs::remove_all(dir);
}
