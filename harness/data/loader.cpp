// The Loader: a batch is a pure function of (seed, epoch, step) — the epoch's order is a seeded shuffle,
// every sample's crop/flip comes from the counter RNG keyed by its position in the epoch and mixup/cutmix
// from one keyed by the step — so prefetching on a background thread (single-threaded: the model owns the
// cores) and resuming mid-epoch both reproduce the uninterrupted sequence exactly.
#include "harness/data/loader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <stdexcept>

#include "harness/data/random.hpp"

namespace vb::data {

namespace {

// Gamma(a, 1) by Marsaglia and Tsang (2000); a < 1 through Gamma(a + 1) * U^(1/a).
double gamma(Stream& s, double a) {
  if (a < 1) {
    const double u = std::max<double>(s.uniform(), 1e-12);
    return gamma(s, a + 1) * std::pow(u, 1 / a);
  }
  const double d = a - 1.0 / 3, c = 1 / std::sqrt(9 * d);
  for (;;) {
    const double x = s.normal();
    double v = 1 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    const double u = s.uniform();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (std::log(u) < 0.5 * x * x + d * (1 - v + std::log(v))) return d * v;
  }
}

double beta(Stream& s, double alpha) {
  const double x = gamma(s, alpha), y = gamma(s, alpha);
  return x + y > 0 ? x / (x + y) : 0.5;
}

// Python's round (half to even), as torchvision's centre crop uses.
int64_t round_half_even(double v) {
  const int mode = std::fegetround();
  std::fesetround(FE_TONEAREST);
  const double r = std::nearbyint(v);
  std::fesetround(mode);
  return static_cast<int64_t>(r);
}

}  // namespace

Loader::Loader(const ImageSet& set, std::vector<int64_t> indices, LoaderOptions opt)
    : set_(set), indices_(std::move(indices)), opt_(std::move(opt)) {
  const std::string what = set_.name.empty() ? std::string("loader") : "loader for " + set_.name;
  if (opt_.batch <= 0)
    throw std::invalid_argument(fmt::format("{}: batch must be positive, not {}", what, opt_.batch));
  if (opt_.prefetch < 0) throw std::invalid_argument(fmt::format("{}: prefetch must be >= 0", what));
  if (set_.channels <= 0 || set_.height <= 0 || set_.width <= 0)
    throw std::invalid_argument(fmt::format("{}: the image set has no image shape", what));
  for (int64_t i : indices_) {
    if (i < 0 || i >= set_.size())
      throw std::invalid_argument(fmt::format("{}: index {} out of range ({} images)", what, i, set_.size()));
    if (!set_.classes.empty() &&
        (set_.labels[i] < 0 || set_.labels[i] >= static_cast<int32_t>(set_.classes.size())))
      throw std::invalid_argument(fmt::format("{}: label {} of image {} out of range ({} classes)", what,
                                              set_.labels[i], i, set_.classes.size()));
  }
  const int64_t h = set_.height, w = set_.width;
  if (opt_.normalize.mean.empty() && opt_.normalize.std.empty()) {
    opt_.normalize.mean.assign(set_.channels, 0.f);
    opt_.normalize.std.assign(set_.channels, 1.f);
  }
  if (static_cast<int64_t>(opt_.normalize.mean.size()) != set_.channels ||
      static_cast<int64_t>(opt_.normalize.std.size()) != set_.channels)
    throw std::invalid_argument(fmt::format("{}: normalisation has {} means and {} stds for {} channels",
                                            what, opt_.normalize.mean.size(), opt_.normalize.std.size(),
                                            set_.channels));
  for (float s : opt_.normalize.std)
    if (!(s > 0)) throw std::invalid_argument(fmt::format("{}: normalisation std must be positive", what));
  if (opt_.train && (opt_.augment.mixup > 0 || opt_.augment.cutmix > 0) && set_.classes.empty())
    throw std::invalid_argument(fmt::format("{}: mixup/cutmix need the class list", what));
  if (opt_.shards < 1 || opt_.shard < 0 || opt_.shard >= opt_.shards)
    throw std::invalid_argument(
        fmt::format("{}: shard {} of {} does not exist", what, opt_.shard, opt_.shards));
  if (opt_.shards > 1 && (!opt_.drop_last || opt_.batch % opt_.shards != 0))
    throw std::invalid_argument(fmt::format("{}: batch {} cannot be split into {} equal shards{}", what,
                                            opt_.batch, opt_.shards,
                                            opt_.drop_last ? "" : " (sharding needs drop_last)"));
  if (opt_.augment.crop_pad < 0) throw std::invalid_argument(fmt::format("{}: crop_pad must be >= 0", what));

  // The geometry: which source pixels (bilinear) make output pixel (oy, ox); see loader.hpp for the rule.
  if (opt_.out_size == 0) {
    if (h != w)
      throw std::invalid_argument(
          fmt::format("{}: images are {}x{} (not square): give the model's input size", what, h, w));
    out_size_ = h;
  } else {
    out_size_ = opt_.out_size;
  }
  const int64_t s = out_size_;
  int64_t rh = s, rw = s, top = 0, left = 0;  // the resized image and the crop taken from it
  if (h == s && w == s) {
    // Unchanged.
  } else if (std::min(h, w) >= s) {
    const int64_t shorter = static_cast<int64_t>(std::floor(static_cast<double>(s) / 0.875));
    rh = h <= w ? shorter : static_cast<int64_t>(std::floor(static_cast<double>(shorter) * h / w));
    rw = w <= h ? shorter : static_cast<int64_t>(std::floor(static_cast<double>(shorter) * w / h));
    top = round_half_even((rh - s) / 2.0);
    left = round_half_even((rw - s) / 2.0);
  } else if (!opt_.upsample) {
    throw std::invalid_argument(fmt::format(
        "{}: images are {}x{}, smaller than the model's input {}x{} (set upsample to resize them up)", what,
        h, w, s, s));
  }
  // align_corners=False bilinear: source = (dst + 0.5) * in / out - 0.5, clamped to the image.
  auto taps = [](int64_t in, int64_t resized, int64_t offset, int64_t out) {
    std::vector<Tap> t(out);
    for (int64_t o = 0; o < out; ++o) {
      const double src = std::max(0.0, (o + offset + 0.5) * static_cast<double>(in) / resized - 0.5);
      const int64_t i0 = std::min(static_cast<int64_t>(src), in - 1);
      t[o] = {i0, std::min(i0 + 1, in - 1), static_cast<float>(src - i0)};
    }
    return t;
  };
  rows_ = taps(h, rh, top, s);
  cols_ = taps(w, rw, left, s);
  identity_ = h == s && w == s;
}

Loader::~Loader() {
  stop();
}

int64_t Loader::steps_per_epoch() const {
  return opt_.drop_last ? size() / opt_.batch : (size() + opt_.batch - 1) / opt_.batch;
}

void Loader::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  stopping_ = false;
}

