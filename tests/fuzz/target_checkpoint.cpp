// Fuzz target for checkpoints: an HDF5 file image read in memory (H5Input's core-driver constructor), loaded
// into a tiny ViT or ResNet as `vitbench eval --weights` / `train --resume` load it, then the train_state
// reads that resume makes, and a structure-aware mutator that edits the file through the HDF5 API.
//
// What is validated before libhdf5 sees the bytes: the signature and a minimum size (H5Input), shapes and
// dtypes against the file's size before any allocation (read_as), every H5 exception turned into an error
// naming the file. A crash inside libhdf5 itself cannot be fixed here: H5Input reads every file first in a
// forked child and refuses it, naming the file, when libhdf5 crashes there (docs/reliability.md), so such
// inputs end in a clear error too and are committed to the corpus like any other crash.
#include <hdf5.h>
#include <sys/mman.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <random>

#include "harness/checkpoint.hpp"
#include "harness/child_process.hpp"
#include "harness/h5read.hpp"
#include "models/config.hpp"
#include "tests/fuzz/targets.hpp"

namespace vb::fuzz {

namespace {

constexpr const char* kName = "checkpoint.h5";

// The models the seeds were written for (tests/fuzz/make_seeds.py uses the same overrides).
Model& tiny_model(bool resnet) {
  static std::unique_ptr<Model> vit, res;
  std::unique_ptr<Model>& m = resnet ? res : vit;
  if (!m) {
    ModelConfig c = preset(resnet ? "resnet50_w16_32" : "vit_tiny_patch4_32");
    for (const char* o :
         resnet ? std::vector<const char*>{"layers=1,1,1,1", "base_width=2", "img_size=8", "num_classes=3"}
                : std::vector<const char*>{"depth=1", "embed_dim=8", "num_heads=2", "mlp_dim=16",
                                           "img_size=8", "num_classes=3"})
      apply_override(c, o);
    m = create_model(c);
  }
  return *m;
}

}  // namespace

std::string checkpoint_h5(const uint8_t* data, size_t size) {
  return expect_clear_error(kName, [&] {
    const H5Input in(data, size, kName);
    Model& model = tiny_model(in.has("conv1.weight"));
    load_checkpoint(in, model);
    // The reads `train --resume` makes of a checkpoint's train_state group (harness/train/trainer.cpp,
    // load_train_state), by the kind of each dataset there: float64 histories, int64 counters, float32
    // optimizer state; and the config attribute it compares.
    if (!in.has(std::string(kTrainStateGroup) + "/epochs_done")) return;
    // (load_train_state refuses a `config` that is not a JSON object, naming the file; tested in
    // tests/train/test_trainer.cpp. Here it is parsed the same way, so that the reads below are reached.)
    const nlohmann::json config = nlohmann::json::parse(in.root_attr("config"), nullptr, false);
    if (config.is_discarded()) return;
    for (const auto& [key, shape] : in.datasets()) {
      if (!key.starts_with(std::string(kTrainStateGroup) + "/")) continue;
      if (key.find("/optimizer/") != std::string::npos)
        (void)in.read_f32(key);
      else if (shape.empty())
        (void)in.read_i64_scalar(key);
      else
        (void)in.read_f64(key);
    }
  });
}

// --- The structure-aware mutator (see targets.hpp).

namespace {

struct Names {
  std::vector<std::string> datasets;
};

herr_t collect(hid_t, const char* name, const H5O_info_t* info, void* out) {
  if (info->type == H5O_TYPE_DATASET) static_cast<Names*>(out)->datasets.push_back(name);
  return 0;
}

// Replaces dataset `name` by one of `type` and `dims` (filled from the old values where they fit).
// The dims of dataset `name` ({} if it cannot be opened).
std::vector<hsize_t> dims_of(hid_t file, const std::string& name) {
  std::vector<hsize_t> dims;
  if (hid_t d = H5Dopen2(file, name.c_str(), H5P_DEFAULT); d >= 0) {
    const hid_t space = H5Dget_space(d);
    dims.resize(std::max(H5Sget_simple_extent_ndims(space), 0));
    H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    H5Sclose(space);
    H5Dclose(d);
  }
  return dims;
}

void recreate(hid_t file, const std::string& name, hid_t type, const std::vector<hsize_t>& dims) {
  std::vector<double> old;
  if (hid_t d = H5Dopen2(file, name.c_str(), H5P_DEFAULT); d >= 0) {
    const hid_t space = H5Dget_space(d);
    const hssize_t n = H5Sget_simple_extent_npoints(space);
    if (n > 0 && n < (1 << 20)) {
      old.resize(static_cast<size_t>(n));
      if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, old.data()) < 0) old.clear();
    }
    H5Sclose(space);
    H5Dclose(d);
    H5Ldelete(file, name.c_str(), H5P_DEFAULT);
  }
  const hid_t space = dims.empty() ? H5Screate(H5S_SCALAR)
                                   : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  const hid_t d = H5Dcreate2(file, name.c_str(), type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  if (d >= 0) {
    hsize_t n = 1;
    for (hsize_t x : dims) n = x > 0 && n > (1u << 20) / x ? (1u << 21) : n * x;
    if (n <= (1u << 20) &&
        H5Tget_class(type) != H5T_STRING) {  // small ones get data; huge ones stay unallocated
      std::vector<double> v(n);
      for (size_t i = 0; i < v.size(); ++i) v[i] = i < old.size() ? old[i] : static_cast<double>(i);
      H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    }
    H5Dclose(d);
  }
  H5Pclose(lcpl);
  H5Sclose(space);
}

void set_root_attr(hid_t file, const char* name, hid_t type, const void* value) {
  if (H5Aexists(file, name) > 0) H5Adelete(file, name);
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t a = H5Acreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0) {
    H5Awrite(a, type, value);
    H5Aclose(a);
  }
  H5Sclose(space);
}

