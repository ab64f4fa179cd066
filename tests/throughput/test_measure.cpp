// One real (tiny) measurement per mode: sample counts, derived figures, the JSON line and the HDF5 layout.
// Nothing here asserts a speed: only that what is reported is consistent with the raw samples.
#include <H5Cpp.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "harness/results.hpp"
#include "harness/throughput/throughput.hpp"
#include "models/cost.hpp"
#include "models/model.hpp"
#include "tests/support/temp_dir.hpp"

using namespace vb;

namespace {

ThroughputCase tiny_case(Mode mode) {
  ModelConfig cfg = preset("vit_tiny_patch4_32");
  apply_override(cfg, "depth=1");
  return {with_dtype(cfg, DType::f32), DType::f32, mode, 2};
}

double read_double_attr(const H5::H5File& f, const std::string& object, const std::string& name) {
  double v = 0;
  f.openGroup(object).openAttribute(name).read(H5::PredType::NATIVE_DOUBLE, &v);
  return v;
}

hsize_t dataset_size(const H5::H5File& f, const std::string& name) {
  hsize_t n = 0;
  f.openDataSet(name).getSpace().getSimpleExtentDims(&n);
  return n;
}

}  // namespace

TEST_CASE("a throughput measurement: samples, phases, GFLOP/s from the cost table, JSON line, HDF5 group",
          "[throughput]") {
  const auto dir = vb::test::temp_dir("throughput");
  TimingOptions opt;
  opt.warmup = 0;
  opt.iters = 2;
  std::vector<Measurement> ms;
  for (Mode mode : {Mode::eval, Mode::train}) {
    Measurement m = measure(tiny_case(mode), opt);
    m.set_peak(1000.0);
    const bool train = mode == Mode::train;
    REQUIRE(m.total_s.size() == 2);
    CHECK(m.images_per_s.size() == 2);
    CHECK(m.images_per_s[0] == Approx(2.0 / m.total_s[0]));
    CHECK(m.forward_s.size() == (train ? 2u : 0u));
    CHECK(m.backward_s.size() == (train ? 2u : 0u));
    CHECK(m.step_s.size() == (train ? 2u : 0u));
    if (train)
      for (size_t i = 0; i < 2; ++i) CHECK(m.forward_s[i] + m.backward_s[i] + m.step_s[i] <= m.total_s[i]);
    const int64_t macs = total_macs(cost_table(m.c.cfg));
    CHECK(m.macs_per_image == macs);
    CHECK(m.flop_per_iter == Approx(2.0 * macs * 2 * (train ? 3 : 1)));
    CHECK(m.gflops == Approx(m.flop_per_iter * m.ips.median / 2 / 1e9));
    CHECK(m.peak_fraction == Approx(m.gflops / 1000.0));
    CHECK(m.ips.p10 <= m.ips.median);
    CHECK(m.ips.median <= m.ips.p90);
    CHECK(m.peak_rss > 0);
    CHECK(m.params > 0);

    const nlohmann::json j = json_line(m);
    for (const char* key : {"model", "mode", "dtype", "batch", "threads", "images_per_s", "p10", "p90",
                            "gflops", "peak_fraction"})
      CHECK(j.contains(key));
    CHECK(j["model"] == "vit_tiny_patch4_32");
    CHECK(j["mode"] == (train ? "train" : "infer"));
    CHECK(j["dtype"] == "f32");
    CHECK(j["batch"] == 2);
    CHECK(j["images_per_s"].get<double>() == m.ips.median);
    CHECK(j.contains("forward_ms") == train);
    ms.push_back(std::move(m));
  }

  ResultFile out(dir / "t.h5", "throughput", collect_provenance(), {{"test", true}});
  for (const Measurement& m : ms) write_measurement(out, m);
  const auto path = out.commit();
  H5::H5File f(path.string(), H5F_ACC_RDONLY);
  const std::string infer = "throughput/vit_tiny_patch4_32/infer/f32/batch2";
  const std::string train = "throughput/vit_tiny_patch4_32/train/f32/batch2";
  CHECK(group_name(ms[0].c) == infer);
  CHECK(dataset_size(f, infer + "/total_s") == 2);
  CHECK(dataset_size(f, infer + "/images_per_s") == 2);
  CHECK_FALSE(f.nameExists(infer + "/forward_s"));
  for (const char* d : {"total_s", "images_per_s", "forward_s", "backward_s", "step_s"})
    CHECK(dataset_size(f, train + "/" + d) == 2);
  CHECK(read_double_attr(f, infer, "images_per_s_median") == ms[0].ips.median);
  CHECK(read_double_attr(f, train, "gflops") == ms[1].gflops);
  CHECK(read_double_attr(f, train, "peak_fraction") == ms[1].peak_fraction);
  std::filesystem::remove_all(dir);
}

TEST_CASE("the memory probe sees the model: params and activations in the estimate", "[throughput]") {
  ModelConfig cfg = preset("vit_tiny_patch4_32");
  apply_override(cfg, "depth=1");
  const MemoryEstimate e = probe_memory(cfg, Mode::train, 0);
  const auto model_bytes = 4 * create_model(cfg)->num_params();  // f32 values alone
  CHECK(e.per_image_bytes > 0);
  CHECK(e.bytes(2) >= model_bytes);
}
