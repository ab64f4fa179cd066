#include "harness/config_json.hpp"

namespace vb {

nlohmann::json to_json(const ModelConfig& c) {
  nlohmann::json j = {{"name", c.name},           {"family", to_string(c.family)}, {"img_size", c.img_size},
                      {"in_chans", c.in_chans},   {"num_classes", c.num_classes},  {"drop_path", c.drop_path}};
  if (c.family == Family::resnet) {
    j.update({{"layers", c.layers}, {"base_width", c.base_width}, {"stem", to_string(c.stem)}});
    return j;
  }
  j.update({{"patch_size", c.patch_size}, {"embed_dim", c.embed_dim}, {"depth", c.depth}, {"num_heads", c.num_heads},
            {"qkv_bias", c.qkv_bias}, {"ln_eps", c.ln_eps}});
  if (c.family == Family::vit) {
    j.update({{"mlp_dim", c.mlp_dim}, {"pos_embed", to_string(c.pos_embed)}});
  } else {
    j.update({{"mlp_ratio", c.mlp_ratio}, {"inner_dim", c.inner_dim}, {"inner_heads", c.inner_heads},
              {"inner_mlp_ratio", c.inner_mlp_ratio}, {"word_kernel", c.word_kernel}, {"word_stride", c.word_stride},
              {"word_padding", c.word_padding}, {"tnt_pos", to_string(c.tnt_pos)}});
  }
  return j;
}

}  // namespace vb
