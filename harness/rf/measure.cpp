// The `vitbench rf` measurement (see measure.hpp): one train-mode forward per batch, then the attention
// distances of that forward and one backward per chosen tap from a gradient of 1 at the tap's centre unit.
#include "harness/rf/measure.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace vb::rf {

std::vector<size_t> resolve_layers(const Model& model, const std::vector<std::string>& names) {
  const std::vector<std::string> taps = model.taps();
  std::vector<size_t> out;
  if (names.empty()) {
    for (size_t i = 0; i < taps.size(); ++i) out.push_back(i);
    return out;
  }
  for (const std::string& n : names) {
    const auto it = std::find(taps.begin(), taps.end(), n);
    if (it == taps.end())
      throw std::invalid_argument(fmt::format("--layers: {} has no layer '{}'; valid layers: {}",
                                              model.config().name, n, fmt::join(taps, ", ")));
    out.push_back(static_cast<size_t>(it - taps.begin()));
  }
  return out;
}

namespace {

// Depth of each tap: blocks below it over the model's blocks. Word taps (TNT's blocks.i.inner) belong to the
// block of the patch tap that follows them.
std::vector<double> tap_depths(const std::vector<bool>& words) {
  std::vector<double> depth(words.size());
  int64_t main_taps = 0;
  for (bool w : words) main_taps += !w;
  int64_t seen = 0;
  for (size_t i = 0; i < words.size(); ++i) {
    if (!words[i]) ++seen;
    const int64_t block = words[i] ? seen : seen - 1;
    depth[i] = main_taps > 1 ? static_cast<double>(block) / static_cast<double>(main_taps - 1) : 0.0;
  }
  return depth;
}

}  // namespace

