// The preset registry, tests generated from it (timm's test_models.py): every preset's parameter count is
// recorded here (REFERENCE.md for the 224 presets), so a preset added or changed without updating this table
// fails; every preset builds, runs forward and backward, and every parameter gets a finite gradient; its
// geometry names its taps; overrides and unknown names.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <map>

#include "models/config.hpp"
#include "models/config_fields.hpp"
#include "models/cost.hpp"
#include "models/model.hpp"
#include "tests/support/check.hpp"
#include "tests/support/counter_weights.hpp"

using namespace vb;

namespace {
// name -> parameter count. 224 presets: REFERENCE.md (torchvision/timm). Small presets: recorded from
// tests/parity/torch_models.py.
const std::map<std::string, int64_t> kParams{
    {"resnet50", 25'557'032},
    {"vit_tiny_patch16_224", 5'717'416},
    {"vit_small_patch16_224", 22'050'664},
    {"vit_base_patch16_224", 86'567'656},
    {"tnt_s_patch16_224", 23'768'584},
    {"tnt_b_patch16_224", 65'428'680},
    {"resnet50_32", 23'520'842},
    {"resnet50_w16_32", 1'484'186},
    {"vit_tiny_patch4_32", 2'697'610},
    {"tnt_tiny_patch8_32", 3'062'074},
};
}  // namespace

TEST_CASE("every preset has a recorded parameter count and the cost table matches it", "[registry]") {
  for (const auto& name : preset_names()) {
    INFO(name);
    REQUIRE(kParams.count(name) == 1);
    CHECK(total_params(cost_table(preset(name))) == kParams.at(name));
  }
  CHECK(kParams.size() == preset_names().size());
}

TEST_CASE("MACs of the 224 presets match the papers (multiply-adds, one image)", "[registry]") {
  // TNT paper Table 4: ResNet-50 4.1G, DeiT-S 4.6G, TNT-S 5.2G; DeiT-B / ViT-B/16 17.6G; DeiT-Ti 1.3G.
  const std::map<std::string, double> gmacs{{"resnet50", 4.1},
                                            {"vit_small_patch16_224", 4.6},
                                            {"tnt_s_patch16_224", 5.2},
                                            {"vit_base_patch16_224", 17.6},
                                            {"vit_tiny_patch16_224", 1.3}};
  for (const auto& [name, g] : gmacs) {
    INFO(name);
    CHECK(total_macs(cost_table(preset(name))) / 1e9 == Approx(g).epsilon(0.05));
  }
}

TEST_CASE("overrides change fields and reject bad input clearly", "[registry]") {
  ModelConfig c = preset("vit_tiny_patch4_32");
  apply_override(c, "pos_embed=learned_2d");
  CHECK(c.pos_embed == PosEmbed::learned_2d);
  apply_override(c, "depth=3");
  CHECK(c.depth == 3);
  ModelConfig r = preset("resnet50");
  apply_override(r, "layers=1,2,1,1");
  CHECK(r.layers == std::array<int64_t, 4>{1, 2, 1, 1});
  CHECK_THROWS_WITH(apply_override(c, "pos_embed=3d"),
                    Catch::Contains("learned_1d") && Catch::Contains("3d"));
  CHECK_THROWS_WITH(apply_override(c, "depht=3"), Catch::Contains("unknown field 'depht'"));
  CHECK_THROWS_WITH(apply_override(c, "depth=-1"), Catch::Contains("positive integer"));
  CHECK_THROWS_WITH(apply_override(c, "depth"), Catch::Contains("field=value"));
  CHECK_THROWS_WITH(apply_override(r, "layers=1,2"), Catch::Contains("4 stage depths"));
  CHECK_THROWS_WITH(preset("vit_huge"),
                    Catch::Contains("unknown model 'vit_huge'") && Catch::Contains("resnet50"));
}

TEST_CASE("every preset builds a model whose state has the recorded parameter count", "[registry][model]") {
  for (const auto& name : preset_names()) {
    INFO(name);
    CHECK(create_model(preset(name))->num_params() == kParams.at(name));
  }
}

