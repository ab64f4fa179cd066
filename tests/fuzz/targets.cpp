// The list of fuzz targets (the fast tier's replay walks it).
#include "tests/fuzz/targets.hpp"

#include <fmt/format.h>

namespace vb::fuzz {

const std::vector<TargetInfo>& targets() {
  static const std::vector<TargetInfo> list = {
      {"idx_raw", idx_raw, "IDX images + labels (MNIST, Fashion-MNIST), uncompressed"},
      {"idx_gzip", idx_gzip, "the same IDX pair read through gzip (whole or truncated streams)"},
      {"cifar_bin", cifar_bin, "CIFAR-10 binary batches and batches.meta.txt"},
      {"image_folder", image_folder,
       "an image folder: decode (stb_image), channels, normalisation, cache write"},
      {"image_cache", image_cache, "the image-folder cache file (.vbcache)"},
      {"preset_json", preset_json, "experiment presets (TrainConfig JSON) and their model"},
      {"sweep_json", sweep_json, "sweep files, planned (tier smoke)"},
      {"checkpoint_h5", checkpoint_h5, "checkpoints and train_state (in-memory HDF5 images)"},
      {"set_override", set_override, "--set field=value overrides and the model's cost table"},
  };
  return list;
}

const TargetInfo& target(std::string_view name) {
  for (const auto& t : targets())
    if (name == t.name) return t;
  throw std::invalid_argument(fmt::format("no fuzz target '{}'", name));
}

}  // namespace vb::fuzz
