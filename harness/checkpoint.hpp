// Checkpoints: one HDF5 file holding one dataset per state_dict entry, named by its PyTorch key, in PyTorch
// layout and shape (float32; integer counters as int64), so torchvision/timm weights converted by
// scripts/convert_state_dict.py load directly. Loading is strict.
#pragma once

#include <filesystem>

#include "models/model.hpp"

namespace vb {

class H5Input;
class ResultFile;

// A training checkpoint keeps the optimizer and loop state in this group beside the model's entries; loading
// a model skips it, so any training checkpoint is also a model checkpoint.
inline constexpr const char* kTrainStateGroup = "train_state";

// Writes every state_dict entry of `model` at the root of `file` (float32 tensors, int64 scalar counters).
void write_model_state(ResultFile& file, Model& model);
// Writes atomically (temporary name, then rename), with the provenance and model config of every result.
void save_checkpoint(const std::filesystem::path& path, Model& model);
// Strict: a missing key, an unexpected key or a shape mismatch is an error naming the key and both shapes;
// the one exception is a learned position table stored for another grid, which is resampled
// (pos_resample.hpp).
void load_checkpoint(const std::filesystem::path& path, Model& model);
void load_checkpoint(const H5Input& in, Model& model);  // the same from an open file (or in-memory image)

}  // namespace vb