void Loader::start_epoch(int64_t epoch, int64_t first_step) {
  stop();  // the worker is gone: nothing of an old epoch can arrive after this
  if (first_step < 0 || first_step > steps_per_epoch())
    throw std::invalid_argument(
        fmt::format("start_epoch: step {} outside [0, {}]", first_step, steps_per_epoch()));
  ready_.clear();
  error_ = nullptr;
  epoch_ = epoch;
  next_step_ = produce_step_ = first_step;
  running_ = true;
  order_ = indices_;
  if (opt_.shuffle) shuffle(order_, key(Purpose::shuffle, {opt_.seed, static_cast<uint64_t>(epoch)}));
  if (opt_.prefetch > 0 && next_step_ < steps_per_epoch()) thread_ = std::thread(&Loader::worker, this);
}

bool Loader::next(Batch& out) {
  if (!running_) start_epoch(0);
  if (next_step_ >= steps_per_epoch()) return false;
  if (opt_.prefetch == 0) {
    prepare(epoch_, next_step_, out);
    ++next_step_;
    return true;
  }
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return !ready_.empty() || error_; });
  if (ready_.empty()) std::rethrow_exception(error_);  // batches made before the failure are still handed out
  out = std::move(ready_.front());
  ready_.pop_front();
  ++next_step_;
  lock.unlock();
  cv_.notify_all();
  return true;
}

