// MPI_Allreduce message-size sweep and its alpha-beta fit; see allreduce_bench.hpp.
#include "harness/dist/allreduce_bench.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "harness/dist/mpi.hpp"
#include "harness/dist/mpi_api.hpp"

namespace vb::dist {

double AllreducePoint::median() const {
  std::vector<double> s = seconds;
  std::sort(s.begin(), s.end());
  const size_t n = s.size();
  return n == 0 ? 0 : n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

std::vector<AllreducePoint> measure_allreduce(int64_t min_bytes, int64_t max_bytes, int repeats) {
#ifdef VITBENCH_MPI
  if (size() < 2) throw std::invalid_argument("allreduce: run it with at least 2 ranks (mpirun -np 2 ...)");
  if (min_bytes < 4 || max_bytes < min_bytes || repeats < 1)
    throw std::invalid_argument(
        fmt::format("allreduce: need 4 <= min ({}) <= max ({}) bytes and repeats >= 1 ({})", min_bytes,
                    max_bytes, repeats));
  std::vector<AllreducePoint> out;
  std::vector<float> buf(static_cast<size_t>(max_bytes / 4), 1.f);
  for (int64_t bytes = min_bytes; bytes <= max_bytes; bytes *= 4) {
    const int n = static_cast<int>(bytes / 4);
    AllreducePoint p;
    p.bytes = int64_t{n} * 4;
    for (int r = -3; r < repeats; ++r) {
      MPI_Barrier(MPI_COMM_WORLD);
      const double t0 = MPI_Wtime();
      MPI_Allreduce(MPI_IN_PLACE, buf.data(), n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      double t = MPI_Wtime() - t0;
      MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
      if (r >= 0) p.seconds.push_back(t);
      // Keep the values finite: the sum doubles them every call.
      if (r % 8 == 0) std::fill(buf.begin(), buf.begin() + n, 1.f);
    }
    out.push_back(std::move(p));
  }
  return out;
#else
  (void)min_bytes, (void)max_bytes, (void)repeats;
  throw std::runtime_error(fmt::format("allreduce: MPI {}", mpi_library()));
#endif
}

AlphaBeta fit_alpha_beta(const std::vector<AllreducePoint>& points) {
  // Minimise sum ((a + b n - t) / t)^2: weighted least squares with w = 1 / t^2.
  double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& p : points) {
    const double t = p.median(), x = static_cast<double>(p.bytes);
    if (!(t > 0)) continue;
    const double w = 1 / (t * t);
    sw += w, sx += w * x, sy += w * t, sxx += w * x * x, sxy += w * x * t;
  }
  const double det = sw * sxx - sx * sx;
  if (!(det > 0)) throw std::runtime_error("allreduce: too few message sizes to fit latency and bandwidth");
  const double b = (sw * sxy - sx * sy) / det, a = (sy - b * sx) / sw;
  return {a, b > 0 ? 1 / b : 0};
}

}  // namespace vb::dist
