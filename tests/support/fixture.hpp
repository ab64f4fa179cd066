// Reading the PyTorch parity fixtures (tests/fixtures/*.h5, written by tests/parity/make_fixtures.py):
// the model config they were made with, their datasets, and the counter-generated weights and inputs.
#pragma once

#include <H5Cpp.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "models/config.hpp"
#include "models/config_fields.hpp"
#include "models/core/rng.hpp"
#include "models/model.hpp"
#include "tests/support/counter_weights.hpp"

namespace vb::test {

// The fixtures' input batch: rng::normal(seed, i) over the NCHW tensor.
inline Tensor counter_input(const Dims& shape, uint64_t seed = 2) {
  std::vector<float> v(product(shape));
  for (size_t i = 0; i < v.size(); ++i) v[i] = rng::normal(seed, i);
  return Tensor::from(shape, v);
}

class Fixture {
 public:
  explicit Fixture(const std::string& name) : path_(std::string(VITBENCH_FIXTURES) + "/" + name + ".h5") {
    file_ = H5::H5File(path_, H5F_ACC_RDONLY);
  }
  const std::string& path() const { return path_; }
  bool has(const std::string& ds) const { return file_.nameExists(ds); }

  std::string attr(const std::string& name) const {
    std::string v;
    auto a = file_.openGroup("/").openAttribute(name);
    a.read(a.getStrType(), v);
    return v;
  }

  // A numeric root attribute (label_smoothing, sgd_lr, ...).
  double number(const std::string& name) const {
    double v = 0;
    file_.openGroup("/").openAttribute(name).read(H5::PredType::NATIVE_DOUBLE, &v);
    return v;
  }

  // The preset named by attribute `preset`, with every architectural field of `config` applied on top.
  ModelConfig config() const {
    ModelConfig cfg = preset(attr("preset"));
    const auto j = nlohmann::json::parse(attr("config"));
    cfg.name = j.at("name").get<std::string>();
    apply_json(cfg, j);
    return cfg;
  }

  Dims shape(const std::string& ds) const {
    auto space = file_.openDataSet(ds).getSpace();
    std::vector<hsize_t> d(space.getSimpleExtentNdims());
    space.getSimpleExtentDims(d.data());
    return Dims(d.begin(), d.end());
  }
  std::vector<double> read(const std::string& ds) const {
    auto d = file_.openDataSet(ds);
    std::vector<double> v(d.getSpace().getSimpleExtentNpoints());
    d.read(v.data(), H5::PredType::NATIVE_DOUBLE);
    return v;
  }
  std::vector<int64_t> read_int(const std::string& ds) const {
    auto d = file_.openDataSet(ds);
    std::vector<int64_t> v(d.getSpace().getSimpleExtentNpoints());
    d.read(v.data(), H5::PredType::NATIVE_INT64);
    return v;
  }
  Tensor tensor(const std::string& ds) const {
    const auto v = read(ds);
    return Tensor::from(shape(ds), std::vector<float>(v.begin(), v.end()));
  }

  // The input batch: the stored dataset `input`, or, where the file only describes it (attribute input_shape,
  // datasets input_head and input_sum: the 224 cases and resnet_imagenet), the counter-generated input,
  // checked against that description first.
  Tensor input() const {
    if (has("input")) return tensor("input");
    auto a = file_.openGroup("/").openAttribute("input_shape");
    Dims dims(a.getSpace().getSimpleExtentNpoints());
    a.read(H5::PredType::NATIVE_INT64, dims.data());
    const Tensor x = counter_input(dims, static_cast<uint64_t>(number("seed_input")));
    const std::vector<float> v = x.to_vector();
    const auto head = read("input_head");
    double sum = 0;
    for (float p : v) sum += p;
    for (size_t i = 0; i < head.size(); ++i)
      if (v[i] != static_cast<float>(head[i]))
        throw std::runtime_error(path_ + ": counter input differs from input_head at " + std::to_string(i));
    if (std::abs(sum - read("input_sum")[0]) > 1e-9 * std::max(1.0, std::abs(sum)))
      throw std::runtime_error(path_ + ": counter input sum differs from input_sum");
    return x;
  }

 private:
  std::string path_;
  H5::H5File file_;
};

// Sets every state_dict entry of `model` to the counter generator's values (the fixtures' weights).
inline void set_counter_weights(Model& model, uint64_t seed = 1) {
  for (const StateEntry& e : model.state()) {
    if (e.counter) {
      *e.counter = 0;
      continue;
    }
    Tensor& t = e.param ? e.param->value : *e.buffer;
    t.assign(counter_weights(seed, e.key, t.shape()));
  }
}

}  // namespace vb::test
