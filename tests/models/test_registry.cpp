// The preset registry: every preset's parameter count is recorded here (REFERENCE.md for the 224 presets),
// so a preset added or changed without updating this table fails; overrides and unknown names.
#include <catch2/catch.hpp>
#include <map>

#include "models/config.hpp"
#include "models/cost.hpp"
#include "models/model.hpp"

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
  const std::map<std::string, double> gmacs{{"resnet50", 4.1}, {"vit_small_patch16_224", 4.6},
                                            {"tnt_s_patch16_224", 5.2}, {"vit_base_patch16_224", 17.6},
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
  CHECK_THROWS_WITH(apply_override(c, "pos_embed=3d"), Catch::Contains("learned_1d") && Catch::Contains("3d"));
  CHECK_THROWS_WITH(apply_override(c, "depht=3"), Catch::Contains("unknown field 'depht'"));
  CHECK_THROWS_WITH(apply_override(c, "depth=-1"), Catch::Contains("positive integer"));
  CHECK_THROWS_WITH(apply_override(c, "depth"), Catch::Contains("field=value"));
  CHECK_THROWS_WITH(apply_override(r, "layers=1,2"), Catch::Contains("4 stage depths"));
  CHECK_THROWS_WITH(preset("vit_huge"), Catch::Contains("unknown model 'vit_huge'") && Catch::Contains("resnet50"));
}

TEST_CASE("every preset builds a model whose state has the recorded parameter count", "[registry][model]") {
  for (const auto& name : preset_names()) {
    INFO(name);
    CHECK(create_model(preset(name))->num_params() == kParams.at(name));
  }
}
