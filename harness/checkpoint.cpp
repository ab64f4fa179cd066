// HDF5 state_dict files; see checkpoint.hpp.
#include "harness/checkpoint.hpp"

#include <H5Cpp.h>
#include <fmt/format.h>

#include <set>
#include <stdexcept>

#include "harness/h5read.hpp"
#include "harness/pos_resample.hpp"
#include "harness/results.hpp"
#include "models/config_fields.hpp"

namespace vb {

Dims StateEntry::shape() const {
  if (param) return param->value.shape();
  if (buffer) return buffer->shape();
  return {};
}

void write_model_state(ResultFile& file, Model& model) {
  for (const StateEntry& e : model.state()) {
    if (e.counter) {
      file.write_scalar(e.key, *e.counter);
      continue;
    }
    const Tensor& t = e.param ? e.param->value : *e.buffer;
    file.write(e.key, t.to_vector(), std::vector<uint64_t>(t.shape().begin(), t.shape().end()));
  }
}

void save_checkpoint(const std::filesystem::path& path, Model& model) {
  ResultFile file(path, "checkpoint", collect_provenance(), {{"model", to_json(model.config())}});
  write_model_state(file, model);
  file.commit();
}

void load_checkpoint(const std::filesystem::path& path, Model& model) {
  load_checkpoint(H5Input(path), model);
}

void load_checkpoint(const H5Input& in, Model& model) {
  in.require_complete();
  const auto found = in.datasets();
  const std::string& where = in.path();
  const std::string& name = model.config().name;
  std::set<std::string> used;
  const std::vector<PosTable> tables = model.pos_tables();
  const auto table_of = [&](const std::string& key) -> const PosTable* {
    for (const PosTable& t : tables)
      if (t.key == key) return &t;
    return nullptr;
  };
  for (const StateEntry& e : model.state()) {
    const auto it = found.find(e.key);
    if (it == found.end())
      throw std::runtime_error(
          fmt::format("{}: missing key '{}' (shape {}) for model {}; is this a checkpoint of "
                      "another model?",
                      where, e.key, to_string(e.shape()), name));
    if (e.counter) {
      *e.counter = in.read_i64_scalar(e.key);
    } else {
      Tensor& t = e.param ? e.param->value : *e.buffer;
      if (it->second == t.shape()) {
        t.assign(in.read_f32(e.key));
      } else if (const PosTable* table = table_of(e.key);
                 auto resampled =
                     table ? resample_position_table(*table, in.read_f32(e.key), it->second, t.shape())
                           : std::nullopt) {
        fmt::print(stderr, "{}: resampled '{}' from {} to {} (bilinear)\n", where, e.key,
                   to_string(it->second), to_string(t.shape()));
        t.assign(*resampled);
      } else {
        throw std::runtime_error(fmt::format("{}: key '{}' has shape {} in the file, model {} expects {}",
                                             where, e.key, to_string(it->second), name,
                                             to_string(t.shape())));
      }
    }
    used.insert(e.key);
  }
  std::vector<std::string> unexpected;
  for (const auto& [key, shape] : found)
    if (!used.count(key) && !key.starts_with(std::string(kTrainStateGroup) + "/"))
      unexpected.push_back(fmt::format("'{}' {}", key, to_string(shape)));
  if (!unexpected.empty())
    throw std::runtime_error(
        fmt::format("{}: unexpected key(s) for model {}: {}", where, name, fmt::join(unexpected, ", ")));
}

}  // namespace vb
