// Parameter initialisers on the counter-based RNG: the values of a tensor depend only on (seed, key, index),
// so initialisation is identical whatever the thread count or the order layers are built in.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/core/layer.hpp"
#include "models/core/tensor.hpp"

namespace vb::init {

uint64_t key_seed(uint64_t seed, const std::string& key);  // splitmix64(seed ^ fnv1a64(key))
void constant(Tensor& t, float value);
void normal(Tensor& t, uint64_t seed, const std::string& key, double std);
void trunc_normal(Tensor& t, uint64_t seed, const std::string& key, double std, double lo,
                  double hi);  // absolute bounds, as timm
void uniform(Tensor& t, uint64_t seed, const std::string& key, double lo, double hi);
// Sets `t` as `how` says, on the stream of (seed, key).
void apply(const Init& how, Tensor& t, uint64_t seed, const std::string& key);
// Every entry of a model's state as its creator declared (Param::init, StateEntry::init; counters 0), each
// keyed by its state_dict key: what Model::init(seed) does for every family.
void apply(const std::vector<StateEntry>& state, uint64_t seed);
// fan_in / fan_out of a PyTorch weight: (out, in, k...) -> in * prod(k) / out * prod(k).
int64_t fan_in(const Dims& shape);
int64_t fan_out(const Dims& shape);

}  // namespace vb::init
