// Reference 2-D convolution (square kernel, zero padding, groups = 1) in double: plain loops, forward and
// backward side by side. Outputs first, then inputs, then sizes; every array is plain row-major.
#pragma once

#include <cstdint>
#include <vector>

namespace vb::ref {

inline int64_t conv2d_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad) {
  return (in + 2 * pad - k) / stride + 1;
}

// out is (N, O, Ho, Wo); inp is (N, C, H, W); weight is (O, C, k, k); bias is (O) or empty
inline void conv2d_forward(std::vector<double>& out, const std::vector<double>& inp,
                           const std::vector<double>& weight, const std::vector<double>& bias, int64_t N,
                           int64_t C, int64_t H, int64_t W, int64_t O, int64_t k, int64_t stride,
                           int64_t pad) {
  const int64_t Ho = conv2d_out_size(H, k, stride, pad), Wo = conv2d_out_size(W, k, stride, pad);
  out.assign(N * O * Ho * Wo, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow) {
          double acc = bias.empty() ? 0.0 : bias[o];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t kh = 0; kh < k; ++kh)
              for (int64_t kw = 0; kw < k; ++kw) {
                const int64_t ih = oh * stride - pad + kh, iw = ow * stride - pad + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;  // zero padding
                acc += inp[((n * C + c) * H + ih) * W + iw] * weight[((o * C + c) * k + kh) * k + kw];
              }
          out[((n * O + o) * Ho + oh) * Wo + ow] = acc;
        }
}

// dinp is (N, C, H, W); dweight is (O, C, k, k); dbias is (O) (left empty when has_bias is false);
// dout is (N, O, Ho, Wo). Outputs are overwritten.
inline void conv2d_backward(std::vector<double>& dinp, std::vector<double>& dweight,
                            std::vector<double>& dbias, const std::vector<double>& dout,
                            const std::vector<double>& inp, const std::vector<double>& weight, bool has_bias,
                            int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t k, int64_t stride,
                            int64_t pad) {
  const int64_t Ho = conv2d_out_size(H, k, stride, pad), Wo = conv2d_out_size(W, k, stride, pad);
  dinp.assign(N * C * H * W, 0.0);
  dweight.assign(O * C * k * k, 0.0);
  dbias.assign(has_bias ? O : 0, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow) {
          const double d = dout[((n * O + o) * Ho + oh) * Wo + ow];
          if (has_bias) dbias[o] += d;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t kh = 0; kh < k; ++kh)
              for (int64_t kw = 0; kw < k; ++kw) {
                const int64_t ih = oh * stride - pad + kh, iw = ow * stride - pad + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const int64_t i = ((n * C + c) * H + ih) * W + iw, w = ((o * C + c) * k + kh) * k + kw;
                dinp[i] += weight[w] * d;
                dweight[w] += inp[i] * d;
              }
        }
}

}  // namespace vb::ref