RfMeasurement measure_rf(Model& model, const std::vector<float>& images, int64_t n,
                         const MeasureOptions& opt) {
  const ModelConfig& cfg = model.config();
  const int64_t C = cfg.in_chans, S = cfg.img_size, per_image = C * S * S;
  if (n < 1 || static_cast<int64_t>(images.size()) != n * per_image)
    throw std::invalid_argument(
        fmt::format("rf: {} values for {} images of ({}, {}, {})", images.size(), n, C, S, S));
  if (cfg.drop_path != 0)
    throw std::invalid_argument(
        fmt::format("rf: {} has drop_path {}; measurements need a deterministic forward "
                    "(drop_path=0)",
                    cfg.name, cfg.drop_path));
  if (opt.batch < 1) throw std::invalid_argument(fmt::format("rf: batch {} must be positive", opt.batch));
  const int64_t batch = opt.batch;
  // BatchNorm with the running statistics, as in eval, for the whole measurement (see measure.hpp).
  struct Frozen {
    Model& model;
    ~Frozen() { model.freeze_norm_stats(false); }
  } frozen{model};
  model.freeze_norm_stats(true);

  RfMeasurement m;
  m.theoretical = theoretical_rf(model);
  m.images = n;
  const std::vector<size_t> chosen = resolve_layers(model, opt.layers);
  const std::vector<std::string> names = model.taps();
  std::vector<Map> sums(chosen.size());
  std::vector<bool> is_words(names.size(), false);
  for (size_t i = 0; i < names.size(); ++i) is_words[i] = m.theoretical.taps[i].layout == TapLayout::words;

  // Attention layers: the positions of their tokens on the image (patches P apart after the cls token, or
  // TNT's words of one patch, word_stride apart), from the model's geometry.
  std::vector<std::vector<std::array<double, 2>>> positions;
  for (const AttentionGrid& g : m.theoretical.attention)
    positions.push_back(grid_positions(g.side, g.spacing));
  std::vector<AttentionDistance> att(m.theoretical.attention.size());

  for (int64_t start = 0; start < n; start += batch) {
    const int64_t b = std::min(batch, n - start);
    const Tensor x = Tensor::from(
        {b, C, S, S}, {images.begin() + start * per_image, images.begin() + (start + b) * per_image});
    model.forward(x, Mode::train);

    const auto probs = model.attention_probs();
    if (probs.size() != att.size())
      throw std::logic_error(fmt::format("rf: {} reports {} attention layers, its geometry {}", cfg.name,
                                         probs.size(), att.size()));
    for (size_t a = 0; a < probs.size(); ++a) {
      const AttentionGrid& g = m.theoretical.attention[a];
      const Tensor& p = *probs[a].second;
      if (probs[a].first != g.name || p.dim(2) != g.prefix + g.side * g.side)
        throw std::logic_error(fmt::format(
            "rf: attention {} has {} tokens, its geometry says {} ({}, {}x{} + {})", probs[a].first, p.dim(2),
            g.prefix + g.side * g.side, g.name, g.side, g.side, g.prefix));
      add_attention(p.to_vector(), p.shape(), positions[a], g.prefix, att[a]);
    }

    for (size_t k = 0; k < chosen.size(); ++k) {
      const size_t i = chosen[k];
      const Tensor diff = centre_diff(model.tap(i).shape(), m.theoretical.taps[i].layout, b);
      const Tensor& grad = model.backward_from(i, diff);  // (b, C, S, S)
      accumulate_abs(grad.to_vector(), grad.shape(), sums[k]);
      if (opt.progress) opt.progress(start + b, n, k, chosen.size(), names[i]);
    }
  }

  const std::vector<double> depth = tap_depths(is_words);
  for (size_t k = 0; k < chosen.size(); ++k) {
    LayerErf e;
    e.tap = chosen[k];
    e.name = names[e.tap];
    e.words = is_words[e.tap];
    e.depth = depth[e.tap];
    e.theoretical = m.theoretical.taps[e.tap];
    e.map = std::move(sums[k]);
    for (double& v : e.map.values) v /= static_cast<double>(n);
    if (e.map.total() > 0) {
      e.scalars = erf_scalars(e.map, e.theoretical.centre);
    } else {  // no gradient reached the input (see measure.hpp): no field to summarise
      const double nan = std::numeric_limits<double>::quiet_NaN();
      e.scalars = {-1, -1, -1, -1, nan, nan, nan, nan, 0};
    }
    m.layers.push_back(std::move(e));
  }
  for (size_t a = 0; a < att.size(); ++a) {
    const AttentionGrid& g = m.theoretical.attention[a];
    (g.inner ? m.attention_inner : m.attention_outer).push_back(att[a].mean());
    (g.inner ? m.attention_inner_names : m.attention_outer_names).push_back(g.name);
  }
  return m;
}

namespace {

std::vector<uint64_t> u64(std::initializer_list<int64_t> dims) {
  std::vector<uint64_t> d;
  for (int64_t v : dims) d.push_back(static_cast<uint64_t>(v));
  return d;
}

void write_attention(ResultFile& out, const std::string& name, const std::vector<std::vector<double>>& dist,
                     const std::vector<std::string>& layer_names) {
  if (dist.empty()) return;
  std::vector<double> flat;
  for (const auto& row : dist) flat.insert(flat.end(), row.begin(), row.end());
  out.write("attention/" + name, flat,
            u64({static_cast<int64_t>(dist.size()), static_cast<int64_t>(dist[0].size())}));
  out.attr("layers", nlohmann::json(layer_names).dump(), "attention/" + name);
  out.attr("units", "pixels", "attention/" + name);
}

}  // namespace

