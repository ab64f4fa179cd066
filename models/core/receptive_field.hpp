// Receptive-field geometry: which input pixels can influence one unit of a feature map, from the kernel,
// stride, padding and dilation of every conv/pool/embedding on the way (the size/jump/start recurrence). Each
// model family describes its own taps with these types (Model::tap_info()); harness/rf measures on top of
// them without knowing the family.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

// How a tap's tensor is laid out, which says where its centre unit is:
//   feature_map     (B, C, H, W): a CNN feature map, centre (H/2, W/2)
//   tokens_with_cls (B, 1 + G*G, D): a cls token then a G x G patch grid, centre patch (G/2, G/2)
//   words           (B * G*G, w*w, c): TNT's words, w x w per patch; centre word (w/2, w/2) of the centre
//   patch
enum class TapLayout { feature_map, tokens_with_cls, words };

// The field of one measurement tap (Model::taps(), same order) and the pixel at the centre of its centre
// unit.
struct TapRf {
  std::string name;
  TapLayout layout = TapLayout::feature_map;
  Field field;
  bool whole_image = false;  // after an attention over all patches: every pixel, whatever `size` says
  double centre = 0;         // pixel coordinate (same for rows and columns) of the centre unit's field
};

// One attention layer (Model::attention_probs(), same order): its keys form a side x side grid of tokens
// `spacing` pixels apart, after `prefix` tokens that have no position (the cls token).
struct AttentionGrid {
  std::string name;  // "blocks.3.attn", TNT "blocks.3.attn_in" / "blocks.3.attn_out"
  int64_t side = 0;
  double spacing = 0;  // pixels between neighbouring tokens
  int64_t prefix = 0;  // 1 with a cls token
  bool inner = false;  // TNT's word attention, inside one patch
};

// Everything a measurement needs to know about a model's geometry.
struct TapInfo {
  std::vector<LayerRf> layers;           // in depth order; ResNet: stem conv, max-pool, every bottleneck conv
  std::vector<TapRf> taps;               // one per Model::taps() entry
  std::vector<AttentionGrid> attention;  // one per Model::attention_probs() entry
};

// The tap of a map whose centre unit is its (extent / 2)-th.
TapRf tap_at_centre(const std::string& name, TapLayout layout, const Field& f);

}  // namespace vb::rf
