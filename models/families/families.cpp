// The one list of model families (see families.hpp).
#include "models/families/families.hpp"

#include <stdexcept>

namespace vb {

const std::vector<FamilyInfo>& families() {
  static const std::vector<FamilyInfo> list{resnet_family(), vit_family(), tnt_family()};
  return list;
}

const FamilyInfo& family_info(Family f) {
  for (const FamilyInfo& fam : families())
    if (fam.id == f) return fam;
  throw std::logic_error(std::string("family ") + to_string(f) +
                         " is not registered in models/families/families.cpp");
}

}  // namespace vb