void mutate(hid_t file, std::mt19937& rng) {
  Names names;
  H5Ovisit(file, H5_INDEX_NAME, H5_ITER_NATIVE, collect, &names);
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  auto pick_dataset = [&]() -> std::string {
    return names.datasets.empty() ? "extra" : names.datasets[pick(names.datasets.size())];
  };
  // Dimensions worth trying: small ones, off-by-one ones, and claims far beyond the file (never allocated).
  const hsize_t dims_pool[] = {0, 1, 2, 3, 4, 7, 8, 9, 16, 65, 1u << 16, hsize_t{1} << 31, hsize_t{1} << 40};
  auto random_dims = [&] {
    std::vector<hsize_t> dims(pick(5));
    for (hsize_t& x : dims) x = dims_pool[pick(std::size(dims_pool))];
    return dims;
  };
  const hid_t types[] = {H5T_NATIVE_FLOAT, H5T_NATIVE_DOUBLE, H5T_NATIVE_INT64, H5T_NATIVE_INT32,
                         H5T_NATIVE_UINT8, H5T_NATIVE_INT8,   H5T_C_S1};
  switch (pick(8)) {
    case 0: {  // another shape, same dtype
      const std::string name = pick_dataset();
      recreate(file, name, H5T_NATIVE_FLOAT, random_dims());
      break;
    }
    case 1: {  // one dimension off by one or swapped, the rank kept
      const std::string name = pick_dataset();
      std::vector<hsize_t> dims = dims_of(file, name);
      if (!dims.empty()) {
        hsize_t& x = dims[pick(dims.size())];
        x = pick(2) ? x + 1 : (x > 0 ? x - 1 : 0);
      }
      recreate(file, name, H5T_NATIVE_FLOAT, dims);
      break;
    }
    case 2: {  // another dtype
      const std::string name = pick_dataset();
      const std::vector<hsize_t> dims = dims_of(file, name);
      recreate(file, name, types[pick(std::size(types))], dims);
      break;
    }
    case 3:  // a key missing
      H5Ldelete(file, pick_dataset().c_str(), H5P_DEFAULT);
      break;
    case 4: {  // an extra key, at the root or in train_state
      const char* where[] = {"extra.weight", "train_state/extra", "train_state/optimizer/extra",
                             "blocks.9.norm1.weight"};
      recreate(file, where[pick(std::size(where))], types[pick(std::size(types))], random_dims());
      break;
    }
    case 5: {  // two keys swapped
      const std::string a = pick_dataset(), b = pick_dataset();
      if (a != b && H5Lmove(file, a.c_str(), file, "swap.tmp", H5P_DEFAULT, H5P_DEFAULT) >= 0) {
        H5Lmove(file, b.c_str(), file, a.c_str(), H5P_DEFAULT, H5P_DEFAULT);
        H5Lmove(file, "swap.tmp", file, b.c_str(), H5P_DEFAULT, H5P_DEFAULT);
      }
      break;
    }
    case 6: {  // `complete` (the completeness marker) and `schema`
      const int64_t values[] = {0, 1, 2, -1, INT64_MIN};
      if (pick(2)) {
        set_root_attr(file, "complete", H5T_NATIVE_INT64, &values[pick(std::size(values))]);
      } else {
        const double v = 1.0;
        set_root_attr(file, "complete", H5T_NATIVE_DOUBLE, &v);  // a dtype it never has
      }
      break;
    }
    default: {  // the `config` string attribute: cut short, or not JSON at all
      const std::string texts[] = {"{", "", "null", "[1,2]", "{\"model\": 3}", "\xff\xfe"};
      const std::string& t = texts[pick(std::size(texts))];
      const hid_t type = H5Tcopy(H5T_C_S1);
      H5Tset_size(type, t.size() + 1);
      set_root_attr(file, "config", type, t.c_str());
      H5Tclose(type);
      break;
    }
  }
}

}  // namespace

