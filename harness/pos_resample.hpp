// Resampling learned position tables when a checkpoint was trained at another grid size (timm's
// resample_abs_pos_embed, with bilinear interpolation, align_corners=False, as F.interpolate does).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "models/core/tensor.hpp"
#include "models/model.hpp"

namespace vb {

// Bilinear resize of an (h, w) grid of `channels` values. channels_last: element (y, x, c) at (y*w +
// x)*channels + c; otherwise (c, y, x) at (c*h + y)*w + x.
std::vector<float> resample_grid(const std::vector<float>& src, int64_t h, int64_t w, int64_t channels,
                                 int64_t out_h, int64_t out_w, bool channels_last);

// If the stored shape `from` of a model's position table (Model::pos_tables()) differs from the model's `to`
// only by its grid, returns the values resampled to `to` (prefix rows copied); otherwise nothing. A rows
// table's stored grid is one axis when the model's is (grid_h 1), else square.
std::optional<std::vector<float>> resample_position_table(const PosTable& table,
                                                          const std::vector<float>& values, const Dims& from,
                                                          const Dims& to);

}  // namespace vb
