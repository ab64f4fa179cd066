// H5Input on the HDF5 C++ API; every failure becomes a std::runtime_error naming the file.
#include "harness/h5read.hpp"

#include <H5Cpp.h>

#include <stdexcept>

#include <fmt/format.h>

namespace vb {

namespace {

void walk(const H5::Group& g, const std::string& prefix, std::map<std::string, Dims>& out) {
  for (hsize_t i = 0; i < g.getNumObjs(); ++i) {
    const std::string name = g.getObjnameByIdx(i);
    const std::string path = prefix.empty() ? name : prefix + "/" + name;
    if (g.getObjTypeByIdx(i) == H5G_GROUP) {
      walk(g.openGroup(name), path, out);
    } else if (g.getObjTypeByIdx(i) == H5G_DATASET) {
      const H5::DataSpace space = g.openDataSet(name).getSpace();
      std::vector<hsize_t> d(space.getSimpleExtentNdims());
      space.getSimpleExtentDims(d.data());
      out.emplace(path, Dims(d.begin(), d.end()));
    }
  }
}

}  // namespace

H5Input::H5Input(const std::filesystem::path& path) : path_(path.string()) {
  H5::Exception::dontPrint();
  if (!std::filesystem::is_regular_file(path)) throw std::runtime_error(fmt::format("{}: no such file", path_));
  bool hdf5 = false;
  try {
    hdf5 = H5::H5File::isHdf5(path_);
  } catch (const H5::Exception&) {
  }
  if (!hdf5) throw std::runtime_error(fmt::format("{}: not an HDF5 file (or truncated)", path_));
  try {
    file_ = std::make_unique<H5::H5File>(path_, H5F_ACC_RDONLY);
  } catch (const H5::Exception& e) {
    throw std::runtime_error(fmt::format("{}: cannot open: {}", path_, e.getDetailMsg()));
  }
}

H5Input::~H5Input() = default;

bool H5Input::has(const std::string& dataset) const {
  try {
    return file_->nameExists(dataset) && file_->childObjType(dataset) == H5O_TYPE_DATASET;
  } catch (const H5::Exception&) {
    return false;
  }
}

std::map<std::string, Dims> H5Input::datasets() const {
  std::map<std::string, Dims> out;
  try {
    walk(file_->openGroup("/"), "", out);
  } catch (const H5::Exception& e) {
    throw std::runtime_error(fmt::format("{}: cannot list datasets: {}", path_, e.getDetailMsg()));
  }
  return out;
}

Dims H5Input::shape(const std::string& dataset) const {
  if (!has(dataset)) throw std::runtime_error(fmt::format("{}: has no dataset '{}'", path_, dataset));
  const H5::DataSpace space = file_->openDataSet(dataset).getSpace();
  std::vector<hsize_t> d(space.getSimpleExtentNdims());
  space.getSimpleExtentDims(d.data());
  return Dims(d.begin(), d.end());
}

std::vector<float> H5Input::read_f32(const std::string& dataset) const {
  const Dims s = shape(dataset);
  std::vector<float> v(product(s));
  try {
    file_->openDataSet(dataset).read(v.data(), H5::PredType::NATIVE_FLOAT);
  } catch (const H5::Exception& e) {
    throw std::runtime_error(fmt::format("{}: cannot read '{}' as float32 (corrupt or truncated?): {}", path_,
                                         dataset, e.getDetailMsg()));
  }
  return v;
}

int64_t H5Input::read_i64_scalar(const std::string& dataset) const {
  const Dims s = shape(dataset);
  if (product(s) != 1)
    throw std::runtime_error(fmt::format("{}: '{}' has shape {}, expected a scalar", path_, dataset, to_string(s)));
  int64_t v = 0;
  try {
    file_->openDataSet(dataset).read(&v, H5::PredType::NATIVE_INT64);
  } catch (const H5::Exception& e) {
    throw std::runtime_error(fmt::format("{}: cannot read '{}': {}", path_, dataset, e.getDetailMsg()));
  }
  return v;
}

}  // namespace vb
