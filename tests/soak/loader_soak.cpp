// Soak of the data loader's background prefetch thread, built by the `tsan` preset (ThreadSanitizer) and run
// by scripts/tsan_soak.sh: loader_soak <seconds>. Synthetic data; every pattern the trainer uses - whole
// epochs, resuming at a step, restarting an epoch while the worker is mid-batch, destroying a loader
// mid-epoch, prefetch depths 1-3, mixup/cutmix - and every batch compared with the same batch prepared
// without the thread (prefetch 0), so a race shows up as a TSan report or as different bytes. Exit 0 when
// clean.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>

#include "harness/data/loader.hpp"
#include "harness/data/sources.hpp"

using namespace vb::data;

namespace {

bool same(const Batch& a, const Batch& b) {
  return a.epoch == b.epoch && a.step == b.step && a.size == b.size && a.images == b.images &&
         a.labels == b.labels && a.indices == b.indices && a.targets == b.targets;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 30;
  SyntheticOptions so;
  so.train = 300;
  so.size = 12;
  const Dataset d = make_synthetic(so);
  std::vector<int64_t> all(d.train.size());
  std::iota(all.begin(), all.end(), 0);
  LoaderOptions o;
  o.batch = 16;
  o.out_size = 16;  // resized: the bilinear path
  o.upsample = true;
  o.shuffle = o.drop_last = o.train = true;
  o.augment = d.augment;
  o.augment.mixup = 0.2f;
  o.augment.cutmix = 1.0f;
  o.normalize = d.normalize;
  LoaderOptions serial = o;
  serial.prefetch = 0;
  Loader reference(d.train, all, serial);

  const auto t0 = std::chrono::steady_clock::now();
  int64_t batches = 0, round = 0, mismatches = 0;
  auto check = [&](const Batch& b) {
    Batch want;
    reference.start_epoch(b.epoch, b.step);
    reference.next(want);
    mismatches += !same(b, want);
    ++batches;
  };
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < seconds) {
    o.prefetch = 1 + round % 3;
    Loader loader(d.train, all, o);
    const int64_t steps = loader.steps_per_epoch();
    Batch b;
    loader.start_epoch(round, round % steps);  // resume at a step
    while (loader.next(b)) check(b);
    loader.start_epoch(round + 1);  // restart while the worker fills the queue, after one batch
    if (loader.next(b)) check(b);
    loader.start_epoch(round + 2, steps / 2);
    for (int k = 0; k < 3 && loader.next(b); ++k) check(b);
    ++round;  // the loader is destroyed mid-epoch, its worker still producing
  }
  std::printf("loader soak: %lld rounds, %lld batches checked against prefetch 0, %lld mismatches\n",
              static_cast<long long>(round), static_cast<long long>(batches),
              static_cast<long long>(mismatches));
  return mismatches == 0 && batches > 0 ? 0 : 1;
}
