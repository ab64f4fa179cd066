// Effective receptive field (Luo et al. 2016): the absolute gradient of one feature-map unit (all its
// channels) with respect to the input pixels, summed over input channels, averaged over images; and the
// scalars that summarise such a map (centred-square sides holding a share of the mass, area share, fitted
// Gaussian).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "models/core/receptive_field.hpp"  // TapLayout
#include "models/core/tensor.hpp"

namespace vb::rf {

// A (height, width) map, row-major.
struct Map {
  int64_t height = 0, width = 0;
  std::vector<double> values;
  double at(int64_t y, int64_t x) const { return values[static_cast<size_t>(y * width + x)]; }
  double total() const;
};

// diff_tap for a tap of `shape`: 1 at the centre unit in every channel of every image, 0 elsewhere. Centre of
// a grid of extent E is index E / 2 (the lower-right of the four central units when E is even); for words,
// the centre word of the centre patch. `batch` is B (the words' first dimension is B * G*G).
Tensor centre_diff(const Dims& shape, TapLayout layout, int64_t batch);

// Sums |grad| over the channels of each image of grad (B, C, H, W) plain row-major into `sum` (H, W), which
// it sizes on first use; returns the number of images added.
int64_t accumulate_abs(const std::vector<float>& grad, const Dims& shape, Map& sum);

// Scalars of a non-negative map, relative to the pixel (centre, centre) of the unit measured
// (TapRf::centre; a half-integer when the unit is centred between pixels).
struct ErfScalars {
  // Side of the smallest square centred on the unit holding this share of the mass: a pixel at Chebyshev
  // distance d from the centre needs side 2 d + 1. Odd for an integer centre, even for a half-integer one.
  int64_t side20 = 0, side50 = 0, side90 = 0, side99 = 0;
  // Fewest pixels holding 90% of the mass (largest first), as a fraction of the image area.
  double area90 = 0;
  // Isotropic Gaussian fitted by maximum likelihood to the map as a distribution over pixels: mean = the
  // mass centroid (row, column), sigma^2 = mean squared distance from it / 2.
  double sigma = 0, centroid_y = 0, centroid_x = 0;
  double mass = 0;  // sum of the map
};

// Side of the smallest square centred at (centre, centre) holding `share` (0..1] of the map's mass.
int64_t centred_square_side(const Map& map, double centre, double share);
// Fewest pixels (largest values first) holding `share` of the mass, over the number of pixels.
double area_share(const Map& map, double share);
// The fitted Gaussian's sigma, and its mean (centroid) through the pointers if given.
double gaussian_sigma(const Map& map, double* centroid_y = nullptr, double* centroid_x = nullptr);
// All of the above; throws when the map has no mass (a unit the input cannot reach, or all-zero weights).
ErfScalars erf_scalars(const Map& map, double centre);

}  // namespace vb::rf
