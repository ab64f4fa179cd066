// hold_out and stratified_subset: exact sizes, class shares within one image, disjoint train/val, nesting
// across sizes, determinism in the seed.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <set>

#include "harness/data/dataset.hpp"

using namespace vb::data;

namespace {

// Unbalanced labels: class c has 5 + 7c (+ 1 for the first) images, in a scrambled order.
std::vector<int32_t> labels_unbalanced() {
  std::vector<int32_t> l;
  for (int32_t c = 0; c < 6; ++c)
    for (int32_t i = 0; i < 5 + 7 * c + (c == 0); ++i) l.push_back(c);
  for (size_t i = 0; i < l.size(); ++i) std::swap(l[i], l[(i * 37) % l.size()]);
  return l;
}

std::vector<int64_t> class_counts(const std::vector<int32_t>& labels, const std::vector<int64_t>& idx) {
  std::vector<int64_t> c(*std::max_element(labels.begin(), labels.end()) + 1, 0);
  for (int64_t i : idx) ++c[labels[i]];
  return c;
}

// Each class's count is within one of its exact share of `idx.size()` among `from`.
void check_shares(const std::vector<int32_t>& labels, const std::vector<int64_t>& from,
                  const std::vector<int64_t>& idx) {
  const auto all = class_counts(labels, from), got = class_counts(labels, idx);
  for (size_t c = 0; c < all.size(); ++c) {
    const double exact = static_cast<double>(idx.size()) * all[c] / from.size();
    INFO("class " << c << ": " << got[c] << " of " << all[c] << ", exact share " << exact);
    CHECK(std::abs(got[c] - exact) < 1.0);
  }
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

}  // namespace

TEST_CASE("hold_out: sizes, shares, disjoint, deterministic", "[data]") {
  const auto labels = labels_unbalanced();
  const int64_t n = static_cast<int64_t>(labels.size());
  for (int64_t val : {0l, 1l, 7l, 31l, 60l}) {
    INFO("val " << val);
    const HoldOut h = hold_out(labels, val, 3);
    CHECK(static_cast<int64_t>(h.val.size()) == val);
    CHECK(static_cast<int64_t>(h.train.size()) == n - val);
    std::set<int64_t> all(h.train.begin(), h.train.end());
    all.insert(h.val.begin(), h.val.end());
    CHECK(static_cast<int64_t>(all.size()) == n);  // disjoint and covering
    check_shares(labels, iota(n), h.val);
    for (int64_t c : class_counts(labels, h.train)) CHECK(c >= 1);
    CHECK(hold_out(labels, val, 3).val == h.val);
  }
  CHECK(hold_out(labels, 31, 3).val != hold_out(labels, 31, 4).val);
  // Every class keeps a training image, so at most n - classes can be held out.
  const HoldOut most = hold_out(labels, n - 6, 0);
  for (int64_t c : class_counts(labels, most.train)) CHECK(c == 1);
  CHECK_THROWS_AS(hold_out(labels, n - 5, 0), std::invalid_argument);
  CHECK_THROWS_AS(hold_out(labels, -1, 0), std::invalid_argument);
}

TEST_CASE("stratified_subset: sizes, shares, nested, deterministic", "[data]") {
  const auto labels = labels_unbalanced();
  // A subset of a hold-out's training part, as a data-scaling run uses it.
  const HoldOut h = hold_out(labels, 20, 1);
  std::vector<int64_t> previous;
  for (int64_t count = 0; count <= static_cast<int64_t>(h.train.size()); ++count) {
    INFO("count " << count);
    const auto s = stratified_subset(labels, h.train, count, 9);
    REQUIRE(static_cast<int64_t>(s.size()) == count);
    CHECK(std::set<int64_t>(s.begin(), s.end()).size() == s.size());
    CHECK(std::includes(h.train.begin(), h.train.end(), s.begin(), s.end()));  // both sorted
    check_shares(labels, h.train, s);
    CHECK(std::includes(s.begin(), s.end(), previous.begin(), previous.end()));  // nested
    previous = s;
  }
  CHECK(stratified_subset(labels, h.train, 30, 9) == stratified_subset(labels, h.train, 30, 9));
  CHECK(stratified_subset(labels, h.train, 30, 9) != stratified_subset(labels, h.train, 30, 10));
  // The order of `from` does not matter.
  std::vector<int64_t> reversed(h.train.rbegin(), h.train.rend());
  CHECK(stratified_subset(labels, reversed, 30, 9) == stratified_subset(labels, h.train, 30, 9));
  CHECK_THROWS_AS(stratified_subset(labels, h.train, h.train.size() + 1, 0), std::invalid_argument);
}
