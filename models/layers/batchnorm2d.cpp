// BatchNorm2d: batch_normalization forward_training (use_scale | use_shift) + the running averages updated by
// a host loop over the C channels (a oneDNN `sum` per update cost an OpenMP region each: two per layer and
// step, 10% of ResNet-w16's training step on 2 threads in a busy-machine profile, for a few hundred floats),
// forward_inference with use_global_stats for eval, and prop_kind::backward for diff_src, diff_scale and
// diff_shift. With Config::fuse_relu every one of them carries fuse_norm_relu: the training forwards write
// the ReLU mask as oneDNN's workspace and the backward reads it (unless only the reference implementation has
// the fusion: then a separate ReLU follows the norm).
#include "models/layers/batchnorm2d.hpp"

#include <fmt/format.h>

#include <stdexcept>
#include <string_view>

namespace vb {

using dnnl::memory;
using dnnl::normalization_flags;
using dnnl::prop_kind;

namespace {

const auto kAffine = normalization_flags::use_scale | normalization_flags::use_shift;

// dst = a * dst + b * src over C floats, in place on dst (plain f32 vectors).
void blend_in_place(const Tensor& dst, float a, const Tensor& src, float b) {
  float* d = dst.data();  // data() marks dst changed (its version), so what is cached from it is redone
  const float* x = src.data();
  for (int64_t i = 0, n = dst.numel(); i < n; ++i) d[i] = a * d[i] + b * x[i];
}

// oneDNN's workspace of a forward pd (fuse_relu: the ReLU mask), or an empty memory when it has none.
memory workspace_for(const memory::desc& md) {
  return md.is_zero() ? memory() : memory(md, Runtime::engine());
}

// oneDNN's reference implementations ("ref:any", "bnorm_ref:any", ...) are plain C++ loops, far slower than
// its JIT ones.
bool is_reference(const dnnl::primitive_desc_base& pd) {
  return std::string_view(pd.impl_info_str()).find("ref") != std::string_view::npos;
}

}  // namespace

normalization_flags BatchNorm2d::flags(bool global_stats) const {
  auto f = kAffine;
  if (global_stats) f = f | normalization_flags::use_global_stats;
  if (fused_) f = f | normalization_flags::fuse_norm_relu;
  return f;
}

BatchNorm2d::BatchNorm2d(std::string name, Config cfg) : Layer(std::move(name)), cfg_(cfg) {
  check_arg(cfg_.channels > 0, name_, fmt::format("channels must be positive, given {}", cfg_.channels));
  check_arg(cfg_.eps >= 0, name_, fmt::format("eps must be >= 0, given {}", cfg_.eps));
  check_arg(cfg_.momentum >= 0 && cfg_.momentum <= 1, name_,
            fmt::format("momentum must be in [0, 1], given {}", cfg_.momentum));
  const Dims c{cfg_.channels};
  weight = Param{"weight", Tensor::from(c, std::vector<float>(cfg_.channels, 1.0f)), Tensor(c), false};
  bias = Param{"bias", Tensor(c), Tensor(c), false};
  weight.init = Init::constant(1.0);  // PyTorch's start: the identity affine map
  bias.init = Init::constant(0.0);
  running_mean = Tensor(c);
  running_var = Tensor::from(c, std::vector<float>(cfg_.channels, 1.0f));
}

std::vector<StateEntry> BatchNorm2d::buffers() {
  return {{.key = "running_mean", .buffer = &running_mean, .init = Init::constant(0.0)},
          {.key = "running_var", .buffer = &running_var, .init = Init::constant(1.0)},
          {.key = "num_batches_tracked", .counter = &num_batches_tracked}};
}

void BatchNorm2d::setup(const memory::desc& src_md) {
  // src and dst are (N, C, H, W) in the layout of src; mean and variance are (C)
  const auto training_pd = [&] {
    const dnnl::batch_normalization_forward::desc desc(prop_kind::forward_training, src_md, cfg_.eps,
                                                       flags(false));
    return dnnl::batch_normalization_forward::primitive_desc(desc, Runtime::engine());
  };
  fused_ = cfg_.fuse_relu;
  train_pd_ = training_pd();
  if (fused_ && is_reference(train_pd_)) {  // the fused norm has no JIT here: does the plain one?
    fused_ = false;
    const auto plain = training_pd();
    if (is_reference(plain)) {
      fused_ = true;  // no JIT either way: one reference pass beats two
    } else {
      train_pd_ = plain;
    }
  }
  relu_ =
      cfg_.fuse_relu && !fused_ ? std::make_unique<ReLU>(name_ + ".relu", ReLU::Config{cfg_.dtype}) : nullptr;
  src_md_ = src_md;
  dst_ = Tensor(train_pd_.dst_desc());
  mean_ = Tensor(train_pd_.mean_desc());
  variance_ = Tensor(train_pd_.variance_desc());
  train_ =
      Step{dnnl::batch_normalization_forward(train_pd_),
           {{DNNL_ARG_DST, dst_.mem()}, {DNNL_ARG_MEAN, mean_.mem()}, {DNNL_ARG_VARIANCE, variance_.mem()}}};
  workspace_ = workspace_for(train_pd_.workspace_desc());
  if (fused_) train_.args[DNNL_ARG_WORKSPACE] = workspace_;

  // oneDNN's variance is the biased one (divided by n); PyTorch's running_var takes the unbiased one.
  const Dims d = src_md.dims();
  const double n = static_cast<double>(d[0] * d[2] * d[3]);
  const float m = cfg_.momentum;
  keep_ = 1 - m;
  mean_weight_ = m;
  var_weight_ = static_cast<float>(m * n / (n - 1));

  eval_.reset();
  frozen_step_.reset();
  saved_ = false;
  bwd_built_ = false;
}

void BatchNorm2d::freeze_stats(bool on) {
  if (on == frozen_) return;
  frozen_ = on;
  saved_ = false;
  bwd_built_ = false;
}

void BatchNorm2d::sync_stats(bool on, CrossRankSum* sum) {
  sync_ = on ? std::make_unique<BatchNormSync>(name_, cfg_.channels, cfg_.eps, cfg_.momentum, sum) : nullptr;
  saved_ = false;
  bwd_built_ = false;
}

void BatchNorm2d::setup_frozen() {
  const dnnl::batch_normalization_forward::desc desc(prop_kind::forward_training, src_md_, cfg_.eps,
                                                     flags(true));
  frozen_pd_ = dnnl::batch_normalization_forward::primitive_desc(desc, Runtime::engine());
  frozen_step_ = Step{dnnl::batch_normalization_forward(frozen_pd_), {{DNNL_ARG_DST, dst_.mem()}}};
  frozen_workspace_ = workspace_for(frozen_pd_.workspace_desc());
  if (fused_) frozen_step_->args[DNNL_ARG_WORKSPACE] = frozen_workspace_;
}

void BatchNorm2d::setup_eval() {
  const dnnl::batch_normalization_forward::desc desc(prop_kind::forward_inference, src_md_, cfg_.eps,
                                                     flags(true));
  const dnnl::batch_normalization_forward::primitive_desc pd(desc, Runtime::engine());
  eval_ = Step{dnnl::batch_normalization_forward(pd), {{DNNL_ARG_DST, dst_.mem()}}};
}

const Tensor& BatchNorm2d::forward(const Tensor& src, Mode mode) {
  check_rank(name_, "src", 4, src);
  check_dtype(name_, "src", src, cfg_.dtype);
  check_shape(name_, "src", {src.dim(0), cfg_.channels, src.dim(2), src.dim(3)}, src.shape());
  if (src.desc() != src_md_) setup(src.desc());

  if (mode == Mode::train && frozen_) {
    if (!frozen_step_) setup_frozen();
    frozen_step_->args[DNNL_ARG_SRC] = src.mem();
    frozen_step_->args[DNNL_ARG_MEAN] = running_mean.mem();
    frozen_step_->args[DNNL_ARG_VARIANCE] = running_var.mem();
    frozen_step_->args[DNNL_ARG_SCALE] = weight.value.mem();
    frozen_step_->args[DNNL_ARG_SHIFT] = bias.value.mem();
    frozen_step_->run();
    src_saved_ = src.mem();
    saved_ = true;
  } else if (mode == Mode::train && sync_) {
    // This rank's statistics (dst_ written and discarded), replaced by the global batch's, which normalise.
    train_.args[DNNL_ARG_SRC] = src.mem();
    train_.args[DNNL_ARG_SCALE] = weight.value.mem();
    train_.args[DNNL_ARG_SHIFT] = bias.value.mem();
    train_.run();
    sync_->global_statistics(mean_, variance_, src.dim(0) * src.dim(2) * src.dim(3), running_mean,
                             running_var);
    if (!frozen_step_) setup_frozen();
    frozen_step_->args[DNNL_ARG_SRC] = src.mem();
    frozen_step_->args[DNNL_ARG_MEAN] = mean_.mem();
    frozen_step_->args[DNNL_ARG_VARIANCE] = variance_.mem();
    frozen_step_->args[DNNL_ARG_SCALE] = weight.value.mem();
    frozen_step_->args[DNNL_ARG_SHIFT] = bias.value.mem();
    frozen_step_->run();
    ++num_batches_tracked;
    src_saved_ = src.mem();
    saved_ = true;
  } else if (mode == Mode::train) {
    check_arg(
        src.dim(0) * src.dim(2) * src.dim(3) > 1, name_,
        fmt::format("training needs more than 1 value per channel, given src {}", to_string(src.shape())));
    train_.args[DNNL_ARG_SRC] = src.mem();
    train_.args[DNNL_ARG_SCALE] = weight.value.mem();
    train_.args[DNNL_ARG_SHIFT] = bias.value.mem();
    train_.run();
    blend_in_place(running_mean, keep_, mean_, mean_weight_);
    blend_in_place(running_var, keep_, variance_, var_weight_);
    ++num_batches_tracked;
    src_saved_ = src.mem();
    saved_ = true;
  } else {
    if (!eval_) setup_eval();
    eval_->args[DNNL_ARG_SRC] = src.mem();
    eval_->args[DNNL_ARG_MEAN] = running_mean.mem();
    eval_->args[DNNL_ARG_VARIANCE] = running_var.mem();
    eval_->args[DNNL_ARG_SCALE] = weight.value.mem();
    eval_->args[DNNL_ARG_SHIFT] = bias.value.mem();
    eval_->run();
    saved_ = false;
  }
  return relu_ ? relu_->forward(dst_, mode) : dst_;
}

void BatchNorm2d::setup_backward() {
  // Frozen and synced statistics are constants to oneDNN (sync adds the terms through them afterwards).
  const bool given = frozen_ || sync_;
  const dnnl::batch_normalization_backward::desc desc(prop_kind::backward, src_md_, src_md_, cfg_.eps,
                                                      flags(given));
  const dnnl::batch_normalization_backward::primitive_desc pd(desc, Runtime::engine(),
                                                              given ? frozen_pd_ : train_pd_);
  bwd_built_ = true;
  diff_dst_reorder_ = InputReorder(pd.diff_dst_desc());
  diff_src_ = Tensor(pd.diff_src_desc());
  bwd_ = Step{dnnl::batch_normalization_backward(pd),
              {{DNNL_ARG_MEAN, mean_.mem()},
               {DNNL_ARG_VARIANCE, variance_.mem()},
               {DNNL_ARG_DIFF_SRC, diff_src_.mem()}}};
  // The ReLU mask of the forward the backward follows (the hint's workspace).
  if (fused_) bwd_.args[DNNL_ARG_WORKSPACE] = given ? frozen_workspace_ : workspace_;
}

const Tensor& BatchNorm2d::backward(const Tensor& diff_dst) {
  if (!saved_)
    throw std::logic_error(fmt::format("{}: backward needs a forward in Mode::train first", name_));
  check_rank(name_, "diff_dst", 4, diff_dst);
  check_dtype(name_, "diff_dst", diff_dst, cfg_.dtype);
  check_shape(name_, "diff_dst", dst_.shape(), diff_dst.shape());
  if (!bwd_built_) setup_backward();
  const Tensor& diff_norm = relu_ ? relu_->backward(diff_dst) : diff_dst;  // the norm's output gradient
  bwd_.args[DNNL_ARG_SRC] = src_saved_;
  if (frozen_) {  // constants: the running statistics the forward used
    bwd_.args[DNNL_ARG_MEAN] = running_mean.mem();
    bwd_.args[DNNL_ARG_VARIANCE] = running_var.mem();
  }
  bwd_.args[DNNL_ARG_DIFF_DST] = diff_dst_reorder_(diff_norm.mem());
  bwd_.args[DNNL_ARG_SCALE] = weight.value.mem();
  bwd_.args[DNNL_ARG_SHIFT] = bias.value.mem();  // oneDNN 2.x lists shift as a backward input with use_shift
  bwd_.args[DNNL_ARG_DIFF_SCALE] = weight.grad.mem();
  bwd_.args[DNNL_ARG_DIFF_SHIFT] = bias.grad.mem();
  bwd_.run();
  if (sync_ && !frozen_)
    return sync_->diff_src(src_saved_, diff_src_, mean_, variance_, weight.value, weight.grad, bias.grad);
  return diff_src_;
}

}  // namespace vb
