// ResNet's registration: presets (torchvision's ResNet-50 and the 32-px variants trained here) and the cost
// table computed from the config alone (a test checks it against the built model).
#include "models/core/geometry.hpp"
#include "models/families/families.hpp"

namespace vb {

namespace {

std::vector<ModelConfig> resnet_presets() {
  // ResNet-50, torchvision v1.5 (stride on the 3x3 conv of each bottleneck).
  ModelConfig resnet;
  resnet.name = "resnet50";
  resnet.family = Family::resnet;
  const ModelConfig r32 =
      derive(resnet, "resnet50_32", [](auto& c) { small_input(c), c.stem = Stem::cifar; });
  return {resnet, r32, derive(r32, "resnet50_w16_32", [](auto& c) { c.base_width = 16; })};  // ~1.5M params
}

// conv_out (models/core/geometry.hpp) on checked counts.
Count out_size(Count in, int64_t kernel, int64_t stride, int64_t padding) {
  return (in + 2 * padding - kernel) / stride + 1;
}

std::vector<CostRow> resnet_cost_table(const ModelConfig& c) {
  check_blocks(Count(c.layers[0]) + c.layers[1] + c.layers[2] + c.layers[3]);
  std::vector<CostRow> rows;
  Count h = c.img_size, ch = c.in_chans;  // checked
  const Count w0 = c.base_width;
  if (c.stem == Stem::imagenet) {
    const Count ho = out_size(h, 7, 2, 3);
    rows.push_back(
        {"conv1+bn1", {w0.v, ho.v, ho.v}, (7 * 7 * ch * w0 + 2 * w0).v, (7 * 7 * ch * w0 * ho * ho).v});
    h = out_size(ho, 3, 2, 1);
    rows.push_back({"maxpool", {w0.v, h.v, h.v}, 0, 0});
  } else {
    rows.push_back(
        {"conv1+bn1", {w0.v, h.v, h.v}, (3 * 3 * ch * w0 + 2 * w0).v, (3 * 3 * ch * w0 * h * h).v});
  }
  ch = w0;
  for (int s = 0; s < 4; ++s) {
    const Count width = w0 * (int64_t{1} << s), out = 4 * width;
    for (int64_t b = 0; b < c.layers[s]; ++b) {
      const int64_t stride = (s > 0 && b == 0) ? 2 : 1;
      const Count ho = out_size(h, 3, stride, 1);
      CostRow r{"layer" + std::to_string(s + 1) + "." + std::to_string(b), {out.v, ho.v, ho.v}, 0, 0};
      Count params = ch * width + 2 * width + 9 * width * width + 2 * width + width * out + 2 * out;
      Count macs = ch * width * h * h + 9 * width * width * ho * ho + width * out * ho * ho;
      if (stride != 1 || ch.v != out.v) {
        params = params + ch * out + 2 * out;
        macs = macs + ch * out * ho * ho;
      }
      r.params = params.v, r.macs = macs.v;
      rows.push_back(r);
      h = ho, ch = out;
    }
  }
  rows.push_back({"fc", {c.num_classes}, linear_params(ch, c.num_classes, true).v, (ch * c.num_classes).v});
  return rows;
}

}  // namespace

FamilyInfo resnet_family() {
  return {.id = Family::resnet,
          .make = make_resnet,
          .presets = resnet_presets,
          .cost_table = resnet_cost_table,
          .fields = {"layers", "base_width", "stem"},
          .headline = {"stem", "base_width"}};
}

}  // namespace vb
