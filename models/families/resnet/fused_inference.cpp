// Fused ResNet inference (see fused_inference.hpp). The graph mirrors ResNet's layers (torchvision v1.5: the
// stride on each bottleneck's 3x3 conv) and reads its weights by their state_dict keys, so it needs nothing
// of the layer objects but their parameters.
#include "models/families/resnet/fused_inference.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "models/core/cpu.hpp"
#include "models/core/geometry.hpp"
#include "models/layers/batchnorm2d.hpp"

namespace vb {

using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;

namespace {

constexpr int64_t kExpansion = 4;  // Bottleneck::expansion

// An inference convolution's primitive descriptor: src, weights and (unless given) dst in the layouts it
// picks.
dnnl::convolution_forward::primitive_desc conv_pd(const Dims& src, const Dims& weights,
                                                  const memory::desc& dst, int64_t stride, int64_t padding,
                                                  dt compute, const dnnl::primitive_attr& attr = {}) {
  return dnnl::convolution_forward::primitive_desc(
      dnnl::convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct,
                                      memory::desc(src, compute, tag::any),
                                      memory::desc(weights, compute, tag::any), plain_desc({weights[0]}), dst,
                                      {stride, stride}, {padding, padding}, {padding, padding}),
      attr, Runtime::engine());
}

}  // namespace

// One convolution with its BatchNorm folded in: (N, C, H, W) -> (N, O, Ho, Wo).
struct FusedResNetInference::Conv {
  std::string conv, norm;  // state_dict prefixes: "layer1.0.conv1", "layer1.0.bn1"
  int64_t in = 0, out = 0, kernel = 0;
  dnnl::convolution_forward::primitive_desc pd;
  std::vector<float> folded;  // (O, C, k, k) plain f32: the folded weights before their reorder
  memory folded_mem, weights, bias;
  dnnl::reorder to_weights;  // folded (plain f32) -> weights (the primitive's layout and dtype)
  // The buffers and versions (Tensor::version) of conv weight, gamma, beta, running mean and variance that
  // the last fold read: a fold is redone only when one of them changed.
  std::array<std::pair<const void*, uint64_t>, 5> folded_from{};

  // Writes w' and b' from the current weights and running statistics (see the header), then reorders w';
  // nothing when none of them changed since the last fold. Returns whether it folded.
  bool fold(const std::unordered_map<std::string, const StateEntry*>& state, float eps) {
    const auto get = [&](const std::string& key, int64_t n) -> const Tensor& {
      const auto it = state.find(key);
      if (it == state.end())
        throw std::invalid_argument(fmt::format("fused ResNet inference: no state entry {}", key));
      const Tensor& t = it->second->param ? it->second->param->value : *it->second->buffer;
      if (t.numel() != n)
        throw std::invalid_argument(
            fmt::format("fused ResNet inference: {} has {} values, expected {}", key, t.numel(), n));
      if (!t.plain() || t.dtype() != DType::f32)
        throw std::invalid_argument(fmt::format("fused ResNet inference: {} is not plain f32", key));
      return t;
    };
    const int64_t per_out = in * kernel * kernel;
    const std::array<const Tensor*, 5> from{
        &get(conv + ".weight", out * per_out), &get(norm + ".weight", out), &get(norm + ".bias", out),
        &get(norm + ".running_mean", out), &get(norm + ".running_var", out)};
    std::array<std::pair<const void*, uint64_t>, 5> now;
    for (size_t i = 0; i < from.size(); ++i) now[i] = {from[i]->mem().get_data_handle(), from[i]->version()};
    if (now == folded_from) return false;
    folded_from = now;
    // Reads only (data() would count as a change of the model's own tensors).
    const auto values = [&](size_t i) { return static_cast<const float*>(now[i].first); };
    const float *w = values(0), *gamma = values(1), *beta = values(2), *mean = values(3), *var = values(4);
    auto* b = static_cast<float*>(bias.get_data_handle());
#pragma omp parallel for
    for (int64_t o = 0; o < out; ++o) {
      const float s = gamma[o] / std::sqrt(var[o] + eps);
      for (int64_t i = 0; i < per_out; ++i) folded[o * per_out + i] = w[o * per_out + i] * s;
      b[o] = beta[o] - mean[o] * s;
    }
    to_weights.execute(Runtime::stream(), folded_mem, weights);
    return true;
  }
};

FusedResNetInference::FusedResNetInference(const ModelConfig& cfg) : cfg_(cfg) {}
FusedResNetInference::~FusedResNetInference() = default;

