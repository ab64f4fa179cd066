"""Counter-based weights: every state_dict entry is a pure function of (seed, key, shape), computed the same way
here and in tests/support/counter_weights.hpp, so models can be compared across languages without committed
weights. Also the counter normal values used for fixture inputs (models/core/rng.hpp's rng::normal).

Rule (value i = row-major index of the tensor with key K and shape S, for seed s):
  u = rng::uniform(splitmix64(s ^ fnv1a64(K)), i)   (FNV-1a 64 of K's UTF-8 bytes; uniform = top 24 bits of
                                                     splitmix64(splitmix64(seed) ^ i) / 2^24)
  K ends with running_var         -> 0.5 + u
  K ends with running_mean        -> 0.2 * (2u - 1)
  K ends with num_batches_tracked -> 0 (int64)
  rank 1 and K ends with .weight  -> 1 + 0.2 * (2u - 1)          (norm scales)
  rank 1 and K ends with .bias    -> 0.1 * (2u - 1)
  K is cls_token or contains pos  -> 0.5 * (2u - 1)              (pos_embed*, patch_pos, pixel_pos)
  otherwise                       -> (2u - 1) * sqrt(3 / fan_in), fan_in = numel / S[0]
Arithmetic in double, rounded once to float32 at the end (bit-identical in both languages)."""

from __future__ import annotations

import numpy as np

_U64 = np.uint64


def splitmix64(x):
    """splitmix64 on uint64 scalars or arrays; uint64 arithmetic wraps like C++."""
    x = np.asarray(x, dtype=_U64)
    with np.errstate(over="ignore"):
        x = x + _U64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
        return x ^ (x >> _U64(31))


def uniform(seed: int, n: int) -> np.ndarray:
    """rng::uniform(seed, i) for i < n, float64 (values are exact float32: 24-bit fractions in [0, 1))."""
    i = np.arange(n, dtype=_U64)
    bits = splitmix64(splitmix64(_U64(seed)) ^ i) >> _U64(40)
    return bits.astype(np.float64) / 16777216.0


def normal(seed: int, n: int) -> np.ndarray:
    """rng::normal(seed, i) for i < n (Box-Muller on draws 2i, 2i+1), float32."""
    u = uniform(seed, 2 * n)
    u1 = u[0::2] + 2.0**-25
    u2 = u[1::2]
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).astype(np.float32)


def fnv1a64(key: str) -> int:
    h = 0xCBF29CE484222325
    for b in key.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def key_seed(seed: int, key: str) -> int:
    return int(splitmix64(_U64((seed ^ fnv1a64(key)) & 0xFFFFFFFFFFFFFFFF)))


def counter_tensor(seed: int, key: str, shape) -> np.ndarray:
    """The value of state_dict entry `key` of `shape` (float32, or int64 for num_batches_tracked)."""
    shape = tuple(int(s) for s in shape)
    if key.endswith("num_batches_tracked"):
        return np.zeros(shape, dtype=np.int64)
    n = int(np.prod(shape, dtype=np.int64))
    u = uniform(key_seed(seed, key), n)
    c = 2.0 * u - 1.0
    if key.endswith("running_var"):
        v = 0.5 + u
    elif key.endswith("running_mean"):
        v = 0.2 * c
    elif len(shape) == 1 and key.endswith(".weight"):
        v = 1.0 + 0.2 * c
    elif len(shape) == 1 and key.endswith(".bias"):
        v = 0.1 * c
    elif key == "cls_token" or "pos" in key:
        v = 0.5 * c
    else:
        fan_in = n // shape[0] if shape else 1
        v = c * np.sqrt(3.0 / fan_in)
    return v.astype(np.float32).reshape(shape)


def counter_state_dict(model, seed: int) -> dict:
    """Counter values for every state_dict entry of a torch model (numpy arrays, keyed as the state_dict)."""
    return {k: counter_tensor(seed, k, v.shape) for k, v in model.state_dict().items()}


def load_counter_weights(model, seed: int) -> dict:
    """Fills `model` (any dtype) with the counter weights; returns them as numpy arrays."""
    import torch

    values = counter_state_dict(model, seed)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in values.items()})
    return values
