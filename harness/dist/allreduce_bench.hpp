// The network as the gradient allreduce sees it: MPI_Allreduce (float sum, in place) timed over a sweep of
// message sizes, and a least-squares fit of t(n) = alpha + n / bandwidth (the alpha-beta model) that the
// scaling model of docs/distributed.md takes its latency and bandwidth from.
#pragma once

#include <cstdint>
#include <vector>

namespace vb::dist {

struct AllreducePoint {
  int64_t bytes = 0;
  std::vector<double> seconds;  // one per repeat (raw samples, max over ranks of each repeat)
  double median() const;
};

struct AlphaBeta {
  double alpha_s = 0;            // latency: the fit's intercept
  double bandwidth_bytes_s = 0;  // 1 / slope: message bytes per second through the allreduce
  // Ring allreduce moves 2 (R-1)/R of the message per rank: the link bandwidth that implies.
  double link_bandwidth_bytes_s(int ranks) const { return bandwidth_bytes_s * 2.0 * (ranks - 1) / ranks; }
};

// Every rank must call it (collective). Sizes from min_bytes to max_bytes, x4 each; `repeats` timed calls per
// size after 3 untimed ones; each repeat is timed between barriers and the slowest rank's time kept.
std::vector<AllreducePoint> measure_allreduce(int64_t min_bytes, int64_t max_bytes, int repeats);
// Least squares on the medians, weighted by 1 / t^2 (relative error), so small and large messages count
// alike.
AlphaBeta fit_alpha_beta(const std::vector<AllreducePoint>& points);

}  // namespace vb::dist