void write_rf(ResultFile& out, const RfMeasurement& m, int64_t downsample) {
  // Theoretical fields of every layer and every tap.
  std::vector<int64_t> size, jump, whole;
  std::vector<double> start, centre;
  std::vector<std::string> names;
  for (const auto& t : m.theoretical.taps) {
    names.push_back(t.name);
    size.push_back(t.field.size), jump.push_back(t.field.jump), whole.push_back(t.whole_image);
    start.push_back(t.field.start), centre.push_back(t.centre);
  }
  out.write("theoretical/tap_size", size);
  out.write("theoretical/tap_jump", jump);
  out.write("theoretical/tap_start", start);
  out.write("theoretical/tap_centre", centre);
  out.write("theoretical/tap_whole_image", whole);
  out.attr("taps", nlohmann::json(names).dump(), "theoretical/tap_size");
  std::vector<int64_t> lsize, ljump, kernel, stride, padding, dilation;
  std::vector<double> lstart;
  std::vector<std::string> lnames, kinds;
  for (const auto& l : m.theoretical.layers) {
    lnames.push_back(l.name), kinds.push_back(l.kind);
    lsize.push_back(l.field.size), ljump.push_back(l.field.jump), lstart.push_back(l.field.start);
    kernel.push_back(l.window.kernel), stride.push_back(l.window.stride), padding.push_back(l.window.padding);
    dilation.push_back(l.window.dilation);
  }
  out.write("theoretical/layer_size", lsize);
  out.write("theoretical/layer_jump", ljump);
  out.write("theoretical/layer_start", lstart);
  out.write("theoretical/layer_kernel", kernel);
  out.write("theoretical/layer_stride", stride);
  out.write("theoretical/layer_padding", padding);
  out.write("theoretical/layer_dilation", dilation);
  out.attr("layers", nlohmann::json(lnames).dump(), "theoretical/layer_size");
  out.attr("kinds", nlohmann::json(kinds).dump(), "theoretical/layer_size");

  // Effective fields of the measured taps.
  if (m.layers.empty()) return;
  const int64_t H = m.layers[0].map.height, W = m.layers[0].map.width,
                L = static_cast<int64_t>(m.layers.size());
  if (downsample < 1 || H % downsample || W % downsample)
    throw std::invalid_argument(
        fmt::format("rf: map downsample {} does not divide the {}x{} maps", downsample, H, W));
  const int64_t h = H / downsample, w = W / downsample;
  std::vector<float> maps(static_cast<size_t>(L * h * w), 0.f);
  std::vector<int64_t> tap, words, s20, s50, s90, s99, tsize;
  std::vector<double> depth, area90, sigma, centroid, mass, centre_px;
  std::vector<std::string> lnames_erf;
  for (int64_t l = 0; l < L; ++l) {
    const LayerErf& e = m.layers[static_cast<size_t>(l)];
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x)
        maps[static_cast<size_t>((l * h + y / downsample) * w + x / downsample)] +=
            static_cast<float>(e.map.at(y, x));
    lnames_erf.push_back(e.name);
    tap.push_back(static_cast<int64_t>(e.tap)), words.push_back(e.words), depth.push_back(e.depth);
    s20.push_back(e.scalars.side20), s50.push_back(e.scalars.side50);
    s90.push_back(e.scalars.side90), s99.push_back(e.scalars.side99);
    area90.push_back(e.scalars.area90), sigma.push_back(e.scalars.sigma), mass.push_back(e.scalars.mass);
    centroid.push_back(e.scalars.centroid_y), centroid.push_back(e.scalars.centroid_x);
    centre_px.push_back(e.theoretical.centre);
    tsize.push_back(e.theoretical.whole_image ? H : e.theoretical.field.size);
  }
  out.write("erf/maps", maps, u64({L, h, w}));
  out.attr("layers", nlohmann::json(lnames_erf).dump(), "erf/maps");
  out.attr("downsample", downsample, "erf/maps");
  out.write("erf/tap", tap);
  out.write("erf/words", words);
  out.write("erf/depth", depth);
  out.write("erf/centre", centre_px);
  out.write("erf/side20", s20);
  out.write("erf/side50", s50);
  out.write("erf/side90", s90);
  out.write("erf/side99", s99);
  out.write("erf/area90", area90);
  out.write("erf/sigma", sigma);
  out.write("erf/centroid", centroid, u64({L, 2}));
  out.write("erf/mass", mass);
  out.write("erf/theoretical_size", tsize);

  write_attention(out, "outer", m.attention_outer, m.attention_outer_names);
  write_attention(out, "inner", m.attention_inner, m.attention_inner_names);
}

}  // namespace vb::rf
