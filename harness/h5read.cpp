// H5Input on the HDF5 C++ API; every failure becomes a std::runtime_error naming the file.
#include "harness/h5read.hpp"

#include <H5Cpp.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <stdexcept>

#include "harness/child_process.hpp"

namespace vb {

namespace {

// HDF5's standard filters expand data by at most deflate's 1032:1, so a dataset cannot hold more bytes than
// this many times the file's size; a shape beyond that is a corrupt or hostile header, refused before
// allocating.
constexpr uint64_t kMaxExpansion = 1032;

// --- The probe: libhdf5 1.10 is not memory-safe on crafted files (fuzzing found a SEGV reading a corrupt
// global heap and a use-after-free in H5Aexists; docs/reliability.md). It cannot be fixed here, and
// validating object headers ourselves would mean re-implementing libhdf5's parser, so every file is first
// read whole in a forked child: if libhdf5 crashes there, the parent reports it and never opens the file
// itself. The child reads everything a loader can (the root's attributes in the order require_complete()
// does, then every object's attributes and every dataset's values), so the parent's later reads of the same
// bytes are a subset.

constexpr auto kProbeTimeout = std::chrono::seconds(300);

// Whether values of `type` point into memory libhdf5 allocated (variable-length strings and sequences).
bool holds_vlen(hid_t type) {
  return H5Tis_variable_str(type) > 0 || H5Tdetect_class(type, H5T_VLEN) > 0;
}

// Reads one attribute in its own (native) type; failures are left to the parent's reads to report.
herr_t probe_attribute(hid_t object, const char* name, const H5A_info_t*, void* file_bytes) {
  const hid_t a = H5Aopen(object, name, H5P_DEFAULT);
  if (a < 0) return 0;
  const hid_t type = H5Aget_type(a), space = H5Aget_space(a);
  const hid_t native = type < 0 ? -1 : H5Tget_native_type(type, H5T_DIR_DEFAULT);
  const hssize_t n = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
  const size_t size = native < 0 ? 0 : H5Tget_size(native);
  if (n > 0 && size > 0 && static_cast<uint64_t>(n) <= *static_cast<uint64_t*>(file_bytes) / size + 1) {
    std::vector<char> buf(static_cast<size_t>(n) * size);
    if (H5Aread(a, native, buf.data()) >= 0 && holds_vlen(native))
      H5Dvlen_reclaim(native, space, H5P_DEFAULT, buf.data());
  }
  if (native >= 0) H5Tclose(native);
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  H5Aclose(a);
  return 0;
}

// Every object's attributes, and every dataset's values read in their native type.
herr_t probe_object(hid_t file, const char* name, const H5O_info_t* info, void* file_bytes) {
  const hid_t object = H5Oopen(file, name, H5P_DEFAULT);
  if (object < 0) return 0;
  H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_NATIVE, nullptr, probe_attribute, file_bytes);
  if (info->type == H5O_TYPE_DATASET) {
    const hid_t type = H5Dget_type(object), space = H5Dget_space(object);
    const hid_t native = type < 0 ? -1 : H5Tget_native_type(type, H5T_DIR_DEFAULT);
    const hssize_t n = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    const size_t size = native < 0 ? 0 : H5Tget_size(native);
    const uint64_t limit = std::max<uint64_t>(*static_cast<uint64_t*>(file_bytes), 1) * kMaxExpansion;
    if (n > 0 && size > 0 && static_cast<uint64_t>(n) <= limit / size) {  // larger: refused before reading
      std::vector<char> buf(static_cast<size_t>(n) * size);
      if (H5Dread(object, native, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) >= 0 && holds_vlen(native))
        H5Dvlen_reclaim(native, space, H5P_DEFAULT, buf.data());
    }
    if (native >= 0) H5Tclose(native);
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
  }
  H5Oclose(object);
  return 0;
}

void probe_file(const H5::H5File& f, uint64_t file_bytes) {
  const hid_t id = f.getId();
  for (const char* first : {"schema", "complete"})  // require_complete()'s reads, in its order
    if (H5Aexists(id, first) > 0) probe_attribute(id, first, nullptr, &file_bytes);
  H5Ovisit(id, H5_INDEX_NAME, H5_ITER_NATIVE, probe_object, &file_bytes);
}

// Runs `read_all` in a forked child; throws, naming the file, if libhdf5 crashed or hung there.
void probe_in_child(const std::string& name, const std::function<void()>& read_all) {
  ChildOutcome out;
  try {
    out = run_in_child(read_all, kProbeTimeout);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(fmt::format("{}: cannot check the file before reading it: {}", name, e.what()));
  }
  const char* advice =
      "the file is corrupt or crafted, so it is not opened; load files only from sources you "
      "trust (docs/reliability.md)";
  switch (out.kind) {
    case ChildOutcome::Kind::finished:
      return;
    case ChildOutcome::Kind::signal:
      throw std::runtime_error(fmt::format("{}: libhdf5 crashed reading it in a child process ({}): {}", name,
                                           out.describe(), advice));
    case ChildOutcome::Kind::sanitizer:
      throw std::runtime_error(fmt::format(
          "{}: libhdf5 made a memory error reading it (found by the sanitizer) in a child process: {}", name,
          advice));
    case ChildOutcome::Kind::timeout:
      throw std::runtime_error(fmt::format("{}: libhdf5 did not finish reading the file in {} s: {}", name,
                                           kProbeTimeout.count(), advice));
    case ChildOutcome::Kind::exit_code:
      throw std::runtime_error(
          fmt::format("{}: the child process reading it {}: {}", name, out.describe(), advice));
  }
}

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
  std::error_code ec;
  bytes_ = std::filesystem::file_size(path, ec);
  if (ec) bytes_ = 0;
  auto open = [&] {
    try {
      return std::make_unique<H5::H5File>(path_, H5F_ACC_RDONLY);
    } catch (const H5::Exception& e) {
      throw std::runtime_error(fmt::format("{}: cannot open: {}", path_, e.getDetailMsg()));
    }
  };
  probe_in_child(path_, [&] { probe_file(*open(), bytes_); });
  file_ = open();
}

