// Mlp: three layers called in order; backward calls them in reverse.
#include "models/blocks/mlp.hpp"

#include <fmt/format.h>

namespace vb {

Mlp::Mlp(std::string name, Config cfg) : Layer(std::move(name)), cfg_(cfg) {
  check_arg(cfg_.dim > 0 && cfg_.hidden > 0, name_,
            fmt::format("dim and hidden must be positive, given dim {} hidden {}", cfg_.dim, cfg_.hidden));
  // bf16: fc1 writes bf16, GELU runs on bf16 and fc2 reads it without a conversion; fc2 writes f32.
  // Inference: fc1 applies GELU in its GEMM epilogue (one pass over the hidden activations fewer).
  fc1_ = std::make_unique<Linear>(
      name_ + ".fc1", Linear::timm_init({cfg_.dim, cfg_.hidden, true, cfg_.dtype, cfg_.dtype, true}));
  act_ = std::make_unique<GELU>(name_ + ".act", GELU::Config{cfg_.dtype});
  fc2_ =
      std::make_unique<Linear>(name_ + ".fc2", Linear::timm_init({cfg_.hidden, cfg_.dim, true, cfg_.dtype}));
  // Param names relative to this layer (see params()).
  for (Param* p : fc1_->params()) p->name = "fc1." + p->name;
  for (Param* p : fc2_->params()) p->name = "fc2." + p->name;
}

std::vector<Param*> Mlp::params() {
  std::vector<Param*> ps = fc1_->params();
  for (Param* p : fc2_->params()) ps.push_back(p);
  return ps;
}

const Tensor& Mlp::activations(const Tensor& src, Mode mode) {
  // src is (B, N, D) -> h (B, N, hidden) -> g (B, N, hidden)
  const Tensor& h = fc1_->forward(src, mode);
  if (mode == Mode::eval && fc1_->gelu_fused_in_eval()) return h;  // h is GELU'd already
  return act_->forward(h, mode);
}

const Tensor& Mlp::forward(const Tensor& src, Mode mode) {
  return fc2_->forward(activations(src, mode), mode);  // (B, N, hidden) -> dst (B, N, D)
}

void Mlp::forward_accumulate(const Tensor& src, const Tensor& dst) {
  fc2_->forward_accumulate(activations(src, Mode::eval), dst);  // dst (B, N, D) += fc2(g)
}

const Tensor& Mlp::backward(const Tensor& diff_dst) {
  // diff_dst is (B, N, D) -> d_g (B, N, hidden) -> d_h (B, N, hidden) -> diff_src (B, N, D)
  const Tensor& d_g = fc2_->backward(diff_dst);
  const Tensor& d_h = act_->backward(d_g);
  return fc1_->backward(d_h);
}

}  // namespace vb