void Loader::worker() {
  const int64_t steps = steps_per_epoch();
  for (;;) {
    int64_t step = 0;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || static_cast<int64_t>(ready_.size()) < opt_.prefetch; });
      if (stopping_ || produce_step_ >= steps) return;
      step = produce_step_++;
    }
    Batch b;
    try {
      prepare(epoch_, step, b);
    } catch (...) {
      std::lock_guard lock(mutex_);
      error_ = std::current_exception();
      cv_.notify_all();
      return;
    }
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      ready_.push_back(std::move(b));
    }
    cv_.notify_all();
  }
}

void Loader::render(int64_t index, uint64_t sample_key, float* dst, std::vector<float>& scratch) const {
  // dst is (C, S, S). The augmented source is the image padded by `pad` zeros, cropped at (dy, dx) back to
  // H x W, then mirrored: aug(y, x) = src(y + dy, (flip ? W-1-x : x) + dx), 0 outside the image.
  const int64_t c_n = set_.channels, h = set_.height, w = set_.width, s = out_size_;
  int64_t dy = 0, dx = 0;
  bool flip = false;
  if (opt_.train) {
    const int64_t pad = opt_.augment.crop_pad;
    if (pad > 0) {
      dy = static_cast<int64_t>(below(sample_key, 0, 2 * pad + 1)) - pad;
      dx = static_cast<int64_t>(below(sample_key, 1, 2 * pad + 1)) - pad;
    }
    flip = opt_.augment.hflip && (bits(sample_key, 2) & 1);
  }
  // aug (C, H, W) in pixel units, then the bilinear resize as two separable passes: columns into
  // tmp (C, H, S), then rows into dst (C, S, S).
  scratch.resize(c_n * h * w + (identity_ ? 0 : c_n * h * s));
  float* aug = scratch.data();
  float* tmp = aug + c_n * h * w;
  const uint8_t* src = set_.image(index);
  for (int64_t c = 0; c < c_n; ++c)
    for (int64_t y = 0; y < h; ++y) {
      const int64_t sy = y + dy;
      float* row = aug + (c * h + y) * w;
      for (int64_t x = 0; x < w; ++x) {
        const int64_t sx = (flip ? w - 1 - x : x) + dx;
        row[x] = sy >= 0 && sy < h && sx >= 0 && sx < w ? src[(c * h + sy) * w + sx] : 0.f;
      }
    }
  const float* plane_src = aug;
  if (!identity_) {
    for (int64_t cy = 0; cy < c_n * h; ++cy) {
      const float* in = aug + cy * w;
      float* out = tmp + cy * s;
      for (int64_t ox = 0; ox < s; ++ox) {
        const Tap& q = cols_[ox];
        out[ox] = in[q.i0] + q.w * (in[q.i1] - in[q.i0]);
      }
    }
    plane_src = tmp;
  }
  for (int64_t c = 0; c < c_n; ++c) {
    // x = (p / 255 - mean) / std = p * scale - shift.
    const float scale = 1.f / (255.f * opt_.normalize.std[c]);
    const float shift = opt_.normalize.mean[c] / opt_.normalize.std[c];
    const float* in = plane_src + c * h * (identity_ ? w : s);
    float* out = dst + c * s * s;
    for (int64_t oy = 0; oy < s; ++oy) {
      const Tap& r = rows_[oy];
      const float* a = in + r.i0 * s;
      const float* b = in + r.i1 * s;
      for (int64_t ox = 0; ox < s; ++ox) out[oy * s + ox] = (a[ox] + r.w * (b[ox] - a[ox])) * scale - shift;
    }
  }
}