H5Input::H5Input(const void* image, size_t bytes, const std::string& name) : path_(name), bytes_(bytes) {
  H5::Exception::dontPrint();
  // HDF5's superblock signature; anything shorter or without it is not worth handing to the library.
  static constexpr unsigned char kSignature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  if (bytes < 64 || std::memcmp(image, kSignature, sizeof kSignature) != 0)
    throw std::runtime_error(fmt::format("{}: not an HDF5 file (or truncated)", path_));
  auto open = [&] {
    try {
      H5::FileAccPropList fapl;
      fapl.setCore(64 * 1024, false);  // in memory, never written back
      if (H5Pset_file_image(fapl.getId(), const_cast<void*>(image), bytes) < 0)
        throw std::runtime_error(fmt::format("{}: cannot hand the file image to HDF5", path_));
      return std::make_unique<H5::H5File>(path_, H5F_ACC_RDONLY, H5::FileCreatPropList::DEFAULT, fapl);
    } catch (const H5::Exception& e) {
      throw std::runtime_error(fmt::format("{}: cannot open: {}", path_, e.getDetailMsg()));
    }
  };
  probe_in_child(path_, [&] { probe_file(*open(), bytes_); });
  file_ = open();
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

namespace {

// A numeric attribute of the root group as T (HDF5 converts from the stored type), naming the file if
// missing.
template <class T>
T read_root_number(const H5::H5File& file, const std::string& path, const std::string& name,
                   const H5::PredType& type) {
  try {
    const H5::Group root = file.openGroup("/");
    if (!root.attrExists(name))
      throw std::runtime_error(fmt::format("{}: has no attribute '{}'", path, name));
    T value{};
    root.openAttribute(name).read(type, &value);
    return value;
  } catch (const H5::Exception& e) {
    throw std::runtime_error(fmt::format("{}: cannot read attribute '{}': {}", path, name, e.getDetailMsg()));
  }
}

}  // namespace

int64_t H5Input::root_attr_i64(const std::string& name) const {
  return read_root_number<int64_t>(*file_, path_, name, H5::PredType::NATIVE_INT64);
}

double H5Input::root_attr_f64(const std::string& name) const {
  return read_root_number<double>(*file_, path_, name, H5::PredType::NATIVE_DOUBLE);
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
