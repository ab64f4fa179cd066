// Counter-based initialisers (see init.hpp).
#include "models/init.hpp"

#include <cmath>

#include "models/core/rng.hpp"

namespace vb::init {

uint64_t key_seed(uint64_t seed, const std::string& key) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64
  for (unsigned char c : key) h = (h ^ c) * 0x100000001b3ull;
  return rng::splitmix64(seed ^ h);
}

namespace {
template <class F>
void fill(Tensor& t, F&& value_at) {
  std::vector<float> v(t.numel());
  for (size_t i = 0; i < v.size(); ++i) v[i] = value_at(i);
  t.assign(v);
}
}  // namespace

void constant(Tensor& t, float value) {
  fill(t, [&](size_t) { return value; });
}

void normal(Tensor& t, uint64_t seed, const std::string& key, double std) {
  const uint64_t s = key_seed(seed, key);
  fill(t, [&](size_t i) { return static_cast<float>(std * rng::normal(s, i)); });
}

void trunc_normal(Tensor& t, uint64_t seed, const std::string& key, double std, double lo, double hi) {
  const uint64_t s = key_seed(seed, key);
  fill(t, [&](size_t i) {
    // Redraw out-of-range samples from further counters of the same element (deterministic).
    for (uint64_t k = 0;; ++k) {
      const double z = std * rng::normal(s, i + k * 0x100000000ull);
      if (z >= lo && z <= hi) return static_cast<float>(z);
    }
  });
}

void uniform(Tensor& t, uint64_t seed, const std::string& key, double lo, double hi) {
  const uint64_t s = key_seed(seed, key);
  fill(t, [&](size_t i) { return static_cast<float>(lo + (hi - lo) * rng::uniform(s, i)); });
}

void apply(const Init& how, Tensor& t, uint64_t seed, const std::string& key) {
  switch (how.kind) {
    case Init::Kind::constant:
      return constant(t, static_cast<float>(how.a));
    case Init::Kind::normal:
      return normal(t, seed, key, how.a);
    case Init::Kind::trunc_normal:
      return trunc_normal(t, seed, key, how.a, how.b, how.c);
    case Init::Kind::uniform:
      return uniform(t, seed, key, how.a, how.b);
  }
}

void apply(const std::vector<StateEntry>& state, uint64_t seed) {
  for (const StateEntry& e : state) {
    if (e.param) apply(e.param->init, e.param->value, seed, e.key);
    if (e.buffer) apply(e.init, *e.buffer, seed, e.key);
    if (e.counter) *e.counter = 0;
  }
}

int64_t fan_in(const Dims& shape) {
  return shape.size() < 2 ? shape.at(0) : product(shape) / shape[0];
}
int64_t fan_out(const Dims& shape) {
  return shape.size() < 2 ? shape.at(0) : product(shape) / shape[1];
}

}  // namespace vb::init
