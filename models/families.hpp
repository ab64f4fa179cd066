// Constructors of the three model families (models/resnet.cpp, vit.cpp, tnt.cpp); use create_model().
#pragma once

#include <memory>

#include "models/model.hpp"

namespace vb {

std::unique_ptr<Model> make_resnet(const ModelConfig& cfg);
std::unique_ptr<Model> make_vit(const ModelConfig& cfg);
std::unique_ptr<Model> make_tnt(const ModelConfig& cfg);

}  // namespace vb
