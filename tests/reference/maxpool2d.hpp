// Reference MaxPool2d in double (PyTorch semantics: padding never wins, floor output size), forward and
// backward side by side; backward routes each output's gradient to the first maximum of its window.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace vb::ref {

inline int64_t maxpool2d_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad) {
  return (in + 2 * pad - k) / stride + 1;
}

// Index into inp of the maximum of the window of output (n, c, oh, ow).
inline int64_t maxpool2d_argmax(const std::vector<double>& inp, int64_t n, int64_t c, int64_t oh, int64_t ow,
                                int64_t C, int64_t H, int64_t W, int64_t k, int64_t stride, int64_t pad) {
  int64_t best = -1;
  double best_value = -std::numeric_limits<double>::infinity();
  for (int64_t kh = 0; kh < k; ++kh)
    for (int64_t kw = 0; kw < k; ++kw) {
      const int64_t ih = oh * stride - pad + kh, iw = ow * stride - pad + kw;
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;  // padding is -inf
      const int64_t i = ((n * C + c) * H + ih) * W + iw;
      if (best < 0 || inp[i] > best_value) best = i, best_value = inp[i];
    }
  return best;
}

// out is (N, C, Ho, Wo); inp is (N, C, H, W)
inline void maxpool2d_forward(std::vector<double>& out, const std::vector<double>& inp, int64_t N, int64_t C,
                              int64_t H, int64_t W, int64_t k, int64_t stride, int64_t pad) {
  const int64_t Ho = maxpool2d_out_size(H, k, stride, pad), Wo = maxpool2d_out_size(W, k, stride, pad);
  out.assign(N * C * Ho * Wo, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow)
          out[((n * C + c) * Ho + oh) * Wo + ow] =
              inp[maxpool2d_argmax(inp, n, c, oh, ow, C, H, W, k, stride, pad)];
}

// dinp is (N, C, H, W); dout is (N, C, Ho, Wo); inp is (N, C, H, W)
inline void maxpool2d_backward(std::vector<double>& dinp, const std::vector<double>& dout,
                               const std::vector<double>& inp, int64_t N, int64_t C, int64_t H, int64_t W,
                               int64_t k, int64_t stride, int64_t pad) {
  const int64_t Ho = maxpool2d_out_size(H, k, stride, pad), Wo = maxpool2d_out_size(W, k, stride, pad);
  dinp.assign(N * C * H * W, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow)
          dinp[maxpool2d_argmax(inp, n, c, oh, ow, C, H, W, k, stride, pad)] +=
              dout[((n * C + c) * Ho + oh) * Wo + ow];
}

}  // namespace vb::ref
