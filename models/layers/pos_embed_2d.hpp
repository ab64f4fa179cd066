// 2-D position tables for a (1 + Gh*Gw)-token sequence (cls token first, patches row-major), added to the
// tokens and broadcast over the batch:
//   learned: ViT paper D.4, tables X (Gw, D/2) and Y (Gh, D/2); the patch at column x, row y (token
//            1 + y*Gw + x) gets concat(X[x], Y[y]), the cls token its own learned row.
//   sincos:  MAE's fixed get_2d_sincos_pos_embed (no parameters, zero cls row), as
//   tests/parity/torch_models.py.
// The (1, N+1, D) table is assembled on the host (N*D values, cheap next to the add) into an owned
// LearnedPosEmbed, which does the broadcast add and the batch sum of the gradient; backward folds that into
// X, Y and cls.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/core/layer.hpp"
#include "models/layers/pos_embed.hpp"

namespace vb {

class PosEmbed2d : public Layer {
 public:
  enum class Kind { learned, sincos };
  struct Config {
    int64_t grid_h = 0, grid_w = 0;  // Gh, Gw patches
    int64_t dim = 0;                 // D: even for learned, a multiple of 4 for sincos
    Kind kind = Kind::learned;
  };

  // learned: parameters pos_embed_x (1, Gw, D/2), pos_embed_y (1, Gh, D/2), pos_embed_cls (1, 1, D), no
  // weight decay, initially zero. timm keeps them at the model root, so the layer is usually named "": the
  // state_dict key is name.empty() ? p.name : name + "." + p.name.
  PosEmbed2d(std::string name, Config cfg);

  // src is (B, 1 + Gh*Gw, D) f32, any layout; dst = src + table in src's layout.
  const Tensor& forward(const Tensor& src, Mode mode) override;
  // diff_dst is (B, 1 + Gh*Gw, D), any layout; returns diff_src = diff_dst in src's layout; writes the
  // grads (learned): X[x] gets the sum over rows y of the first D/2 of token (1 + y*Gw + x) summed over
  // the batch, Y[y] the sum over columns x of the last D/2, cls row 0.
  const Tensor& backward(const Tensor& diff_dst) override;
  std::vector<Param*> params() override;  // learned: pos_embed_x, pos_embed_y, pos_embed_cls; sincos: none

  const Config& config() const { return cfg_; }
  // The (1, 1 + Gh*Gw, D) table of the last forward (sincos: from construction on), plain f32.
  const Tensor& table() const { return table_->value; }

 private:
  std::string label() const { return name_.empty() ? "pos_embed_2d" : name_; }

  Config cfg_;
  Param x_, y_, cls_;                     // learned only
  std::unique_ptr<LearnedPosEmbed> add_;  // holds the assembled table (its param is internal)
  Param* table_ = nullptr;                // add_'s table (1, 1 + Gh*Gw, D)
};

}  // namespace vb
