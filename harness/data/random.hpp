// Counter-based draws for the data pipeline: a key is a hash of the values that identify a draw (seed, epoch,
// position, purpose), so every random choice is a pure function of them, whatever thread makes it.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <numeric>
#include <utility>
#include <vector>

#include "models/core/rng.hpp"

namespace vb::data {

// Purposes, so that two uses of the same (seed, epoch, ...) never share draws.
enum class Purpose : uint64_t { shuffle = 1, augment, mix, hold_out, subset, synthetic };

inline uint64_t key(Purpose p, std::initializer_list<uint64_t> values) {
  uint64_t k = rng::splitmix64(static_cast<uint64_t>(p));
  for (uint64_t v : values) k = rng::splitmix64(k ^ rng::splitmix64(v));
  return k;
}

// Draw i of stream `k`: 64 uniform bits.
inline uint64_t bits(uint64_t k, uint64_t i) {
  return rng::splitmix64(rng::splitmix64(k) ^ i);
}

// Uniform integer in [0, n) (n > 0); the modulo bias is below 2^-40 for any n a dataset has.
inline uint64_t below(uint64_t k, uint64_t i, uint64_t n) {
  return bits(k, i) % n;
}

// Fisher-Yates on `v` with the draws of stream `k`.
template <class T>
void shuffle(std::vector<T>& v, uint64_t k) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(k, i, i)]);
}

// A sequential stream of uniforms and normals in one key (for rejection samplers that need a varying count).
class Stream {
 public:
  explicit Stream(uint64_t k)
      : uniform_key_(rng::splitmix64(k ^ 0x55)), normal_key_(rng::splitmix64(k ^ 0xAA)) {}
  float uniform() { return rng::uniform(uniform_key_, u_++); }
  float normal() { return rng::normal(normal_key_, n_++); }

 private:
  uint64_t uniform_key_, normal_key_, u_ = 0, n_ = 0;
};

}  // namespace vb::data