// Counter weights (no zero-initialised head or gamma that would stop the gradient), one train-mode forward of
// a random batch, a random upstream gradient, one backward: every logit finite, the geometry matching the
// taps and attention layers, every parameter's gradient finite and not identically zero. Batch 2; the 224
// presets at 32 px (2x2 patches; ResNet-50's last BatchNorms normalise 2 values per channel, enough for a
// gradient).
TEST_CASE("every preset runs forward and backward, and every parameter gets a finite gradient",
          "[registry][model]") {
  for (const auto& name : preset_names()) {
    INFO(name);
    ModelConfig cfg = preset(name);
    cfg.img_size =
        std::min<int64_t>(cfg.img_size, 32);  // every width, depth and head of the preset, 50x less compute
    auto model = create_model(cfg);
    for (StateEntry& e : model->state()) {
      const Dims shape = e.shape();
      if (e.param) e.param->value.assign(test::counter_weights(7, e.key, shape));
      if (e.buffer) e.buffer->assign(test::counter_weights(7, e.key, shape));
    }
    const int64_t B = 2, S = cfg.img_size;
    const Tensor x = test::tensor({B, cfg.in_chans, S, S}, test::random_vec(B * cfg.in_chans * S * S, 11));
    const auto logits = model->forward(x, Mode::train).to_vector();
    REQUIRE(static_cast<int64_t>(logits.size()) == B * cfg.num_classes);
    CHECK(std::all_of(logits.begin(), logits.end(), [](float v) { return std::isfinite(v); }));
    // The geometry (Model::tap_info) names the model's taps and attention layers, with their token counts.
    const rf::TapInfo info = model->tap_info();
    const auto taps = model->taps();
    REQUIRE(info.taps.size() == taps.size());
    for (size_t i = 0; i < taps.size(); ++i) CHECK(info.taps[i].name == taps[i]);
    const auto probs = model->attention_probs();
    REQUIRE(info.attention.size() == probs.size());
    for (size_t a = 0; a < probs.size(); ++a) {
      CHECK(info.attention[a].name == probs[a].first);
      CHECK(probs[a].second->dim(2) ==
            info.attention[a].prefix + info.attention[a].side * info.attention[a].side);
    }
    model->backward(test::tensor({B, cfg.num_classes}, test::random_vec(B * cfg.num_classes, 12)));
    for (Param* p : model->params()) {
      INFO(p->name);
      const auto g = p->grad.to_vector();
      REQUIRE(g.size() == static_cast<size_t>(p->value.numel()));
      CHECK(std::all_of(g.begin(), g.end(), [](float v) { return std::isfinite(v); }));
      CHECK(std::any_of(g.begin(), g.end(), [](float v) { return v != 0.f; }));
    }
  }
}

// Model::pos_tables() is what a checkpoint trained at another grid gets resampled by: each declared table is
// a parameter of the model shaped as its geometry says, and every learned table is declared (ViT learned_1d:
// 1, learned_2d: pos_embed_x and _y; TNT tnt_pos both: patch_pos and pixel_pos). Small presets, every ViT
// option.
TEST_CASE("every learned position table is declared with its geometry", "[registry][model]") {
  for (const auto& name : preset_names()) {
    const ModelConfig base = preset(name);
    if (base.img_size > 32) continue;
    std::vector<ModelConfig> variants{base};
    if (base.family == Family::vit) {
      variants.clear();
      for (PosEmbed p : {PosEmbed::none, PosEmbed::learned_1d, PosEmbed::learned_2d, PosEmbed::sincos_2d}) {
        ModelConfig c = base;
        c.pos_embed = p;
        variants.push_back(c);
      }
    }
    for (const ModelConfig& cfg : variants) {
      INFO(name << " pos_embed " << to_string(cfg.pos_embed) << " tnt_pos " << to_string(cfg.tnt_pos));
      auto model = create_model(cfg);
      const auto state = model->state();
      const auto tables = model->pos_tables();
      size_t expected = 0;
      if (cfg.family == Family::vit)
        expected = cfg.pos_embed == PosEmbed::learned_1d ? 1 : cfg.pos_embed == PosEmbed::learned_2d ? 2 : 0;
      if (cfg.family == Family::tnt)
        expected = cfg.tnt_pos == TntPos::both ? 2 : cfg.tnt_pos == TntPos::none ? 0 : 1;
      CHECK(tables.size() == expected);
      for (const PosTable& t : tables) {
        INFO(t.key);
        const auto it =
            std::find_if(state.begin(), state.end(), [&](const StateEntry& e) { return e.key == t.key; });
        REQUIRE(it != state.end());
        REQUIRE(it->param != nullptr);
        const Dims s = it->shape();
        if (t.channels_first) {
          REQUIRE(s.size() == 4);
          CHECK((s[2] == t.grid_h && s[3] == t.grid_w));
        } else {
          REQUIRE(s.size() == 3);
          CHECK(s[1] == t.prefix + t.grid_h * t.grid_w);
        }
      }
    }
  }
}

TEST_CASE("the JSON of every preset reads back into the same config", "[registry]") {
  for (const auto& name : preset_names()) {
    INFO(name);
    const nlohmann::json j = to_json(preset(name));
    ModelConfig back;  // defaults: the JSON must carry every field in which the preset differs
    back.name = preset(name).name, back.family = preset(name).family;
    apply_json(back, j);
    CHECK(to_json(back) == j);
  }
  CHECK_THROWS_WITH(config_field("depht"),
                    Catch::Contains("unknown field 'depht'") && Catch::Contains("embed_dim"));
}