memory FusedResNetInference::add_conv(const std::string& conv_key, const std::string& norm_key,
                                      const memory& src, int64_t out, int64_t kernel, int64_t stride,
                                      int64_t padding, After after, const memory* into) {
  const dt compute = to_dnnl(cfg_.dtype);
  const auto& engine = Runtime::engine();
  auto c = std::make_unique<Conv>();
  const Dims sd = src.get_desc().dims();
  c->conv = conv_key, c->norm = norm_key, c->in = sd[1], c->out = out, c->kernel = kernel;
  const Dims dst_dims{sd[0], out, conv_out(sd[2], kernel, stride, padding),
                      conv_out(sd[3], kernel, stride, padding)};
  const Dims wdims{out, sd[1], kernel, kernel};
  dnnl::post_ops po;
  if (after == After::sum_relu) po.append_sum(1.f);
  if (after != After::none) po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(po);
  c->pd = conv_pd(sd, wdims, into ? into->get_desc() : memory::desc(dst_dims, compute, tag::any), stride,
                  padding, compute, attr);
  memory in = src;
  if (c->pd.src_desc() != src.get_desc()) {  // e.g. the plain image into the stem's layout
    in = memory(c->pd.src_desc(), engine);
    steps_.push_back({dnnl::reorder(src, in), {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, in}}});
  }
  c->folded.resize(static_cast<size_t>(product(wdims)));
  c->folded_mem = memory(plain_desc(wdims), engine, c->folded.data());
  c->weights = memory(c->pd.weights_desc(), engine);
  c->bias = memory(plain_desc({out}), engine);
  c->to_weights = dnnl::reorder(c->folded_mem, c->weights);
  const memory dst = into ? *into : memory(c->pd.dst_desc(), engine);
  steps_.push_back(
      {dnnl::convolution_forward(c->pd),
       {{DNNL_ARG_SRC, in}, {DNNL_ARG_WEIGHTS, c->weights}, {DNNL_ARG_BIAS, c->bias}, {DNNL_ARG_DST, dst}}});
  convs_.push_back(std::move(c));
  return dst;
}

memory FusedResNetInference::add_pool(const memory& src, algorithm alg, int64_t kernel_h, int64_t kernel_w,
                                      int64_t stride, int64_t padding, const memory::desc& dst_any) {
  const dnnl::pooling_forward::primitive_desc pd(
      dnnl::pooling_forward::desc(prop_kind::forward_inference, alg, src.get_desc(), dst_any,
                                  {stride, stride}, {kernel_h, kernel_w}, {padding, padding},
                                  {padding, padding}),
      Runtime::engine());
  memory dst(pd.dst_desc(), Runtime::engine());
  steps_.push_back({dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}}});
  return dst;
}

// conv1 1x1 + relu, conv2 3x3 (stride) + relu, shortcut, conv3 1x1 + sum + relu: (N, C, H, W) -> (N, 4 width,
// H / stride, W / stride).
memory FusedResNetInference::add_bottleneck(const std::string& name, const memory& x, int64_t width,
                                            int64_t stride, bool downsample) {
  memory t = add_conv(name + ".conv1", name + ".bn1", x, width, 1, 1, 0, After::relu, nullptr);
  t = add_conv(name + ".conv2", name + ".bn2", t, width, 3, stride, 1, After::relu, nullptr);
  if (!downsample)  // identity shortcut: conv3 accumulates into the block's input buffer itself (conv1 has
                    // read it)
    return add_conv(name + ".conv3", name + ".bn3", t, width * kExpansion, 1, 1, 0, After::sum_relu, &x);
  // conv3 picks its dst layout; the downsample conv then writes the shortcut straight into that buffer, and
  // conv3 (run after it) adds its own result on top.
  const Dims td = t.get_desc().dims();
  const memory::desc sum_any({td[0], width * kExpansion, td[2], td[3]}, to_dnnl(cfg_.dtype), tag::any);
  const memory sum(
      conv_pd(td, {width * kExpansion, width, 1, 1}, sum_any, 1, 0, to_dnnl(cfg_.dtype)).dst_desc(),
      Runtime::engine());
  add_conv(name + ".downsample.0", name + ".downsample.1", x, width * kExpansion, 1, stride, 0, After::none,
           &sum);
  return add_conv(name + ".conv3", name + ".bn3", t, width * kExpansion, 1, 1, 0, After::sum_relu, &sum);
}

