// load_dataset (the spec -> one of the loaders in sources.hpp) and the stratified index selections: hold_out
// and stratified_subset, both built from one per-class interleaving whose every prefix keeps class shares.
#include "harness/data/dataset.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include "harness/data/random.hpp"
#include "harness/data/sources.hpp"

namespace vb::data {

namespace {

constexpr const char* kDebianFashionMnist = "/usr/share/datasets/fashion-mnist";

constexpr const char* kSpecForms =
    "accepted forms: fashion-mnist (Debian's, in /usr/share/datasets/fashion-mnist), fashion-mnist:<dir>, "
    "mnist:<dir>, cifar10:<dir> (CIFAR-10's binary version: <dir> is cifar-10-batches-bin or its parent), "
    "folder:<root> (<root>/{train,test}/<class>/*.{jpg,jpeg,png}), "
    "synthetic[:train=N,test=N,classes=N,size=N,channels=1|3,seed=N]";

// Indices of `from` grouped by label, each group in a seeded order.
std::vector<std::vector<int64_t>> by_class(const std::vector<int32_t>& labels,
                                           const std::vector<int64_t>& from, Purpose purpose, uint64_t seed) {
  int32_t classes = 0;
  for (int64_t i : from) {
    if (i < 0 || i >= static_cast<int64_t>(labels.size()))
      throw std::invalid_argument(fmt::format("index {} out of range ({} labels)", i, labels.size()));
    if (labels[i] < 0)
      throw std::invalid_argument(fmt::format("negative label {} at index {}", labels[i], i));
    classes = std::max(classes, labels[i] + 1);
  }
  std::vector<std::vector<int64_t>> groups(classes);
  for (int64_t i : from) groups[labels[i]].push_back(i);
  for (int32_t c = 0; c < classes; ++c) {
    std::sort(groups[c].begin(), groups[c].end());  // the order of `from` must not matter
    shuffle(groups[c], key(purpose, {seed, static_cast<uint64_t>(c)}));
  }
  return groups;
}

// The first `take` picks of an order over the groups in which, after every k picks, each class has been
// picked within one of its exact share k * n_c / N (an earliest-deadline rule that never exceeds a class's
// upper quota). At most cap[c] picks come from class c. Because every prefix is balanced, a shorter run is
// a prefix of a longer one: subsets of different sizes are nested.
std::vector<int64_t> interleave(const std::vector<std::vector<int64_t>>& groups, int64_t take,
                                const std::vector<int64_t>& cap) {
  const size_t classes = groups.size();
  int64_t total = 0;
  for (const auto& g : groups) total += static_cast<int64_t>(g.size());
  std::vector<int64_t> picked(classes, 0), out;
  out.reserve(take);
  for (int64_t k = 1; k <= take; ++k) {
    // Best class within the upper quota, else (only when caps bind) the best class with room left.
    int64_t best = -1, fallback = -1;
    for (size_t c = 0; c < classes; ++c) {
      const int64_t n = static_cast<int64_t>(groups[c].size());
      if (picked[c] >= cap[c]) continue;
      // Deadline of class c's next pick: (picked + 1) * N / n; compare a/b < c/d as a*d < c*b.
      auto earlier = [&](int64_t other) {
        if (other < 0) return true;
        const int64_t n_other = static_cast<int64_t>(groups[other].size());
        return (picked[c] + 1) * n_other < (picked[other] + 1) * n;
      };
      if (earlier(fallback)) fallback = static_cast<int64_t>(c);
      const bool within_quota = (picked[c] + 1) * total - k * n < total;  // picked + 1 - k n / N < 1
      if (within_quota && earlier(best)) best = static_cast<int64_t>(c);
    }
    if (best < 0) best = fallback;
    if (best < 0) throw std::logic_error("interleave: no class has room left");
    out.push_back(groups[best][picked[best]++]);
  }
  return out;
}

}  // namespace

Normalize channel_stats(const ImageSet& set) {
  Normalize n;
  const int64_t plane = set.height * set.width;
  for (int64_t c = 0; c < set.channels; ++c) {
    double sum = 0, sq = 0;  // exact in double up to 2^53 / 255^2 pixels per channel
    for (int64_t i = 0; i < set.size(); ++i) {
      const uint8_t* p = set.image(i) + c * plane;
      uint64_t s1 = 0, s2 = 0;
      for (int64_t j = 0; j < plane; ++j) {
        s1 += p[j];
        s2 += uint64_t{p[j]} * p[j];
      }
      sum += static_cast<double>(s1);
      sq += static_cast<double>(s2);
    }
    const double count = static_cast<double>(set.size() * plane) * 255.0;
    const double mean = count > 0 ? sum / count : 0.0;
    const double var = count > 0 ? sq / (count * 255.0) - mean * mean : 0.0;
    n.mean.push_back(static_cast<float>(mean));
    n.std.push_back(static_cast<float>(std::sqrt(std::max(var, 1e-12))));
  }
  return n;
}

Dataset load_dataset(const std::string& spec, const DatasetOptions& opt) {
  const auto colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string arg = colon == std::string::npos ? "" : spec.substr(colon + 1);
  const bool has_arg = colon != std::string::npos;
  if (kind == "fashion-mnist") {
    if (has_arg && arg.empty()) throw std::runtime_error("dataset 'fashion-mnist:': the directory is empty");
    return load_idx(IdxKind::fashion_mnist, has_arg ? std::filesystem::path(arg) : kDebianFashionMnist);
  }
  if (kind == "mnist") {
    if (arg.empty())
      throw std::runtime_error(fmt::format("dataset '{}': mnist needs a directory: mnist:<dir>", spec));
    return load_idx(IdxKind::mnist, arg);
  }
  if (kind == "cifar10") {
    if (arg.empty())
      throw std::runtime_error(
          fmt::format("dataset '{}': cifar10 needs a directory: cifar10:<dir> (cifar-10-batches-bin)", spec));
    return load_cifar10_bin(arg);
  }
  if (kind == "folder") {
    if (arg.empty())
      throw std::runtime_error(fmt::format("dataset '{}': folder needs a root: folder:<root>", spec));
    return load_image_folder(arg, opt);
  }
  if (kind == "synthetic") return make_synthetic(parse_synthetic(arg));
  throw std::runtime_error(fmt::format("unknown dataset '{}'; {}", spec, kSpecForms));
}

HoldOut hold_out(const std::vector<int32_t>& labels, int64_t val_size, uint64_t seed) {
  std::vector<int64_t> all(labels.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  const auto groups = by_class(labels, all, Purpose::hold_out, seed);
  std::vector<int64_t> cap;
  int64_t room = 0;
  for (const auto& g : groups) {
    cap.push_back(
        std::max<int64_t>(0, static_cast<int64_t>(g.size()) - 1));  // keep one training image per class
    room += cap.back();
  }
  if (val_size < 0 || val_size > room)
    throw std::invalid_argument(fmt::format(
        "hold-out of {} images: must be in [0, {}] ({} images, each class keeps at least one for training)",
        val_size, room, labels.size()));
  HoldOut h;
  h.val = interleave(groups, val_size, cap);
  std::vector<bool> is_val(labels.size(), false);
  for (int64_t i : h.val) is_val[i] = true;
  for (int64_t i : all)
    if (!is_val[i]) h.train.push_back(i);
  std::sort(h.val.begin(), h.val.end());
  return h;
}

std::vector<int64_t> stratified_subset(const std::vector<int32_t>& labels, const std::vector<int64_t>& from,
                                       int64_t count, uint64_t seed) {
  if (count < 0 || count > static_cast<int64_t>(from.size()))
    throw std::invalid_argument(
        fmt::format("subset of {} images out of {}: must be in [0, {}]", count, from.size(), from.size()));
  const auto groups = by_class(labels, from, Purpose::subset, seed);
  std::vector<int64_t> cap;
  for (const auto& g : groups) cap.push_back(static_cast<int64_t>(g.size()));
  std::vector<int64_t> out = interleave(groups, count, cap);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace vb::data