void Loader::prepare(int64_t epoch, int64_t step, Batch& out) const {
  const int64_t first = step * opt_.batch;
  const int64_t bg = std::min(opt_.batch, size() - first);  // the global batch; this shard has rows [lo, hi)
  const int64_t lo = opt_.shard * bg / opt_.shards, hi = (opt_.shard + 1) * bg / opt_.shards, b = hi - lo;
  const int64_t numel = set_.channels * out_size_ * out_size_;
  // The set is held by reference: one resized behind the loader's back would be read out of bounds.
  if (set_.pixels.size() != static_cast<size_t>(set_.size() * set_.image_numel()) ||
      set_.labels.size() < indices_.size())
    throw std::runtime_error(
        fmt::format("loader for {}: the image set changed after the loader was made", set_.name));
  // Row g of the global batch: its position in the epoch keys its random numbers, whichever shard renders it.
  auto render_row = [&](int64_t g, float* dst, std::vector<float>& scratch) {
    const int64_t pos = first + g;
    render(order_[pos],
           key(Purpose::augment, {opt_.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(pos)}), dst,
           scratch);
  };
  out.epoch = epoch;
  out.step = step;
  out.size = b;
  out.images.assign(b * numel, 0.f);
  out.labels.resize(b);
  out.indices.resize(b);
  out.targets.clear();
  std::vector<float> scratch;
  for (int64_t j = 0; j < b; ++j) {
    out.indices[j] = order_[first + lo + j];
    out.labels[j] = set_.labels[order_[first + lo + j]];
    render_row(lo + j, out.images.data() + j * numel, scratch);
  }
  const Augment& a = opt_.augment;
  if (!opt_.train || (a.mixup <= 0 && a.cutmix <= 0) || b == 0) return;

  // Mixup / cutmix on the whole global batch with the batch reversed as partner (timm's "batch" mode): row g
  // takes from row bg-1-g. A pair inside this shard is updated in place; a partner in another shard is
  // rendered here too (the same pixels that shard renders), so the result does not depend on the split.
  Stream rs(key(Purpose::mix, {opt_.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(step)}));
  const bool use_cutmix = a.mixup > 0 && a.cutmix > 0 ? rs.uniform() < 0.5f : a.cutmix > 0;
  double lam = beta(rs, use_cutmix ? a.cutmix : a.mixup);
  const int64_t s = out_size_;
  int64_t y0 = 0, y1 = 0, x0 = 0, x1 = 0;
  if (use_cutmix) {
    // The box as in timm's rand_bbox: side sqrt(1 - lam) of the image, centre uniform, clipped to the image;
    // lam is then corrected to the area actually kept.
    const double cut = std::sqrt(1 - lam);
    const int64_t ch = static_cast<int64_t>(s * cut), cw = static_cast<int64_t>(s * cut);
    const int64_t cy = std::min<int64_t>(static_cast<int64_t>(rs.uniform() * s), s - 1);
    const int64_t cx = std::min<int64_t>(static_cast<int64_t>(rs.uniform() * s), s - 1);
    y0 = std::clamp<int64_t>(cy - ch / 2, 0, s), y1 = std::clamp<int64_t>(cy + ch / 2, 0, s);
    x0 = std::clamp<int64_t>(cx - cw / 2, 0, s), x1 = std::clamp<int64_t>(cx + cw / 2, 0, s);
  }
  const float l = static_cast<float>(lam);
  std::vector<float> partner;
  for (int64_t j = 0; j < b; ++j) {
    const int64_t g = lo + j, pg = bg - 1 - g;
    if (pg == g) continue;  // the middle image of an odd batch is its own partner and stays as it is
    float* p = out.images.data() + j * numel;
    const bool local = pg >= lo && pg < hi;
    if (local && pg < g) continue;  // mixed with its partner already
    float* q = local ? out.images.data() + (pg - lo) * numel : nullptr;
    if (!local) {
      partner.resize(numel);
      render_row(pg, partner.data(), scratch);
      q = partner.data();
    }
    // Either both rows of the pair change (both here), or only p (q is a copy of another shard's row).
    if (use_cutmix) {
      for (int64_t c = 0; c < set_.channels; ++c)
        for (int64_t y = y0; y < y1; ++y)
          std::swap_ranges(p + (c * s + y) * s + x0, p + (c * s + y) * s + x1, q + (c * s + y) * s + x0);
    } else {
      for (int64_t i = 0; i < numel; ++i) {
        const float pi = p[i], qi = q[i];
        p[i] = l * pi + (1 - l) * qi;
        q[i] = l * qi + (1 - l) * pi;
      }
    }
  }
  if (use_cutmix) lam = 1 - static_cast<double>((y1 - y0) * (x1 - x0)) / static_cast<double>(s * s);
  const int64_t classes = static_cast<int64_t>(set_.classes.size());
  out.targets.assign(b * classes, 0.f);
  for (int64_t j = 0; j < b; ++j) {
    const int64_t partner_label = set_.labels[order_[first + bg - 1 - (lo + j)]];
    out.targets[j * classes + out.labels[j]] += static_cast<float>(lam);
    out.targets[j * classes + partner_label] += static_cast<float>(1 - lam);
  }
}

}  // namespace vb::data
