// Resampling learned position tables when a checkpoint was trained at another grid size (timm's
// resample_abs_pos_embed, with bilinear interpolation, align_corners=False, as F.interpolate does).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "models/core/tensor.hpp"

namespace vb {

// Bilinear resize of an (h, w) grid of `channels` values. channels_last: element (y, x, c) at (y*w + x)*channels + c;
// otherwise (c, y, x) at (c*h + y)*w + x.
std::vector<float> resample_grid(const std::vector<float>& src, int64_t h, int64_t w, int64_t channels, int64_t out_h,
                                 int64_t out_w, bool channels_last);

// If `key` is a position table whose stored shape differs from the model's only by its grid, returns the values
// resampled to `to`; otherwise nothing. Tables: pos_embed / patch_pos (1, prefix + h*w, D) with one cls row and a
// square grid; pos_embed_x / pos_embed_y (1, g, D/2); pixel_pos (1, c, h, w).
std::optional<std::vector<float>> resample_position_table(const std::string& key, const std::vector<float>& values,
                                                          const Dims& from, const Dims& to);

}  // namespace vb
