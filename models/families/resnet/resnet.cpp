// ResNet, torchvision v1.5 (stride on each bottleneck's 3x3 conv), assembled from the layer library. Forward
// and backward call the layers one per line, backward in exactly the reverse order. Feature maps stay in the
// layout the convolutions chose (blocked) from the stem to the global pool; only the image and the pooled
// vector are plain.
#include "models/families/resnet/resnet.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "models/core/geometry.hpp"
#include "models/families/families.hpp"
#include "models/init.hpp"

namespace vb {

namespace {

// Config errors name the field, before any layer is built.
const ModelConfig& validated(const ModelConfig& cfg) {
  const auto need = [&](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(fmt::format("{}: {}", cfg.name, what));
  };
  need(cfg.family == Family::resnet, fmt::format("family is {}, expected resnet", to_string(cfg.family)));
  need(cfg.in_chans > 0, fmt::format("in_chans must be positive, given {}", cfg.in_chans));
  need(cfg.num_classes > 0, fmt::format("num_classes must be positive, given {}", cfg.num_classes));
  need(cfg.base_width > 0, fmt::format("base_width must be positive, given {}", cfg.base_width));
  for (int64_t n : cfg.layers)
    need(n > 0, fmt::format("layers must be 4 positive stage depths, given {},{},{},{}", cfg.layers[0],
                            cfg.layers[1], cfg.layers[2], cfg.layers[3]));
  return cfg;
}

// `c` with torchvision's start for every conv: kaiming_normal_(mode="fan_out", nonlinearity="relu"), std =
// sqrt(2 / fan_out). (BatchNorm starts at weight 1, bias 0, running mean 0, variance 1; fc as nn.Linear.)
Conv2d::Config kaiming(Conv2d::Config c) {
  const Dims shape{c.out_channels, c.in_channels, c.kernel, c.kernel};
  c.weight_init = Init::normal(std::sqrt(2.0 / init::fan_out(shape)));
  return c;
}

Conv2d::Config stem_config(const ModelConfig& cfg) {
  const bool imagenet = cfg.stem == Stem::imagenet;  // 7x7/2 (then a max pool), or 3x3/1 for small images
  return kaiming({.in_channels = cfg.in_chans,
                  .out_channels = cfg.base_width,
                  .kernel = imagenet ? 7 : 3,
                  .stride = imagenet ? 2 : 1,
                  .padding = imagenet ? 3 : 1,
                  .dtype = cfg.dtype,
                  .dst_dtype = cfg.dtype});
}

// Spatial extent after the stem and the four stages (floor, as PyTorch), for the input checks.
int64_t final_extent(const ModelConfig& cfg, int64_t in) {
  int64_t x = cfg.stem == Stem::imagenet ? conv_out(conv_out(in, 7, 2, 3), 3, 2, 1) : conv_out(in, 3, 1, 1);
  for (int s = 1; s < 4; ++s) x = conv_out(x, 3, 2, 1);
  return x;
}

}  // namespace

// ---- Bottleneck ------------------------------------------------------------------------------------------

Bottleneck::Bottleneck(const std::string& name, int64_t in_channels, int64_t width, int64_t stride,
                       DType dtype)
    : Layer(name),
      conv1(name + ".conv1", kaiming({.in_channels = in_channels,
                                      .out_channels = width,
                                      .kernel = 1,
                                      .dtype = dtype,
                                      .dst_dtype = dtype})),
      bn1(name + ".bn1", {.channels = width, .dtype = dtype, .fuse_relu = true}),
      conv2(name + ".conv2", kaiming({.in_channels = width,
                                      .out_channels = width,
                                      .kernel = 3,
                                      .stride = stride,
                                      .padding = 1,
                                      .dtype = dtype,
                                      .dst_dtype = dtype})),
      bn2(name + ".bn2", {.channels = width, .dtype = dtype, .fuse_relu = true}),
      conv3(name + ".conv3", kaiming({.in_channels = width,
                                      .out_channels = width * expansion,
                                      .kernel = 1,
                                      .dtype = dtype,
                                      .dst_dtype = dtype})),
      bn3(name + ".bn3", {.channels = width * expansion, .dtype = dtype}),
      add(name + ".add", dtype),
      relu3(name + ".relu3", {dtype}),
      grad_sum(name + ".grad_sum", dtype) {
  if (stride != 1 || in_channels != width * expansion) {
    downsample_conv =
        std::make_unique<Conv2d>(name + ".downsample.0", kaiming({.in_channels = in_channels,
                                                                  .out_channels = width * expansion,
                                                                  .kernel = 1,
                                                                  .stride = stride,
                                                                  .dtype = dtype,
                                                                  .dst_dtype = dtype}));
    downsample_bn = std::make_unique<BatchNorm2d>(
        name + ".downsample.1", BatchNorm2d::Config{.channels = width * expansion, .dtype = dtype});
  }
}

const Tensor& Bottleneck::forward(const Tensor& src, Mode mode) {
  // src is (B, Cin, H, W); width w, stride s, Ho = H / s
  const Tensor* shortcut = &src;                                           // (B, Cin, H, W)
  if (downsample_conv) shortcut = &downsample_conv->forward(src, mode);    // (B, 4w, Ho, Wo)
  if (downsample_bn) shortcut = &downsample_bn->forward(*shortcut, mode);  // (B, 4w, Ho, Wo)
  const Tensor* x = &conv1.forward(src, mode);                             // (B, w, H, W)
  x = &bn1.forward(*x, mode);                                              // (B, w, H, W) + relu
  x = &conv2.forward(*x, mode);                                            // (B, w, Ho, Wo)
  x = &bn2.forward(*x, mode);                                              // (B, w, Ho, Wo) + relu
  x = &conv3.forward(*x, mode);                                            // (B, 4w, Ho, Wo)
  x = &bn3.forward(*x, mode);                                              // (B, 4w, Ho, Wo)
  x = &add.forward(*x, *shortcut);                                         // (B, 4w, Ho, Wo)
  dst = &relu3.forward(*x, mode);                                          // (B, 4w, Ho, Wo)
  return *dst;
}

const Tensor& Bottleneck::backward(const Tensor& diff_dst) {
  // diff_dst is (B, 4w, Ho, Wo); the add hands the same gradient to both branches (in bn3's layout)
  const Tensor* d = &relu3.backward(diff_dst);                                      // (B, 4w, Ho, Wo)
  const Tensor& diff_branch = add.backward(*d);                                     // (B, 4w, Ho, Wo)
  d = &bn3.backward(diff_branch);                                                   // (B, 4w, Ho, Wo)
  d = &conv3.backward(*d);                                                          // (B, w, Ho, Wo)
  d = &bn2.backward(*d);                                                            // (B, w, Ho, Wo) + relu
  d = &conv2.backward(*d);                                                          // (B, w, H, W)
  d = &bn1.backward(*d);                                                            // (B, w, H, W) + relu
  d = &conv1.backward(*d);                                                          // (B, Cin, H, W)
  const Tensor* diff_shortcut = &diff_branch;                                       // (B, 4w, Ho, Wo)
  if (downsample_bn) diff_shortcut = &downsample_bn->backward(*diff_shortcut);      // (B, 4w, Ho, Wo)
  if (downsample_conv) diff_shortcut = &downsample_conv->backward(*diff_shortcut);  // (B, Cin, H, W)
  return grad_sum.forward(*d, *diff_shortcut);                                      // (B, Cin, H, W)
}

std::vector<Layer*> Bottleneck::stateful() {
  std::vector<Layer*> out{&conv1, &bn1, &conv2, &bn2, &conv3, &bn3};
  if (downsample_conv) out.insert(out.end(), {downsample_conv.get(), downsample_bn.get()});
  return out;
}

std::vector<StateEntry> Bottleneck::state() {
  std::vector<StateEntry> out;
  // Sub-layer names are module paths ("layer1.0.conv1"): keys relative to the block drop "layer1.0.".
  for (Layer* l : stateful()) append_state(out, l->name().substr(name_.size() + 1), *l);
  return out;
}

std::vector<Param*> Bottleneck::params() {
  std::vector<Param*> out;
  for (const StateEntry& e : state())
    if (e.param) out.push_back(e.param);
  return out;
}

std::vector<StateEntry> Bottleneck::buffers() {
  std::vector<StateEntry> out;
  for (StateEntry& e : state())
    if (!e.param) out.push_back(std::move(e));
  return out;
}

// ---- ResNet ----------------------------------------------------------------------------------------------

ResNet::ResNet(const ModelConfig& cfg)
    : Model(validated(cfg)),
      conv1_("conv1", stem_config(cfg_)),
      bn1_("bn1", {.channels = cfg_.base_width, .dtype = cfg_.dtype, .fuse_relu = true}),
      avgpool_("avgpool", {cfg_.dtype}),
      fc_("fc", {.in_features = cfg_.base_width * 8 * Bottleneck::expansion,
                 .out_features = cfg_.num_classes,
                 .dtype = cfg_.dtype}) {
  if (cfg_.stem == Stem::imagenet)
    maxpool_ = std::make_unique<MaxPool2d>(
        "maxpool", MaxPool2d::Config{.kernel = 3, .stride = 2, .padding = 1, .dtype = cfg_.dtype});
  int64_t channels = cfg_.base_width;
  for (int s = 0; s < 4; ++s) {
    const int64_t width = cfg_.base_width << s;  // base_width * 2^s
    for (int64_t b = 0; b < cfg_.layers[s]; ++b) {
      const int64_t stride = s > 0 && b == 0 ? 2 : 1;
      blocks_.push_back(std::make_unique<Bottleneck>(fmt::format("layer{}.{}", s + 1, b), channels, width,
                                                     stride, cfg_.dtype));
      channels = width * Bottleneck::expansion;
    }
  }
  if (cfg_.sync_bn) {  // SyncBatchNorm: statistics over every rank's slice (docs/distributed.md)
    bn1_.sync_stats(true);
    for (auto& b : blocks_)
      for (BatchNorm2d* bn : {&b->bn1, &b->bn2, &b->bn3, b->downsample_bn.get()})
        if (bn) bn->sync_stats(true);
  }
}

void ResNet::check_images(const Tensor& images, Mode mode) const {
  const std::string& name = cfg_.name;
  check_rank(name, "images", 4, images);
  check_f32(name, "images", images);
  check_shape(name, "images", {images.dim(0), cfg_.in_chans, images.dim(2), images.dim(3)}, images.shape());
  check_arg(images.numel() > 0, name, fmt::format("images {} is empty", to_string(images.shape())));
  // Any image size works (as torchvision); training needs more than one value per channel in layer4's norms.
  const int64_t h = final_extent(cfg_, images.dim(2)), w = final_extent(cfg_, images.dim(3));
  check_arg(
      mode == Mode::eval || images.dim(0) * h * w > 1, name,
      fmt::format("training needs more than one value per channel in layer4: images {} give a {}x{} map "
                  "there; use a larger batch or image",
                  to_string(images.shape()), h, w));
}

const Tensor& ResNet::infer(const Tensor& images) {
  static const bool fused = [] {
    const char* v = std::getenv("VITBENCH_FUSED_INFERENCE");
    return !(v && std::string(v) == "0");
  }();
  if (!fused) return forward(images, Mode::eval);
  check_images(images, Mode::eval);
  trained_ = false;
  stem_out_ = nullptr;  // no taps after infer()
  for (auto& block : blocks_) block->dst = nullptr;
  if (!fused_) fused_ = std::make_unique<FusedResNetInference>(cfg_);
  return fused_->forward(images, state());
}

const Tensor& ResNet::forward(const Tensor& images, Mode mode) {
  check_images(images, mode);
  trained_ = false;  // until this forward completes
  // images is (B, C, H, W) plain; w = base_width; H1 = H (cifar) or H / 4 (imagenet: conv s2 + maxpool s2)
  const Tensor* x = &conv1_.forward(images, mode);  // (B, w, H or H/2, ...) blocked
  x = &bn1_.forward(*x, mode);                      // (B, w, ...) + relu
  if (maxpool_) x = &maxpool_->forward(*x, mode);   // (B, w, H1, W1)
  stem_out_ = x;
  for (auto& block : blocks_) x = &block->forward(*x, mode);  // (B, 4w 2^s, H1 / 2^s, W1 / 2^s)
  x = &avgpool_.forward(*x, mode);                            // (B, 32w) plain
  const Tensor& logits = fc_.forward(*x, mode);               // (B, num_classes) plain
  trained_ = mode == Mode::train;
  return logits;
}

const Tensor& ResNet::backward(const Tensor& diff_logits) {
  if (!trained_)
    throw std::logic_error(fmt::format("{}: backward needs a forward in Mode::train first", cfg_.name));
  // diff_logits is (B, num_classes)
  const Tensor* d = &fc_.backward(diff_logits);  // (B, 32w) plain
  d = &avgpool_.backward(*d);                    // (B, 32w, H1 / 8, W1 / 8) blocked
  return backward_from(blocks_.size(), *d);      // (B, C, H, W) plain
}

const Tensor& ResNet::backward_from(size_t i, const Tensor& diff_tap) {
  if (!trained_)
    throw std::logic_error(fmt::format("{}: backward needs a forward in Mode::train first", cfg_.name));
  check_arg(i <= blocks_.size(), cfg_.name,
            fmt::format("tap {} does not exist ({} taps)", i, blocks_.size() + 1));
  check_rank(cfg_.name, "diff_tap", 4, diff_tap);
  check_shape(cfg_.name, fmt::format("diff of tap {}", taps()[i]), tap(i).shape(), diff_tap.shape());
  const Tensor* d = &diff_tap;
  for (size_t b = i; b-- > 0;) d = &blocks_[b]->backward(*d);  // (B, w, H1, W1) after layer1.0
  if (maxpool_) d = &maxpool_->backward(*d);                   // (B, w, H/2, W/2)
  d = &bn1_.backward(*d);                                      // (B, w, ...) + relu
  return conv1_.backward(*d);                                  // (B, C, H, W) plain
}

std::vector<StateEntry> ResNet::state() {
  std::vector<StateEntry> s;
  append_state(s, conv1_.name(), conv1_);
  append_state(s, bn1_.name(), bn1_);
  for (auto& block : blocks_) append_state(s, block->name(), *block);
  append_state(s, fc_.name(), fc_);
  return s;
}

std::vector<std::string> ResNet::taps() const {
  std::vector<std::string> names{maxpool_ ? "maxpool" : "conv1"};
  for (const auto& block : blocks_) names.push_back(block->name());
  return names;
}

const Tensor& ResNet::tap(size_t i) const {
  check_arg(i <= blocks_.size(), cfg_.name,
            fmt::format("tap {} does not exist ({} taps)", i, blocks_.size() + 1));
  if (!stem_out_) throw std::logic_error(fmt::format("{}: tap({}) before any forward", cfg_.name, i));
  return i == 0 ? *stem_out_ : *blocks_[i - 1]->dst;
}

void ResNet::init(uint64_t seed) {
  // As the layers declared it: kaiming convs, BatchNorm 1 / 0 with fresh statistics (torchvision's optional
  // zero_init_residual, bn3.weight = 0, is off by default, as here), fc as nn.Linear's default.
  init::apply(state(), seed);
}

void ResNet::freeze_norm_stats(bool on) {
  bn1_.freeze_stats(on);
  for (auto& b : blocks_) {
    for (BatchNorm2d* bn : {&b->bn1, &b->bn2, &b->bn3, b->downsample_bn.get()})
      if (bn) bn->freeze_stats(on);
  }
}

std::unique_ptr<Model> make_resnet(const ModelConfig& cfg) {
  return std::make_unique<ResNet>(cfg);
}

namespace {

rf::Window window_of(const Conv2d& c) {
  return {
      .kernel = c.config().kernel, .stride = c.config().stride, .padding = c.config().padding, .dilation = 1};
}
rf::Window window_of(const MaxPool2d& p) {
  return {
      .kernel = p.config().kernel, .stride = p.config().stride, .padding = p.config().padding, .dilation = 1};
}

}  // namespace

rf::TapInfo ResNet::tap_info() const {
  using rf::TapLayout;
  rf::TapInfo r;
  rf::Field f = rf::image_field(cfg_.img_size);
  auto step = [&](const std::string& name, const std::string& kind, const rf::Window& w,
                  const rf::Field& in) {
    r.layers.push_back({name, kind, w, rf::through(in, w)});
    return r.layers.back().field;
  };
  f = step(conv1_.name(), "conv", window_of(conv1_), f);
  if (maxpool_) f = step(maxpool_->name(), "pool", window_of(*maxpool_), f);
  r.taps.push_back(rf::tap_at_centre(taps()[0], TapLayout::feature_map, f));
  for (const auto& b : blocks_) {
    rf::Field main = step(b->conv1.name(), "conv", window_of(b->conv1), f);
    main = step(b->conv2.name(), "conv", window_of(b->conv2), main);
    main = step(b->conv3.name(), "conv", window_of(b->conv3), main);
    rf::Field shortcut = f;
    if (b->downsample_conv)
      shortcut = step(b->downsample_conv->name(), "conv", window_of(*b->downsample_conv), f);
    // The add joins two fields on the same grid; the output sees the union, i.e. the wider one.
    if (main.jump != shortcut.jump || main.start != shortcut.start || main.extent != shortcut.extent)
      throw std::logic_error(b->name() + ": the two paths of the block end on different grids");
    f = main;
    f.size = std::max(main.size, shortcut.size);
    r.taps.push_back(rf::tap_at_centre(b->name(), TapLayout::feature_map, f));
  }
  return r;
}

}  // namespace vb
