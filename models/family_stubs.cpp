// Stand-ins for family constructors whose file is not in the build (only with VITBENCH_DEV_FILTER, which
// compiles a subset of the sources; CMakeLists.txt defines VITBENCH_STUB_<family> for each missing one).
#include <stdexcept>

#include "models/families.hpp"

namespace vb {

#ifdef VITBENCH_STUB_resnet
std::unique_ptr<Model> make_resnet(const ModelConfig& cfg) { throw std::logic_error(cfg.name + ": resnet is not in this build"); }
#endif
#ifdef VITBENCH_STUB_vit
std::unique_ptr<Model> make_vit(const ModelConfig& cfg) { throw std::logic_error(cfg.name + ": vit is not in this build"); }
#endif
#ifdef VITBENCH_STUB_tnt
std::unique_ptr<Model> make_tnt(const ModelConfig& cfg) { throw std::logic_error(cfg.name + ": tnt is not in this build"); }
#endif

}  // namespace vb
