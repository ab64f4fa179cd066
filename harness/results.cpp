// ResultFile on the HDF5 C++ API; every HDF5 failure becomes a std::runtime_error naming the file.
#include "harness/results.hpp"

#include <H5Cpp.h>

#include <stdexcept>

#include <fmt/format.h>

namespace vb {

namespace {

template <class T>
const H5::PredType& h5_type();
template <>
const H5::PredType& h5_type<double>() { return H5::PredType::NATIVE_DOUBLE; }
template <>
const H5::PredType& h5_type<float>() { return H5::PredType::NATIVE_FLOAT; }
template <>
const H5::PredType& h5_type<int64_t>() { return H5::PredType::NATIVE_INT64; }

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
    throw std::invalid_argument(fmt::format("dataset {}: {} values for shape [{}]", name, values.size(),
                                            fmt::join(shape, ", ")));
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
    throw std::runtime_error(fmt::format("{}: cannot {}: {} (disk full or not writable?)", partial_.string(),
                                         what, e.getDetailMsg()));
  }
}

ResultFile::ResultFile(std::filesystem::path path, const std::string& kind, const Provenance& prov,
                       const nlohmann::json& config)
    : path_(std::move(path)), partial_(path_.string() + ".partial") {
  H5::Exception::dontPrint();
  std::error_code ec;
  if (path_.has_parent_path()) std::filesystem::create_directories(path_.parent_path(), ec);
  if (ec)
    throw std::runtime_error(fmt::format("{}: cannot create the folder for this result: {}", path_.string(),
                                         ec.message()));
  try {
    file_ = std::make_unique<H5::H5File>(partial_.string(), H5F_ACC_TRUNC);
  } catch (const H5::Exception& e) {
    throw std::runtime_error(fmt::format("{}: cannot create result file: {}", partial_.string(), e.getDetailMsg()));
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
  attr("seed", static_cast<int64_t>(prov.seed));
  attr("command", prov.command);
  attr("start_time", prov.start_time);
  attr("config", config.dump());
}

ResultFile::~ResultFile() {
  if (!file_) return;
  try {
    file_->close();
  } catch (...) {
  }
  std::error_code ec;
  std::filesystem::remove(partial_, ec);
}

void ResultFile::write(const std::string& name, const std::vector<double>& v, const std::vector<uint64_t>& s) {
  guarded("write dataset " + name, [&] { write_dataset(*file_, name, v, s); });
}
void ResultFile::write(const std::string& name, const std::vector<float>& v, const std::vector<uint64_t>& s) {
  guarded("write dataset " + name, [&] { write_dataset(*file_, name, v, s); });
}
void ResultFile::write(const std::string& name, const std::vector<int64_t>& v, const std::vector<uint64_t>& s) {
  guarded("write dataset " + name, [&] { write_dataset(*file_, name, v, s); });
}

void ResultFile::write_scalar(const std::string& name, int64_t value) {
  guarded("write dataset " + name, [&] {
    make_parents(*file_, name);
    file_->createDataSet(name, h5_type<int64_t>(), H5::DataSpace(H5S_SCALAR)).write(&value, h5_type<int64_t>());
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
    obj.createAttribute(name, h5_type<int64_t>(), H5::DataSpace(H5S_SCALAR)).write(h5_type<int64_t>(), &value);
  });
}

std::filesystem::path ResultFile::commit() {
  attr("end_time", utc_now());
  attr("complete", int64_t{1});
  guarded("close", [&] { file_->close(); });
  file_.reset();
  std::error_code ec;
  std::filesystem::rename(partial_, path_, ec);
  if (ec)
    throw std::runtime_error(fmt::format("{}: cannot rename to {}: {}", partial_.string(), path_.string(),
                                         ec.message()));
  return path_;
}

}  // namespace vb
