// Order statistics of timing samples: the median and the 10th / 90th percentiles that `vitbench throughput`
// reports. Percentiles interpolate linearly between order statistics (numpy's default), so they are
// reproducible from the raw samples stored next to them.
#pragma once

#include <vector>

namespace vb {

struct Quantiles {
  double median = 0, p10 = 0, p90 = 0;
};

// q in [0, 1]; throws on an empty sample or q outside [0, 1].
double quantile(std::vector<double> samples, double q);
Quantiles quantiles(const std::vector<double>& samples);

}  // namespace vb
