// Checkpoints: one HDF5 file holding one dataset per state_dict entry, named by its PyTorch key, in PyTorch
// layout and shape (float32; integer counters as int64), so torchvision/timm weights converted by
// scripts/convert_state_dict.py load directly. Loading is strict.
#pragma once

#include <filesystem>

#include "models/model.hpp"

namespace vb {

// Writes atomically (temporary name, then rename).
void save_checkpoint(const std::filesystem::path& path, Model& model);
// Strict: a missing key, an unexpected key or a shape mismatch is an error naming the key and both shapes;
// the one exception is a learned position table stored for another grid, which is resampled (pos_resample.hpp).
void load_checkpoint(const std::filesystem::path& path, Model& model);

}  // namespace vb
