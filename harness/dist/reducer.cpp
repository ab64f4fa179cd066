// Bucketed gradient averaging with MPI_Allreduce (see reducer.hpp). Buckets are filled in slot order; a
// gradient larger than a bucket is reduced in place on its own, so no gradient is ever split or copied twice.
#include "harness/dist/reducer.hpp"

#include <chrono>
#include <cstring>

#include "harness/dist/mpi.hpp"
#include "harness/dist/mpi_api.hpp"

namespace vb::dist {

namespace {
// Returns the seconds spent inside MPI (the transfer; packing into and out of buckets is timed apart).
double allreduce_in_place(float* data, size_t n) {
  const auto t0 = std::chrono::steady_clock::now();
#ifdef VITBENCH_MPI
  // MPI counts are int: chunks of at most 2^30 floats.
  for (size_t done = 0; done < n;) {
    const int count = static_cast<int>(std::min<size_t>(n - done, size_t{1} << 30));
    MPI_Allreduce(MPI_IN_PLACE, data + done, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    done += static_cast<size_t>(count);
  }
#else
  (void)data, (void)n;
#endif
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void scale(float* data, size_t n, float f) {
#pragma omp parallel for schedule(static) if (n >= 65536)
  for (size_t i = 0; i < n; ++i) data[i] *= f;
}
}  // namespace

MpiGradientReducer::MpiGradientReducer(double bucket_mb)
    : bucket_floats_(static_cast<size_t>(bucket_mb * 1e6 / sizeof(float))) {}

void MpiGradientReducer::reduce(const std::vector<train::Slot>& slots) {
  if (size() == 1) return;
  const auto t0 = std::chrono::steady_clock::now();
  // A barrier first, timed apart: the allreduce would wait for the slowest rank's backward anyway, and
  // separating that skew from the transfer is what tells whether faster communication would help.
  barrier();
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Multiplying the sum by 1/R rounds once more than a division would, the same on every rank.
  const float inv = 1.f / static_cast<float>(size());
  if (bucket_.size() != bucket_floats_) bucket_.assign(bucket_floats_, 0.f);
  std::vector<float*> members;
  std::vector<size_t> sizes;
  size_t fill = 0;
  auto flush = [&] {
    if (fill == 0) return;
    mpi_seconds_ += allreduce_in_place(bucket_.data(), fill);
    size_t off = 0;
    for (size_t i = 0; i < members.size(); ++i) {
      for (size_t k = 0; k < sizes[i]; ++k) members[i][k] = bucket_[off + k] * inv;
      off += sizes[i];
    }
    members.clear();
    sizes.clear();
    fill = 0;
  };
  for (const train::Slot& s : slots) {
    float* g = s.param->grad.data();
    const size_t n = static_cast<size_t>(s.param->grad.numel());
    if (n > bucket_floats_) {  // on its own, in place
      mpi_seconds_ += allreduce_in_place(g, n);
      scale(g, n, inv);
      continue;
    }
    if (fill + n > bucket_floats_) flush();
    std::memcpy(bucket_.data() + fill, g, n * sizeof(float));
    members.push_back(g);
    sizes.push_back(n);
    fill += n;
  }
  flush();
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::unique_ptr<train::GradientReducer> make_gradient_reducer(double bucket_mb) {
  if (size() > 1) return std::make_unique<MpiGradientReducer>(bucket_mb);
  return std::make_unique<train::GradientReducer>();
}

}  // namespace vb::dist
