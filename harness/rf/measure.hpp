// The whole `vitbench rf` measurement on a built model and a set of images: theoretical fields, an effective
// receptive field map and its scalars for each chosen tap, and the mean attention distance of every attention
// layer; written to a `kind = rf` result (docs/results.md).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "harness/results.hpp"
#include "harness/rf/attention_distance.hpp"
#include "harness/rf/erf.hpp"
#include "harness/rf/theoretical.hpp"
#include "models/model.hpp"

namespace vb::rf {

struct MeasureOptions {
  std::vector<std::string> layers;  // tap names to map (Model::taps()); empty = every tap
  int64_t batch = 8;  // images per forward (every op is per image: the result does not depend on it)
  // Called after each tap of each batch: (images done including this batch, images, tap position, taps,
  // name).
  std::function<void(int64_t, int64_t, size_t, size_t, const std::string&)> progress;
};

struct LayerErf {
  std::string name;
  size_t tap = 0;      // index into Model::taps()
  bool words = false;  // a TNT word tap (the centre word of the centre patch)
  double depth = 0;    // blocks below the tap / blocks of the model (0 = embedding or stem, 1 = last block)
  TapRf theoretical;
  Map map;  // mean over images of sum over input channels of |d tap centre / d pixel|
  // Sides -1 and NaN when no gradient reached the input: the all-ones gradient of a LayerNorm output whose
  // scale is uniform (TNT's patch_embed = norm2_proj's output at init) is exactly 0, as the LayerNorm's
  // channel sum does not depend on its input.
  ErfScalars scalars;
};

struct RfMeasurement {
  TapInfo theoretical;
  std::vector<LayerErf> layers;
  // Mean attention distance in pixels, [blocks][heads]: patch tokens (ViT's attention, TNT's outer) and TNT's
  // words (inner attention; empty otherwise).
  std::vector<std::vector<double>> attention_outer, attention_inner;
  std::vector<std::string> attention_outer_names, attention_inner_names;
  int64_t images = 0;
};

// Throws std::invalid_argument naming the valid taps when a layer name is unknown.
std::vector<size_t> resolve_layers(const Model& model, const std::vector<std::string>& names);

// images: (N, C, S, S) plain f32, normalised, S = the model's img_size. The model is run in Mode::train (the
// only mode with a backward); its config must have drop_path 0 so that the forward is deterministic, and
// BatchNorms use their running statistics (Model::freeze_norm_stats, undone on return): the eval-mode
// network, in which no pixel outside a unit's theoretical field and no other image of the batch can reach it.
RfMeasurement measure_rf(Model& model, const std::vector<float>& images, int64_t n,
                         const MeasureOptions& opt);

// Writes the measurement into `out` (datasets under theoretical/, erf/, attention/). Maps are stored summed
// over `downsample` x `downsample` pixel blocks (1 = full resolution; must divide the image side): mass is
// kept.
void write_rf(ResultFile& out, const RfMeasurement& m, int64_t downsample);

}  // namespace vb::rf
