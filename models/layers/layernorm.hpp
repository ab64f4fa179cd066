// LayerNorm over the last axis of a rank 2..4 tensor: y = (x - mean) / sqrt(var + eps) * weight + bias, with
// oneDNN layer_normalization (training forward saves mean/variance for backward). Takes the layout of its
// input. The backward of a narrow plain LayerNorm (dim <= kHostBackwardMaxDim, TNT's inner 12..40-wide
// tokens) is a host loop: oneDNN 2.6's backward there took 4x its forward and 21.6% of a TNT-tiny training
// step (Intel Xeon avx512_core, 2 threads, batch 64: scripts/profile_primitives.py).
#pragma once

#include <string>
#include <vector>

#include "models/core/input_reorder.hpp"
#include "models/core/layer.hpp"

namespace vb {

class LayerNorm : public Layer {
 public:
  struct Config {
    int64_t dim = 0;           // size of the last axis
    float eps = 1e-5f;         // ViT uses 1e-6, TNT 1e-5
    DType dtype = DType::f32;  // bf16 is refused
  };

  LayerNorm(std::string name, Config cfg);

  // src is (..., dim) of rank 2..4, f32, any layout; dst has the desc of src.
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // diff_dst is the shape of dst, f32, any layout; returns diff_src in the layout of src; writes weight/bias
  // grads.
  const Tensor& backward(const Tensor& diff_dst) override;
  // Widest last axis whose backward runs the host loop (plain row-major src only); wider ones run oneDNN's.
  static constexpr int64_t kHostBackwardMaxDim = 64;
  // True when the backward of the current src runs the host loop.
  bool host_backward() const { return host_bwd_; }
  std::vector<Param*> params() override { return {&weight_, &bias_}; }

  const Config& config() const { return cfg_; }
  Param& weight() { return weight_; }  // (dim), initially 1
  Param& bias() { return bias_; }      // (dim), initially 0

 private:
  void build(const dnnl::memory::desc& src_md);
  void build_backward();

  Config cfg_;
  Param weight_, bias_;

  dnnl::memory::desc src_md_;  // shape + layout the primitives were built for
  dnnl::layer_normalization_forward::primitive_desc train_pd_;
  Step train_, infer_;            // train writes mean/variance, inference does not
  Tensor src_;                    // kept for backward
  Tensor dst_;                    // desc of src
  dnnl::memory mean_, variance_;  // (rows): the leading dims

  bool bwd_built_ = false;
  bool host_bwd_ = false;        // the backward is backward_host() (narrow, plain)
  std::vector<double> partial_;  // backward_host: per-thread (dim) sums of diff_dst * x_hat and of diff_dst
  void backward_host(const float* x, const float* dy);
  InputReorder diff_dst_to_src_;  // caller's diff_dst -> layout of src (usually not needed)
  Step bwd_;
  Tensor diff_src_;  // desc of src
  bool saved_ = false;
};

}  // namespace vb
