// Theoretical receptive field: which input pixels can influence one unit of a feature map, from the kernel,
// stride, padding and dilation of every conv/pool layer on the way (the standard size/jump/start recurrence),
// read from the built layers of a ResNet; for ViT/TNT the patch/word embedding, then the whole image.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/model.hpp"

namespace vb::rf {

// A sliding window: `kernel` taps `dilation` apart, moved by `stride`, over an input zero-padded by
// `padding`.
struct Window {
  int64_t kernel = 1, stride = 1, padding = 0, dilation = 1;
};

// The receptive field of the units of one feature map along one axis, in input pixels (pixel centres at
// integer coordinates 0 .. img-1): each unit sees `size` pixels, neighbouring units are `jump` pixels apart,
// unit 0 is centred at `start` (negative or half-integer when padding or even kernels make it so), and the
// map has `extent` units. Size counts padding positions too: it is the window, not its overlap with the
// image.
struct Field {
  int64_t size = 1, jump = 1;
  double start = 0;
  int64_t extent = 0;
  double centre(int64_t index) const { return start + static_cast<double>(jump * index); }
};

// The field of the output of window `w` applied to a map whose field is `in`:
//   size += (dilation (kernel - 1)) jump, jump *= stride, start += ((dilation (kernel - 1)) / 2 - padding)
//   jump.
Field through(const Field& in, const Window& w);
// The input image itself: every pixel sees itself.
Field image_field(int64_t img_size);

// One conv/pool/embedding/attention layer with the field of its output.
struct LayerRf {
  std::string name;  // the module path: "layer2.0.conv2", "maxpool", "patch_embed.proj", "blocks.0.attn"
  std::string kind;  // "conv", "pool", "embed", "attention"
  Window window;     // kernel 0 for attention (no window: every token)
  Field field;
};

// The field of one measurement tap (Model::taps(), same order), and the pixel at the centre of the tap's
// centre unit ((H/2, W/2) of the tap's grid; TNT words: the centre word (w/2, w/2) of the centre patch).
struct TapRf {
  std::string name;
  Field field;
  bool whole_image = false;  // after an attention over all patches: every pixel, whatever `size` says
  double centre = 0;         // pixel coordinate (same for rows and columns) of the centre unit's field
};

struct TheoreticalRf {
  std::vector<LayerRf> layers;  // in depth order; ResNet: stem conv, max-pool, every bottleneck conv
  std::vector<TapRf> taps;      // one per Model::taps() entry
};

// For the model's own input size (config().img_size). ResNet: read from the built layers (kernel, stride,
// padding of every conv and pool; the 1x1 shortcut never widens a block's field, the block's field is the
// wider of its two paths). ViT/TNT: from the config (patch size; TNT's word conv).
TheoreticalRf theoretical_rf(const Model& model);

}  // namespace vb::rf
