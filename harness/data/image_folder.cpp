// Image folders (torchvision's ImageFolder layout), decoded once and cached. (Being written.)
#include <stdexcept>

#include "harness/data/sources.hpp"

namespace vb::data {

Dataset load_image_folder(const std::filesystem::path& root, const DatasetOptions&) {
  throw std::runtime_error(root.string() + ": image folders are not implemented yet");
}
std::filesystem::path cache_dir(const DatasetOptions& opt) { return opt.cache_dir; }
int64_t folder_decode_count() { return 0; }

}  // namespace vb::data
