// Counter-based random numbers: value i of stream `seed` is a pure function of (seed, i), so results do not
// depend on thread count or call order, and the same generator is easy to write in Python for fixtures.
// splitmix64 (Steele, Lea, Flood 2014) as the mixing function.
#pragma once

#include <cmath>
#include <cstdint>

namespace vb::rng {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform in [0, 1) with 24 random bits (exactly representable as float).
inline float uniform(uint64_t seed, uint64_t i) {
  return static_cast<float>(splitmix64(splitmix64(seed) ^ i) >> 40) * (1.0f / 16777216.0f);
}

// Standard normal via Box-Muller on two counter draws.
inline float normal(uint64_t seed, uint64_t i) {
  const double u1 = (static_cast<double>(uniform(seed, 2 * i)) + 0x1p-25);
  const double u2 = uniform(seed, 2 * i + 1);
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
}

}  // namespace vb::rng
