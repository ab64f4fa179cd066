// libFuzzer entry of one target (the `fuzz` preset builds fuzz_<target> with VITBENCH_FUZZ_TARGET set to its
// name, a function of targets.hpp; called directly, so the dataset targets link harness/data alone). A
// problem the target reports (targets.hpp) aborts, so libFuzzer saves the input as a crash.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tests/fuzz/targets.hpp"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("OMP_NUM_THREADS", "1", 1);  // one decode thread: reproducible, and libFuzzer's timing is per input
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string problem = vb::fuzz::VITBENCH_FUZZ_TARGET(data, size);
  if (!problem.empty()) {
    std::fprintf(stderr, "fuzz target %s: %s\n", VITBENCH_FUZZ_NAME, problem.c_str());
    std::abort();
  }
  return 0;
}

#ifdef VITBENCH_FUZZ_CUSTOM_MUTATOR
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  return vb::fuzz::mutate_checkpoint(data, size, max_size, seed, LLVMFuzzerMutate);
}
#endif
