// The data-parallel GradientReducer: averages every trainable gradient across the MPI ranks with
// MPI_Allreduce over buckets (gradients packed back to back into flat buffers of about bucket_mb MB), after
// backward. The sum is divided by the world size, so every rank ends with the gradient of the global batch's
// mean loss, exactly what one process computes on the whole batch (up to summation order).
#pragma once

#include <memory>
#include <vector>

#include "harness/train/trainer.hpp"

namespace vb::dist {

class MpiGradientReducer : public train::GradientReducer {
 public:
  explicit MpiGradientReducer(double bucket_mb = 25);  // 25 MB: PyTorch DDP's default bucket_cap_mb
  void reduce(const std::vector<train::Slot>& slots) override;
  double seconds() const override { return seconds_; }
  double wait_seconds() const override { return wait_seconds_; }
  double mpi_seconds() const override { return mpi_seconds_; }

 private:
  size_t bucket_floats_;
  std::vector<float> bucket_;
  double seconds_ = 0, wait_seconds_ = 0, mpi_seconds_ = 0;
};

// The reducer for this job: the MPI one when there are several ranks, the no-op one otherwise.
std::unique_ptr<train::GradientReducer> make_gradient_reducer(double bucket_mb = 25);

}  // namespace vb::dist
