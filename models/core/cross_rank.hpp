// Sums over the processes of a data-parallel job, for the few layers whose function depends on the whole
// global batch (SyncBatchNorm: models/layers/sync_batchnorm.hpp). models/ does not depend on MPI: it calls
// this interface, which harness/dist implements with MPI_Allreduce (harness/dist/mpi.cpp installs it when the
// job has several ranks). Until then, and in every single-process run, the process is a world of one and the
// sum is the identity.
#pragma once

#include <cstdint>

namespace vb {

class CrossRankSum {
 public:
  virtual ~CrossRankSum() = default;
  // Element-wise sum of `values` (n of them) over every rank, in place; every rank ends with the same result.
  // A collective: every rank calls it, in the same order, with the same n. Doubles: these are short
  // per-channel vectors (a few KB), and the sums of up to ~1e8 values per channel keep their digits.
  virtual void sum(double* values, int64_t n) = 0;
};

// The process's sum: a world of one (the identity) until set_cross_rank_sum installs another. Process-wide,
// like the oneDNN engine: a process belongs to at most one job.
CrossRankSum& cross_rank_sum();
// Installs `s` (not owned; it must outlive its use), or restores the world of one with nullptr.
void set_cross_rank_sum(CrossRankSum* s);

}  // namespace vb
