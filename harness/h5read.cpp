// H5Input on the HDF5 C++ API; every failure becomes a std::runtime_error naming the file.
#include "harness/h5read.hpp"

#include <H5Cpp.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

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
  if (!std::filesystem::is_regular_file(path))
    throw std::runtime_error(fmt::format("{}: no such file", path_));
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
  std::error_code ec;
  bytes_ = std::filesystem::file_size(path, ec);
  if (ec) bytes_ = 0;
}

H5Input::H5Input(const void* image, size_t bytes, const std::string& name) : path_(name), bytes_(bytes) {
  H5::Exception::dontPrint();
  // HDF5's superblock signature; anything shorter or without it is not worth handing to the library.
  static constexpr unsigned char kSignature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  if (bytes < 64 || std::memcmp(image, kSignature, sizeof kSignature) != 0)
    throw std::runtime_error(fmt::format("{}: not an HDF5 file (or truncated)", path_));
  try {
    H5::FileAccPropList fapl;
    fapl.setCore(64 * 1024, false);  // in memory, never written back
    if (H5Pset_file_image(fapl.getId(), const_cast<void*>(image), bytes) < 0)
      throw std::runtime_error(fmt::format("{}: cannot hand the file image to HDF5", path_));
    file_ = std::make_unique<H5::H5File>(path_, H5F_ACC_RDONLY, H5::FileCreatPropList::DEFAULT, fapl);
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
  try {
    const H5::DataSpace space = file_->openDataSet(dataset).getSpace();
    std::vector<hsize_t> d(space.getSimpleExtentNdims());
    space.getSimpleExtentDims(d.data());
    return Dims(d.begin(), d.end());
  } catch (const H5::Exception& e) {
    throw std::runtime_error(
        fmt::format("{}: cannot read the shape of '{}': {}", path_, dataset, e.getDetailMsg()));
  }
}

namespace {

// HDF5's standard filters expand data by at most deflate's 1032:1, so a dataset cannot hold more bytes than
// this many times the file's size; a shape beyond that is a corrupt or hostile header, refused before
// allocating.
constexpr uint64_t kMaxExpansion = 1032;

template <class T>
std::vector<T> read_as(const H5::H5File& f, const std::string& path, uint64_t file_bytes,
                       const std::string& dataset, Dims shape, const H5::PredType& type,
                       const char* type_name) {
  uint64_t bytes = sizeof(T);
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes)) bytes = UINT64_MAX;
  if (bytes > std::max<uint64_t>(file_bytes, 1) * kMaxExpansion)
    throw std::runtime_error(fmt::format(
        "{}: '{}' claims shape {} ({} bytes as {}), more than a file of {} bytes "
        "can hold (corrupt?)",
        path, dataset, to_string(shape), bytes == UINT64_MAX ? std::string("> 2^64") : std::to_string(bytes),
        type_name, file_bytes));
  std::vector<T> v(bytes / sizeof(T));
  try {
    if (!v.empty()) f.openDataSet(dataset).read(v.data(), type);
  } catch (const H5::Exception& e) {
    throw std::runtime_error(fmt::format("{}: cannot read '{}' as {} (corrupt or truncated?): {}", path,
                                         dataset, type_name, e.getDetailMsg()));
  }
  return v;
}

}  // namespace

std::vector<float> H5Input::read_f32(const std::string& dataset) const {
  return read_as<float>(*file_, path_, bytes_, dataset, shape(dataset), H5::PredType::NATIVE_FLOAT,
                        "float32");
}

std::vector<double> H5Input::read_f64(const std::string& dataset) const {
  return read_as<double>(*file_, path_, bytes_, dataset, shape(dataset), H5::PredType::NATIVE_DOUBLE,
                         "float64");
}

std::vector<int64_t> H5Input::read_i64(const std::string& dataset) const {
  return read_as<int64_t>(*file_, path_, bytes_, dataset, shape(dataset), H5::PredType::NATIVE_INT64,
                          "int64");
}

std::string H5Input::root_attr(const std::string& name) const {
  try {
    const H5::Group root = file_->openGroup("/");
    if (!root.attrExists(name))
      throw std::runtime_error(fmt::format("{}: has no attribute '{}'", path_, name));
    const H5::Attribute a = root.openAttribute(name);
    std::string value;
    a.read(a.getStrType(), value);
    return value;
  } catch (const H5::Exception& e) {
    throw std::runtime_error(
        fmt::format("{}: cannot read attribute '{}': {}", path_, name, e.getDetailMsg()));
  }
}

int64_t H5Input::root_attr_i64(const std::string& name) const {
  try {
    const H5::Group root = file_->openGroup("/");
    if (!root.attrExists(name))
      throw std::runtime_error(fmt::format("{}: has no attribute '{}'", path_, name));
    int64_t value = 0;
    root.openAttribute(name).read(H5::PredType::NATIVE_INT64, &value);
    return value;
  } catch (const H5::Exception& e) {
    throw std::runtime_error(
        fmt::format("{}: cannot read attribute '{}': {}", path_, name, e.getDetailMsg()));
  }
}

void H5Input::require_complete() const {
  try {
    const H5::Group root = file_->openGroup("/");
    if (!root.attrExists("schema")) return;
  } catch (const H5::Exception& e) {
    throw std::runtime_error(fmt::format("{}: cannot read its root group: {}", path_, e.getDetailMsg()));
  }
  if (!root_attr("schema").starts_with("vitbench-result/")) return;
  const int64_t complete = root_attr_i64("complete");
  if (complete != 1)
    throw std::runtime_error(
        fmt::format("{}: incomplete result (complete = {}): the run that wrote it stopped "
                    "before finishing it; delete it, or resume/re-run to write it again",
                    path_, complete));
}

int64_t H5Input::read_i64_scalar(const std::string& dataset) const {
  const Dims s = shape(dataset);
  // Every dimension 1, not product(s) == 1: a corrupt header's dimensions overflow the product (UBSan, found
  // by the checkpoint_h5 fuzz target: tests/fuzz/corpus/checkpoint_h5/crash-11466101...).
  if (!std::all_of(s.begin(), s.end(), [](int64_t d) { return d == 1; }))
    throw std::runtime_error(
        fmt::format("{}: '{}' has shape {}, expected a scalar", path_, dataset, to_string(s)));
  int64_t v = 0;
  try {
    file_->openDataSet(dataset).read(&v, H5::PredType::NATIVE_INT64);
  } catch (const H5::Exception& e) {
    throw std::runtime_error(fmt::format("{}: cannot read '{}': {}", path_, dataset, e.getDetailMsg()));
  }
  return v;
}

}  // namespace vb
