// Reference global average pooling in double: (N, C, H, W) -> (N, C), forward and backward.
#pragma once

#include <cstdint>
#include <vector>

namespace vb::ref {

// out is (N, C); inp is (N, C, H, W)
inline void avgpool_forward(std::vector<double>& out, const std::vector<double>& inp, int64_t N, int64_t C,
                            int64_t H, int64_t W) {
  out.assign(N * C, 0.0);
  for (int64_t i = 0; i < N * C; ++i) {
    double s = 0;
    for (int64_t j = 0; j < H * W; ++j) s += inp[i * H * W + j];
    out[i] = s / static_cast<double>(H * W);
  }
}

// dinp is (N, C, H, W); dout is (N, C)
inline void avgpool_backward(std::vector<double>& dinp, const std::vector<double>& dout, int64_t N, int64_t C,
                             int64_t H, int64_t W) {
  dinp.assign(N * C * H * W, 0.0);
  for (int64_t i = 0; i < N * C; ++i)
    for (int64_t j = 0; j < H * W; ++j) dinp[i * H * W + j] = dout[i] / static_cast<double>(H * W);
}

}  // namespace vb::ref
