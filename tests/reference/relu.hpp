// Reference ReLU in double, forward and backward.
#pragma once

#include <vector>

namespace vb::ref {

// out, inp are (n)
inline void relu_forward(std::vector<double>& out, const std::vector<double>& inp) {
  out.resize(inp.size());
  for (size_t i = 0; i < inp.size(); ++i) out[i] = inp[i] > 0 ? inp[i] : 0.0;
}

// dinp, dout, inp are (n)
inline void relu_backward(std::vector<double>& dinp, const std::vector<double>& dout,
                          const std::vector<double>& inp) {
  dinp.resize(inp.size());
  for (size_t i = 0; i < inp.size(); ++i) dinp[i] = inp[i] > 0 ? dout[i] : 0.0;
}

}  // namespace vb::ref
