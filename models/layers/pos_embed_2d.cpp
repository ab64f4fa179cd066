// PosEmbed2d: host loops assemble the table from X, Y and cls before each forward (the params may have been
// updated) and fold the table gradient back after each backward; the add and the batch sum are
// LearnedPosEmbed's.
#include "models/layers/pos_embed_2d.hpp"

#include <fmt/format.h>

#include <cmath>

#include "models/layers/pos_embed.hpp"

namespace vb {

PosEmbed2d::PosEmbed2d(std::string name, Config cfg) : Layer(std::move(name)), cfg_(cfg) {
  const int64_t Gh = cfg_.grid_h, Gw = cfg_.grid_w, D = cfg_.dim;
  check_arg(Gh > 0 && Gw > 0 && D > 0, label(),
            fmt::format("grid_h, grid_w and dim must be positive, given {}, {}, {}", Gh, Gw, D));
  if (cfg_.kind == Kind::learned) {
    check_arg(D % 2 == 0, label(), fmt::format("learned 2-D tables need an even dim, given {}", D));
    x_ = Param{"pos_embed_x", Tensor({1, Gw, D / 2}), Tensor({1, Gw, D / 2}), false};
    y_ = Param{"pos_embed_y", Tensor({1, Gh, D / 2}), Tensor({1, Gh, D / 2}), false};
    cls_ = Param{"pos_embed_cls", Tensor({1, 1, D}), Tensor({1, 1, D}), false};
    for (Param* p : {&x_, &y_, &cls_}) p->init = Init::trunc_normal(0.02, -2.0, 2.0);  // as timm's pos_embed
  } else {
    check_arg(D % 4 == 0, label(), fmt::format("sincos 2-D tables need dim % 4 == 0, given {}", D));
  }
  add_ =
      std::make_unique<LearnedPosEmbed>(label(), LearnedPosEmbed::Config{{1, 1 + Gh * Gw, D}, "pos_embed"});
  table_ = add_->params()[0];
  if (cfg_.kind == Kind::sincos) {
    // table[1 + y*Gw + x] = [sin(x w_k), cos(x w_k) | sin(y w_k), cos(y w_k)], w_k = 10000^(-k/(D/4)), k <
    // D/4.
    const int64_t Q = D / 4;
    std::vector<float> t((1 + Gh * Gw) * D, 0.f);  // row 0 (cls) stays zero
    for (int64_t y = 0; y < Gh; ++y)
      for (int64_t x = 0; x < Gw; ++x) {
        float* row = t.data() + (1 + y * Gw + x) * D;
        for (int64_t k = 0; k < Q; ++k) {
          const double omega = 1.0 / std::pow(10000.0, static_cast<double>(k) / static_cast<double>(Q));
          row[k] = static_cast<float>(std::sin(x * omega));
          row[Q + k] = static_cast<float>(std::cos(x * omega));
          row[2 * Q + k] = static_cast<float>(std::sin(y * omega));
          row[3 * Q + k] = static_cast<float>(std::cos(y * omega));
        }
      }
    table_->value.assign(t);
  }
}

std::vector<Param*> PosEmbed2d::params() {
  if (cfg_.kind == Kind::sincos) return {};
  return {&x_, &y_, &cls_};
}

const Tensor& PosEmbed2d::forward(const Tensor& src, Mode mode) {
  // src is (B, 1 + Gh*Gw, D); dst the same.
  if (cfg_.kind == Kind::learned) {
    // table (1, 1 + Gh*Gw, D): row 0 = cls, row 1 + y*Gw + x = concat(X[x], Y[y]).
    const int64_t Gh = cfg_.grid_h, Gw = cfg_.grid_w, D = cfg_.dim, half = D / 2;
    Runtime::wait();  // the previous forward's add may still read the table
    float* t = table_->value.data();
    const float* X = x_.value.data();
    const float* Y = y_.value.data();
    const float* cls = cls_.value.data();
    for (int64_t d = 0; d < D; ++d) t[d] = cls[d];
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < Gh * Gw; ++p) {
      const int64_t y = p / Gw, x = p % Gw;
      float* row = t + (1 + p) * D;
      for (int64_t d = 0; d < half; ++d) row[d] = X[x * half + d];
      for (int64_t d = 0; d < half; ++d) row[half + d] = Y[y * half + d];
    }
  }
  return add_->forward(src, mode);
}

const Tensor& PosEmbed2d::backward(const Tensor& diff_dst) {
  // diff_dst is (B, 1 + Gh*Gw, D); diff_src the same.
  const Tensor& diff_src = add_->backward(diff_dst);  // writes the table's grad (1, 1 + Gh*Gw, D)
  if (cfg_.kind == Kind::learned) {
    const int64_t Gh = cfg_.grid_h, Gw = cfg_.grid_w, D = cfg_.dim, half = D / 2;
    Runtime::wait();
    const float* g = table_->grad.data();
    float* gx = x_.grad.data();
    float* gy = y_.grad.data();
    float* gcls = cls_.grad.data();
    for (int64_t d = 0; d < D; ++d) gcls[d] = g[d];
      // X[x] = sum over y of the first half of row 1 + y*Gw + x; Y[y] = sum over x of the last half.
#pragma omp parallel for schedule(static)
    for (int64_t x = 0; x < Gw; ++x)
      for (int64_t d = 0; d < half; ++d) {
        double s = 0;
        for (int64_t y = 0; y < Gh; ++y) s += g[(1 + y * Gw + x) * D + d];
        gx[x * half + d] = static_cast<float>(s);
      }
#pragma omp parallel for schedule(static)
    for (int64_t y = 0; y < Gh; ++y)
      for (int64_t d = 0; d < half; ++d) {
        double s = 0;
        for (int64_t x = 0; x < Gw; ++x) s += g[(1 + y * Gw + x) * D + half + d];
        gy[y * half + d] = static_cast<float>(s);
      }
  }
  return diff_src;
}

}  // namespace vb
