// Shape arithmetic shared by the layers, the cost tables and the receptive-field geometry: written once.
#pragma once

#include <cstdint>

namespace vb {

// Output length of a sliding window (`kernel` taps `dilation` apart, moved by `stride`) over `in` values
// zero-padded by `padding` on both sides, as oneDNN and PyTorch compute it.
constexpr int64_t conv_out(int64_t in, int64_t kernel, int64_t stride, int64_t padding,
                           int64_t dilation = 1) {
  return (in + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
}

}  // namespace vb
