// HDF5 state_dict files; see checkpoint.hpp.
#include "harness/checkpoint.hpp"

#include <H5Cpp.h>

#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "harness/h5read.hpp"
#include "harness/pos_resample.hpp"

namespace vb {


Dims StateEntry::shape() const {
  if (param) return param->value.shape();
  if (buffer) return buffer->shape();
  return {};
}

void save_checkpoint(const std::filesystem::path& path, Model& model) {
  H5::Exception::dontPrint();
  const std::string partial = path.string() + ".partial";
  try {
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    H5::H5File f(partial, H5F_ACC_TRUNC);
    for (const StateEntry& e : model.state()) {
      if (e.counter) {
        f.createDataSet(e.key, H5::PredType::NATIVE_INT64, H5::DataSpace(H5S_SCALAR))
            .write(e.counter, H5::PredType::NATIVE_INT64);
        continue;
      }
      const Tensor& t = e.param ? e.param->value : *e.buffer;
      const auto values = t.to_vector();
      std::vector<hsize_t> dims(t.shape().begin(), t.shape().end());
      f.createDataSet(e.key, H5::PredType::NATIVE_FLOAT, H5::DataSpace(static_cast<int>(dims.size()), dims.data()))
          .write(values.data(), H5::PredType::NATIVE_FLOAT);
    }
    f.close();
  } catch (const H5::Exception& e) {
    std::filesystem::remove(partial);
    throw std::runtime_error(fmt::format("{}: cannot write checkpoint: {}", path.string(), e.getDetailMsg()));
  } catch (const std::filesystem::filesystem_error& e) {
    throw std::runtime_error(fmt::format("{}: cannot write checkpoint: {}", path.string(), e.what()));
  }
  std::filesystem::rename(partial, path);
}

void load_checkpoint(const std::filesystem::path& path, Model& model) {
  const H5Input in(path);
  const auto found = in.datasets();
  const std::string& where = in.path();
  const std::string& name = model.config().name;
  std::set<std::string> used;
  for (const StateEntry& e : model.state()) {
    const auto it = found.find(e.key);
    if (it == found.end())
      throw std::runtime_error(fmt::format("{}: missing key '{}' (shape {}) for model {}; is this a checkpoint of "
                                           "another model?", where, e.key, to_string(e.shape()), name));
    if (e.counter) {
      *e.counter = in.read_i64_scalar(e.key);
    } else {
      Tensor& t = e.param ? e.param->value : *e.buffer;
      if (it->second == t.shape()) {
        t.assign(in.read_f32(e.key));
      } else if (auto resampled = resample_position_table(e.key, in.read_f32(e.key), it->second, t.shape())) {
        fmt::print(stderr, "{}: resampled '{}' from {} to {} (bilinear)\n", where, e.key, to_string(it->second),
                   to_string(t.shape()));
        t.assign(*resampled);
      } else {
        throw std::runtime_error(fmt::format("{}: key '{}' has shape {} in the file, model {} expects {}", where,
                                             e.key, to_string(it->second), name, to_string(t.shape())));
      }
    }
    used.insert(e.key);
  }
  std::vector<std::string> unexpected;
  for (const auto& [key, shape] : found)
    if (!used.count(key)) unexpected.push_back(fmt::format("'{}' {}", key, to_string(shape)));
  if (!unexpected.empty())
    throw std::runtime_error(fmt::format("{}: unexpected key(s) for model {}: {}", where, name,
                                         fmt::join(unexpected, ", ")));
}

}  // namespace vb
