// Theoretical receptive fields (see theoretical.hpp). ResNet's come from its built layers so they cannot
// drift from the model; the transformers' from the few config fields that define their embeddings.
#include "harness/rf/theoretical.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "models/resnet.hpp"

namespace vb::rf {

Field through(const Field& in, const Window& w) {
  if (w.kernel < 1 || w.stride < 1 || w.padding < 0 || w.dilation < 1)
    throw std::invalid_argument(
        fmt::format("receptive field: bad window kernel {} stride {} padding {} dilation {}", w.kernel,
                    w.stride, w.padding, w.dilation));
  const int64_t span =
      w.dilation * (w.kernel - 1);  // pixels between the window's first and last tap, minus 1
  Field out;
  out.size = in.size + span * in.jump;
  out.jump = in.jump * w.stride;
  out.start = in.start + (static_cast<double>(span) / 2 - static_cast<double>(w.padding)) * in.jump;
  out.extent = (in.extent + 2 * w.padding - span - 1) / w.stride + 1;
  return out;
}

Field image_field(int64_t img_size) {
  return Field{.size = 1, .jump = 1, .start = 0, .extent = img_size};
}

namespace {

Window window_of(const Conv2d& c) {
  return {
      .kernel = c.config().kernel, .stride = c.config().stride, .padding = c.config().padding, .dilation = 1};
}
Window window_of(const MaxPool2d& p) {
  return {
      .kernel = p.config().kernel, .stride = p.config().stride, .padding = p.config().padding, .dilation = 1};
}

TapRf tap_at_centre(const std::string& name, const Field& f) {
  return {.name = name, .field = f, .whole_image = false, .centre = f.centre(f.extent / 2)};
}

TheoreticalRf resnet_rf(const ResNet& net) {
  TheoreticalRf r;
  Field f = image_field(net.config().img_size);
  auto step = [&](const std::string& name, const std::string& kind, const Window& w, const Field& in) {
    r.layers.push_back({name, kind, w, through(in, w)});
    return r.layers.back().field;
  };
  f = step(net.stem_conv().name(), "conv", window_of(net.stem_conv()), f);
  if (net.stem_pool()) f = step(net.stem_pool()->name(), "pool", window_of(*net.stem_pool()), f);
  r.taps.push_back(tap_at_centre(net.taps()[0], f));
  for (const auto& b : net.blocks()) {
    Field main = step(b->conv1.name(), "conv", window_of(b->conv1), f);
    main = step(b->conv2.name(), "conv", window_of(b->conv2), main);
    main = step(b->conv3.name(), "conv", window_of(b->conv3), main);
    Field shortcut = f;
    if (b->downsample_conv)
      shortcut = step(b->downsample_conv->name(), "conv", window_of(*b->downsample_conv), f);
    // The add joins two fields on the same grid; the output sees the union, i.e. the wider one.
    if (main.jump != shortcut.jump || main.start != shortcut.start || main.extent != shortcut.extent)
      throw std::logic_error(b->name + ": the two paths of the block end on different grids");
    f = main;
    f.size = std::max(main.size, shortcut.size);
    r.taps.push_back(tap_at_centre(b->name, f));
  }
  return r;
}

// ViT: the patch conv (kernel = stride = P); every block's attention reaches every patch.
TheoreticalRf vit_rf(const ModelConfig& c) {
  TheoreticalRf r;
  const int64_t P = c.patch_size;
  const Field patch = through(image_field(c.img_size), {.kernel = P, .stride = P});
  r.layers.push_back({"patch_embed.proj", "embed", {.kernel = P, .stride = P}, patch});
  r.taps.push_back(tap_at_centre("patch_embed", patch));
  Field all = patch;
  all.size = c.img_size;
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string name = fmt::format("blocks.{}", i);
    r.layers.push_back({name + ".attn", "attention", {.kernel = 0}, all});
    r.taps.push_back({name, all, true, patch.centre(patch.extent / 2)});
  }
  return r;
}

// TNT: each P x P patch is cut out (a window of P, stride P) and the word conv runs inside it with its own
// zero padding; the patch token flattens its words (the patch). Inner attention mixes only the words of one
// patch, and nothing flows from the patch tokens back into the words: a word sees its patch at every depth.
// Outer attention reaches every patch.
TheoreticalRf tnt_rf(const ModelConfig& c) {
  TheoreticalRf r;
  const int64_t P = c.patch_size, G = c.img_size / P;
  const Window word_window{.kernel = c.word_kernel, .stride = c.word_stride, .padding = c.word_padding};
  const Field word_local = through(image_field(P), word_window);  // inside one patch
  // Words of all patches on one axis: patch g's word j is centred at g P + word_local.centre(j).
  const double word_centre = static_cast<double>((G / 2) * P) + word_local.centre(word_local.extent / 2);
  Field words = word_local;
  words.extent = G * word_local.extent;
  r.layers.push_back({"pixel_embed.proj", "embed", word_window, words});
  const Field patch = through(image_field(c.img_size), {.kernel = P, .stride = P});
  r.layers.push_back({"proj", "embed", {.kernel = P, .stride = P}, patch});
  r.taps.push_back(tap_at_centre("patch_embed", patch));
  Field word_sees_patch = words;
  word_sees_patch.size = P;
  Field all = patch;
  all.size = c.img_size;
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string name = fmt::format("blocks.{}", i);
    r.layers.push_back({name + ".attn_in", "attention", {.kernel = 0}, word_sees_patch});
    r.taps.push_back({name + ".inner", word_sees_patch, false, word_centre});
    r.layers.push_back({name + ".attn_out", "attention", {.kernel = 0}, all});
    r.taps.push_back({name, all, true, patch.centre(patch.extent / 2)});
  }
  return r;
}

}  // namespace

TheoreticalRf theoretical_rf(const Model& model) {
  const ModelConfig& c = model.config();
  TheoreticalRf r;
  switch (c.family) {
    case Family::resnet:
      r = resnet_rf(dynamic_cast<const ResNet&>(model));
      break;
    case Family::vit:
      r = vit_rf(c);
      break;
    case Family::tnt:
      r = tnt_rf(c);
      break;
  }
  const auto names = model.taps();
  if (names.size() != r.taps.size())
    throw std::logic_error(
        fmt::format("{}: {} taps, but {} theoretical fields", c.name, names.size(), r.taps.size()));
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] != r.taps[i].name)
      throw std::logic_error(fmt::format("{}: tap {} is '{}', the theoretical field is for '{}'", c.name, i,
                                         names[i], r.taps[i].name));
  return r;
}

}  // namespace vb::rf
