// Reference BatchNorm2d in double: training forward with batch statistics (biased variance for normalising),
// backward, the PyTorch running-average update (unbiased variance) and the eval forward.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace vb::ref {

// out is (N, C, H, W); mean, var are (C) batch statistics (var biased); inp is (N, C, H, W); weight, bias (C)
inline void batchnorm2d_forward(std::vector<double>& out, std::vector<double>& mean, std::vector<double>& var,
                                const std::vector<double>& inp, const std::vector<double>& weight,
                                const std::vector<double>& bias, int64_t N, int64_t C, int64_t H, int64_t W,
                                double eps) {
  const int64_t HW = H * W;
  const double n = static_cast<double>(N * HW);
  out.assign(N * C * HW, 0.0);
  mean.assign(C, 0.0);
  var.assign(C, 0.0);
  for (int64_t c = 0; c < C; ++c) {
    double m = 0;
    for (int64_t b = 0; b < N; ++b)
      for (int64_t i = 0; i < HW; ++i) m += inp[(b * C + c) * HW + i];
    m /= n;
    double v = 0;
    for (int64_t b = 0; b < N; ++b)
      for (int64_t i = 0; i < HW; ++i) v += (inp[(b * C + c) * HW + i] - m) * (inp[(b * C + c) * HW + i] - m);
    v /= n;
    const double rstd = 1.0 / std::sqrt(v + eps);
    for (int64_t b = 0; b < N; ++b)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t j = (b * C + c) * HW + i;
        out[j] = (inp[j] - m) * rstd * weight[c] + bias[c];
      }
    mean[c] = m;
    var[c] = v;
  }
}

// dinp is (N, C, H, W); dweight, dbias are (C); dout, inp are (N, C, H, W); mean, var from the forward.
inline void batchnorm2d_backward(std::vector<double>& dinp, std::vector<double>& dweight,
                                 std::vector<double>& dbias, const std::vector<double>& dout,
                                 const std::vector<double>& inp, const std::vector<double>& weight,
                                 const std::vector<double>& mean, const std::vector<double>& var, int64_t N,
                                 int64_t C, int64_t H, int64_t W, double eps) {
  const int64_t HW = H * W;
  const double n = static_cast<double>(N * HW);
  dinp.assign(N * C * HW, 0.0);
  dweight.assign(C, 0.0);
  dbias.assign(C, 0.0);
  for (int64_t c = 0; c < C; ++c) {
    const double rstd = 1.0 / std::sqrt(var[c] + eps);
    // xhat = (x - mean) * rstd; dxhat = dout * weight
    double sum_d = 0, sum_d_xhat = 0;
    for (int64_t b = 0; b < N; ++b)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t j = (b * C + c) * HW + i;
        sum_d += dout[j];
        sum_d_xhat += dout[j] * (inp[j] - mean[c]) * rstd;
      }
    dbias[c] = sum_d;
    dweight[c] = sum_d_xhat;
    // dx = weight * rstd * (dout - mean(dout) - xhat * mean(dout * xhat))
    for (int64_t b = 0; b < N; ++b)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t j = (b * C + c) * HW + i;
        const double xhat = (inp[j] - mean[c]) * rstd;
        dinp[j] = weight[c] * rstd * (dout[j] - sum_d / n - xhat * sum_d_xhat / n);
      }
  }
}

// PyTorch's running update: the running variance takes the unbiased batch variance var * n / (n - 1).
inline void batchnorm2d_update_running(std::vector<double>& running_mean, std::vector<double>& running_var,
                                       const std::vector<double>& mean, const std::vector<double>& var,
                                       int64_t n, double momentum) {
  for (size_t c = 0; c < mean.size(); ++c) {
    running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean[c];
    running_var[c] = (1 - momentum) * running_var[c] + momentum * var[c] * n / (n - 1);
  }
}

// Eval: out = (inp - running_mean) / sqrt(running_var + eps) * weight + bias
inline void batchnorm2d_forward_eval(std::vector<double>& out, const std::vector<double>& inp,
                                     const std::vector<double>& weight, const std::vector<double>& bias,
                                     const std::vector<double>& running_mean,
                                     const std::vector<double>& running_var, int64_t N, int64_t C, int64_t H,
                                     int64_t W, double eps) {
  const int64_t HW = H * W;
  out.assign(N * C * HW, 0.0);
  for (int64_t b = 0; b < N; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) {
        const int64_t j = (b * C + c) * HW + i;
        out[j] = (inp[j] - running_mean[c]) / std::sqrt(running_var[c] + eps) * weight[c] + bias[c];
      }
}

}  // namespace vb::ref
