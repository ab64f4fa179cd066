// ResultFile on the HDF5 C++ API; every HDF5 failure becomes a std::runtime_error naming the file.
#include "harness/results.hpp"

#include <H5Cpp.h>
#include <fmt/format.h>

#include <atomic>
#include <stdexcept>

#include "harness/atomic_write.hpp"
#include "harness/file_lock.hpp"

namespace vb {

namespace {

template <class T>
const H5::PredType& h5_type();
template <>
const H5::PredType& h5_type<double>() {
  return H5::PredType::NATIVE_DOUBLE;
}
template <>
const H5::PredType& h5_type<float>() {
  return H5::PredType::NATIVE_FLOAT;
}
template <>
const H5::PredType& h5_type<int64_t>() {
  return H5::PredType::NATIVE_INT64;
}

// Creates each missing group on the way to `name`'s parent.
void make_parents(H5::H5File& f, const std::string& name) {
  for (size_t pos = name.find('/', 1); pos != std::string::npos; pos = name.find('/', pos + 1)) {
    const std::string group = name.substr(0, pos);
    if (!group.empty() && !f.nameExists(group)) f.createGroup(group);
  }
}

template <class T>
void write_dataset(H5::H5File& f, const std::string& name, const std::vector<T>& values,
                   std::vector<uint64_t> shape) {
  if (shape.empty()) shape = {values.size()};
  uint64_t n = 1;
  for (auto d : shape) n *= d;
  if (n != values.size())
    throw std::invalid_argument(
        fmt::format("dataset {}: {} values for shape [{}]", name, values.size(), fmt::join(shape, ", ")));
  make_parents(f, name);
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
  H5::DataSet ds = f.createDataSet(name, h5_type<T>(), space);
  if (n) ds.write(values.data(), h5_type<T>());
}

// Calls fn on the group or dataset at `object` ("/" is the root group).
template <class F>
void with_object(H5::H5File& f, const std::string& object, F&& fn) {
  if (object == "/" || f.childObjType(object) == H5O_TYPE_GROUP) {
    H5::Group g = f.openGroup(object);
    fn(static_cast<H5::H5Object&>(g));
  } else {
    H5::DataSet d = f.openDataSet(object);
    fn(static_cast<H5::H5Object&>(d));
  }
}

}  // namespace

template <class F>
void ResultFile::guarded(const std::string& what, F&& f) {
  if (!file_) throw std::logic_error(fmt::format("{}: result file already committed", path_.string()));
  try {
    f();
  } catch (const H5::Exception& e) {
    throw std::runtime_error(
        fmt::format("{}: cannot {} (in memory): {}", path_.string(), what, e.getDetailMsg()));
  }
}

ResultFile::ResultFile(std::filesystem::path path, const std::string& kind, const Provenance& prov,
                       const nlohmann::json& config)
    : path_(std::move(path)) {
  H5::Exception::dontPrint();
  // The folder is checked now, so a read-only or impossible output fails before the work, not after it.
  require_writable_folder(path_.has_parent_path() ? path_.parent_path() : std::filesystem::path("."));
  create_output_folder(path_.parent_path());
  lock_ = std::make_unique<FileLock>(file_lock_path(path_), "results file " + path_.string());
  // In memory (core driver, backing_store off): libhdf5 1.10 cannot close a file safely after a failed flush
  // to disk, so the disk only ever sees the finished image. The name only identifies the file inside HDF5.
  static std::atomic<int64_t> serial{0};
  try {
    H5::FileAccPropList fapl;
    fapl.setCore(1 << 20, false);
    file_ = std::make_unique<H5::H5File>(fmt::format("{}#mem{}", path_.string(), ++serial), H5F_ACC_TRUNC,
                                         H5::FileCreatPropList::DEFAULT, fapl);
  } catch (const H5::Exception& e) {
    throw std::runtime_error(
        fmt::format("{}: cannot create the result in memory: {}", path_.string(), e.getDetailMsg()));
  }
  attr("schema", std::string("vitbench-result/1"));
  attr("kind", kind);
  attr("complete", int64_t{0});
  attr("git_commit", prov.git_commit);
  attr("git_dirty", int64_t{prov.git_dirty});
  attr("onednn_version", prov.onednn_version);
  attr("cpu_model", prov.cpu_model);
  attr("isa", prov.isa);
  attr("isa_cap", prov.isa_cap);
  attr("dtypes", prov.dtypes);
  attr("threads", int64_t{prov.threads});
  attr("cpu_cores", int64_t{prov.cpu_cores});
  attr("seed", static_cast<int64_t>(prov.seed));
  attr("command", prov.command);
  attr("start_time", prov.start_time);
  attr("config", config.dump());
}

ResultFile::~ResultFile() {
  if (!file_) return;
  try {
    file_->close();  // in memory only: nothing to flush, so closing cannot fail halfway
  } catch (...) {
  }
}

void ResultFile::write(const std::string& name, const std::vector<double>& v,
                       const std::vector<uint64_t>& s) {
  guarded("write dataset " + name, [&] { write_dataset(*file_, name, v, s); });
}
void ResultFile::write(const std::string& name, const std::vector<float>& v, const std::vector<uint64_t>& s) {
  guarded("write dataset " + name, [&] { write_dataset(*file_, name, v, s); });
}
void ResultFile::write(const std::string& name, const std::vector<int64_t>& v,
                       const std::vector<uint64_t>& s) {
  guarded("write dataset " + name, [&] { write_dataset(*file_, name, v, s); });
}

void ResultFile::write_scalar(const std::string& name, int64_t value) {
  guarded("write dataset " + name, [&] {
    make_parents(*file_, name);
    file_->createDataSet(name, h5_type<int64_t>(), H5::DataSpace(H5S_SCALAR))
        .write(&value, h5_type<int64_t>());
  });
}

// Replaces attribute `name` on `object` with what `create` makes there.
template <class F>
void ResultFile::put_attr(const std::string& name, const std::string& object, F&& create) {
  guarded("write attribute " + name + " on " + object, [&] {
    with_object(*file_, object, [&](H5::H5Object& obj) {
      if (obj.attrExists(name)) obj.removeAttr(name);
      create(obj);
    });
  });
}

void ResultFile::attr(const std::string& name, const std::string& value, const std::string& object) {
  put_attr(name, object, [&](H5::H5Object& obj) {
    H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
    type.setCset(H5T_CSET_UTF8);
    obj.createAttribute(name, type, H5::DataSpace(H5S_SCALAR)).write(type, value);
  });
}

void ResultFile::attr(const std::string& name, double value, const std::string& object) {
  put_attr(name, object, [&](H5::H5Object& obj) {
    obj.createAttribute(name, h5_type<double>(), H5::DataSpace(H5S_SCALAR)).write(h5_type<double>(), &value);
  });
}

void ResultFile::attr(const std::string& name, int64_t value, const std::string& object) {
  put_attr(name, object, [&](H5::H5Object& obj) {
    obj.createAttribute(name, h5_type<int64_t>(), H5::DataSpace(H5S_SCALAR))
        .write(h5_type<int64_t>(), &value);
  });
}

std::filesystem::path ResultFile::commit() {
  attr("end_time", utc_now());
  attr("complete", int64_t{1});
  std::vector<std::byte> image;
  guarded("take the file image", [&] {
    file_->flush(H5F_SCOPE_GLOBAL);
    const hid_t id = file_->getId();
    const ssize_t size = H5Fget_file_image(id, nullptr, 0);
    if (size < 0) throw H5::FileIException("H5Fget_file_image", "cannot size the image");
    image.resize(static_cast<size_t>(size));
    if (H5Fget_file_image(id, image.data(), image.size()) != size)
      throw H5::FileIException("H5Fget_file_image", "cannot copy the image");
    file_->close();
  });
  file_.reset();
  write_file_atomically(path_, image);
  lock_.reset();
  return path_;
}

}  // namespace vb