namespace {

// Edits the image in `data` through the HDF5 API; returns its new size, or 0 if libhdf5 cannot open it.
size_t edit_through_hdf5(uint8_t* data, size_t size, size_t max_size, std::mt19937& rng) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_core(fapl, 64 * 1024, 0);
  H5Pset_file_image(fapl, data, size);
  const hid_t file = H5Fopen("mutate.h5", H5F_ACC_RDWR, fapl);
  H5Pclose(fapl);
  if (file < 0) return 0;
  for (unsigned k = 1 + rng() % 3; k > 0; --k) mutate(file, rng);
  H5Fflush(file, H5F_SCOPE_GLOBAL);
  const ssize_t n = H5Fget_file_image(file, nullptr, 0);
  size_t out = size;
  if (n > 0 && static_cast<size_t>(n) <= max_size &&
      H5Fget_file_image(file, data, static_cast<size_t>(n)) == n)
    out = static_cast<size_t>(n);
  H5Fclose(file);
  return out;
}

}  // namespace

size_t mutate_checkpoint(uint8_t* data, size_t size, size_t max_size, unsigned seed, RawMutator raw) {
  std::mt19937 rng(seed);
  static constexpr unsigned char kSignature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  if (size < 64 || std::memcmp(data, kSignature, 8) != 0 || rng() % 8 == 0) return raw(data, size, max_size);
  // libhdf5 crashes on some of the inputs it is given (docs/reliability.md), and the mutator runs between
  // inputs, where libFuzzer would record such a crash as one of an empty input: the edit runs in a child
  // process (harness/child_process.hpp), on a copy in shared memory; a crash there falls back to raw bytes.
  const size_t bytes = sizeof(size_t) + max_size;
  void* shared = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) return raw(data, size, max_size);
  auto* out_size = static_cast<size_t*>(shared);
  auto* out = static_cast<uint8_t*>(shared) + sizeof(size_t);
  *out_size = 0;
  std::memcpy(out, data, size);
  const ChildOutcome child = run_in_child([&] { *out_size = edit_through_hdf5(out, size, max_size, rng); },
                                          std::chrono::seconds(30));
  const size_t n = child.ok() ? *out_size : 0;
  if (n > 0) std::memcpy(data, out, n);
  munmap(shared, bytes);
  return n > 0 ? n : raw(data, size, max_size);
}

}  // namespace vb::fuzz