// Global average pool -> (B, C) f32 -> fc -> logits (B, num_classes).
void FusedResNetInference::add_head(const memory& x) {
  const auto& engine = Runtime::engine();
  const Dims d = x.get_desc().dims();
  memory pooled = add_pool(x, algorithm::pooling_avg_exclude_padding, d[2], d[3], 1, 0,
                           memory::desc({d[0], d[1], 1, 1}, to_dnnl(cfg_.dtype), tag::any));
  if (pooled.get_desc() != memory::desc({d[0], d[1], 1, 1}, dt::f32, tag::nchw)) {  // to plain f32
    memory f32(memory::desc({d[0], d[1], 1, 1}, dt::f32, tag::nchw), engine);
    steps_.push_back({dnnl::reorder(pooled, f32), {{DNNL_ARG_FROM, pooled}, {DNNL_ARG_TO, f32}}});
    pooled = f32;
  }
  const memory features(plain_desc({d[0], d[1]}), engine,
                        pooled.get_data_handle());  // (B, C, 1, 1) as (B, C)
  logits_ = Tensor({d[0], cfg_.num_classes});
  const dnnl::inner_product_forward::primitive_desc fc(
      dnnl::inner_product_forward::desc(prop_kind::forward_inference, features.get_desc(),
                                        plain_desc({cfg_.num_classes, d[1]}), plain_desc({cfg_.num_classes}),
                                        logits_.desc()),
      engine);
  fc_weights_ = memory(plain_desc({cfg_.num_classes, d[1]}), engine, nullptr);
  fc_bias_ = memory(plain_desc({cfg_.num_classes}), engine, nullptr);
  steps_.push_back({dnnl::inner_product_forward(fc),
                    {{DNNL_ARG_SRC, features},
                     {DNNL_ARG_WEIGHTS, fc_weights_},
                     {DNNL_ARG_BIAS, fc_bias_},
                     {DNNL_ARG_DST, logits_.mem()}}});
}

void FusedResNetInference::build(const memory::desc& images_md) {
  convs_.clear();
  steps_.clear();
  // Stem: conv1 + bn1 + relu (+ maxpool 3x3/2 with the imagenet stem).
  image_ = memory(images_md, Runtime::engine());
  const bool imagenet = cfg_.stem == Stem::imagenet;
  memory x = add_conv("conv1", "bn1", image_, cfg_.base_width, imagenet ? 7 : 3, imagenet ? 2 : 1,
                      imagenet ? 3 : 1, After::relu, nullptr);
  if (imagenet) {
    const Dims d = x.get_desc().dims();
    x = add_pool(x, algorithm::pooling_max, 3, 3, 2, 1,
                 memory::desc({d[0], d[1], conv_out(d[2], 3, 2, 1), conv_out(d[3], 3, 2, 1)},
                              to_dnnl(cfg_.dtype), tag::any));
  }
  int64_t channels = cfg_.base_width;
  for (int s = 0; s < 4; ++s) {
    const int64_t width = cfg_.base_width << s;
    for (int64_t b = 0; b < cfg_.layers[s]; ++b) {
      const int64_t stride = (b == 0 && s > 0) ? 2 : 1;
      x = add_bottleneck(fmt::format("layer{}.{}", s + 1, b), x, width, stride,
                         stride != 1 || channels != width * kExpansion);
      channels = width * kExpansion;
    }
  }
  add_head(x);
  in_md_ = images_md;
}

const Tensor& FusedResNetInference::forward(const Tensor& images, const std::vector<StateEntry>& state) {
  require_dtype(cfg_.dtype, cfg_.name);
  if (images.desc() != in_md_) build(images.desc());
  std::unordered_map<std::string, const StateEntry*> by_key;
  for (const auto& e : state) by_key[e.key] = &e;
  const float eps = BatchNorm2d::Config{}.eps;
  for (auto& c : convs_) folds_ += c->fold(by_key, eps) ? 1 : 0;
  for (const char* k : {"fc.weight", "fc.bias"})
    if (!by_key.count(k))
      throw std::invalid_argument(fmt::format("fused ResNet inference: no state entry {}", k));
  fc_weights_.set_data_handle(by_key.at("fc.weight")->param->value.mem().get_data_handle());
  fc_bias_.set_data_handle(by_key.at("fc.bias")->param->value.mem().get_data_handle());
  image_.set_data_handle(images.mem().get_data_handle());
  for (const Step& s : steps_) s.run();
  Runtime::wait();
  return logits_;
}

}  // namespace vb
