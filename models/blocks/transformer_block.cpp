// TransformerBlock: forward calls its layers in order, backward in exactly reverse order; each residual
// add hands diff_dst to both of its inputs and the two gradients of the block's input are summed.
#include "models/blocks/transformer_block.hpp"

#include <fmt/format.h>

namespace vb {

namespace {
void prefix(const std::vector<Param*>& ps, const std::string& p) {
  for (Param* q : ps) q->name = p + "." + q->name;
}
}  // namespace

TransformerBlock::TransformerBlock(std::string name, Config cfg)
    : Layer(std::move(name)),
      cfg_(std::move(cfg)),
      add1_(name_ + ".add1"),
      add2_(name_ + ".add2"),
      sum2_(name_ + ".sum2"),
      sum1_(name_ + ".sum1") {
  const Names& n = cfg_.names;
  check_arg(cfg_.dim > 0 && cfg_.heads > 0 && cfg_.mlp_hidden > 0, name_,
            fmt::format("dim, heads and mlp_hidden must be positive, given {}, {}, {}", cfg_.dim, cfg_.heads,
                        cfg_.mlp_hidden));
  check_arg(cfg_.dim % cfg_.heads == 0, name_,
            fmt::format("dim {} is not divisible by heads {}", cfg_.dim, cfg_.heads));
  check_arg(!n.norm1.empty() && !n.attn.empty() && !n.norm2.empty() && !n.mlp.empty(), name_,
            "a sub-layer name is empty");
  norm1_ = std::make_unique<LayerNorm>(name_ + "." + n.norm1, LayerNorm::Config{cfg_.dim, cfg_.ln_eps});
  attn_ = std::make_unique<Attention>(
      name_ + "." + n.attn, Attention::Config{cfg_.dim, cfg_.heads, cfg_.qkv_bias, cfg_.qkv, cfg_.dtype});
  norm2_ = std::make_unique<LayerNorm>(name_ + "." + n.norm2, LayerNorm::Config{cfg_.dim, cfg_.ln_eps});
  mlp_ = std::make_unique<Mlp>(name_ + "." + n.mlp, Mlp::Config{cfg_.dim, cfg_.mlp_hidden, cfg_.dtype});
  reseed(cfg_.seed);  // also checks drop_path (DropPath refuses p outside [0, 1))
  prefix(norm1_->params(), n.norm1);
  prefix(attn_->params(), n.attn);
  prefix(norm2_->params(), n.norm2);
  prefix(mlp_->params(), n.mlp);
}

void TransformerBlock::set_random_step(int64_t step) {
  drop_path1_->set_step(step);
  drop_path2_->set_step(step);
}

void TransformerBlock::reseed(uint64_t seed) {
  cfg_.seed = seed;
  drop_path1_ = std::make_unique<DropPath>(name_ + ".drop_path1", DropPath::Config{cfg_.drop_path, seed});
  drop_path2_ = std::make_unique<DropPath>(name_ + ".drop_path2", DropPath::Config{cfg_.drop_path, seed + 1});
}

std::vector<Param*> TransformerBlock::params() {
  std::vector<Param*> ps;
  for (Layer* l : {static_cast<Layer*>(norm1_.get()), static_cast<Layer*>(attn_.get()),
                   static_cast<Layer*>(norm2_.get()), static_cast<Layer*>(mlp_.get())})
    for (Param* p : l->params()) ps.push_back(p);
  return ps;
}

const Tensor& TransformerBlock::forward(const Tensor& x, Mode mode) {
  if (mode == Mode::eval && cfg_.fuse_residual_eval) return forward_eval_fused(x);
  // x is (B, N, D); every tensor below is (B, N, D).
  const Tensor& h1 = norm1_->forward(x, mode);
  const Tensor& a = attn_->forward(h1, mode);
  const Tensor& a_dropped = drop_path1_->forward(a, mode);
  const Tensor& x1 = add1_.forward(x, a_dropped);
  const Tensor& h2 = norm2_->forward(x1, mode);
  const Tensor& m = mlp_->forward(h2, mode);
  const Tensor& m_dropped = drop_path2_->forward(m, mode);
  return add2_.forward(x1, m_dropped);
}

const Tensor& TransformerBlock::forward_eval_fused(const Tensor& x) {
  // x is (B, N, D); every tensor below is (B, N, D). drop_path is the identity in eval mode.
  check_arg(!x.empty(), name_, "src is empty");
  check_f32(name_, "src", x);
  if (x.desc() != x_md_) {
    x_md_ = x.desc();
    stream_ = Tensor(x.shape());
    copy_x_ = Step{dnnl::reorder(dnnl::reorder::primitive_desc(Runtime::engine(), x_md_, Runtime::engine(),
                                                               stream_.desc())),
                   {{DNNL_ARG_TO, stream_.mem()}}};
  }
  const Tensor& h1 = norm1_->forward(x, Mode::eval);                   // checks x's shape
  if (x.mem().get_data_handle() != stream_.mem().get_data_handle()) {  // x is not our own last output
    copy_x_.args[DNNL_ARG_FROM] = x.mem();
    copy_x_.run();  // stream_ = x
  }
  attn_->forward_accumulate(h1, stream_);  // stream_ = x1 = x + attn(h1)
  const Tensor& h2 = norm2_->forward(stream_, Mode::eval);
  mlp_->forward_accumulate(h2, stream_);  // stream_ = x1 + mlp(h2)
  fused_ran_ = true;
  return stream_;
}

const Tensor& TransformerBlock::backward(const Tensor& diff_dst) {
  // diff_dst is (B, N, D); every tensor below is (B, N, D).
  const Tensor& d_x1_res = add2_.backward(diff_dst);  // reaches x1 and the MLP branch alike
  const Tensor& d_m = drop_path2_->backward(d_x1_res);
  const Tensor& d_h2 = mlp_->backward(d_m);
  const Tensor& d_x1_branch = norm2_->backward(d_h2);
  const Tensor& d_x1 = sum2_.forward(d_x1_res, d_x1_branch);
  const Tensor& d_x_res = add1_.backward(d_x1);  // reaches x and the attention branch alike
  const Tensor& d_a = drop_path1_->backward(d_x_res);
  const Tensor& d_h1 = attn_->backward(d_a);
  const Tensor& d_x_branch = norm1_->backward(d_h1);
  return sum1_.forward(d_x_res, d_x_branch);
}

}  // namespace vb
