// The model families, registered in one explicit list (families.cpp): each family's folder provides its
// constructor, presets and cost table, and its models describe their own taps (Model::tap_info()). Adding a
// family is a folder under models/families/ and one line in that list.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/cost.hpp"
#include "models/model.hpp"

namespace vb {

struct FamilyInfo {
  Family id;
  std::unique_ptr<Model> (*make)(const ModelConfig&);      // checks the config, naming the bad field
  std::vector<ModelConfig> (*presets)();                   // timm's names, in the family's order
  std::vector<CostRow> (*cost_table)(const ModelConfig&);  // per stage/block, from the config alone
  // The ModelConfig fields (config_fields.hpp names) this family reads beyond the common ones, in the order
  // records and `vitbench models` show them; `headline` ones appear in the `models` listing.
  std::vector<std::string> fields;
  std::vector<std::string> headline;
};

// Every family, in the order `vitbench models` lists them.
const std::vector<FamilyInfo>& families();
const FamilyInfo& family_info(Family f);

// Each family's entry (its folder's family.cpp) and constructor (its model file).
FamilyInfo resnet_family();
FamilyInfo vit_family();
FamilyInfo tnt_family();
std::unique_ptr<Model> make_resnet(const ModelConfig& cfg);
std::unique_ptr<Model> make_vit(const ModelConfig& cfg);
std::unique_ptr<Model> make_tnt(const ModelConfig& cfg);

}  // namespace vb
