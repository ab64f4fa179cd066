// The MPI job: initialisation only under a launcher, rank/size, collectives, agreement of settings and the
// thread default; see mpi.hpp. Without VITBENCH_MPI every function is the world-of-one version.
#include "harness/dist/mpi.hpp"

#include <fmt/format.h>
#include <sched.h>

#include <cstdlib>
#include <thread>
#include <vector>

#include "harness/dist/mpi_api.hpp"
#include "models/core/cross_rank.hpp"

namespace vb::dist {

namespace {
int g_rank = 0, g_size = 1, g_local = 1;
bool g_initialised = false;
std::string g_threads_rule = "all cores (OpenMP's default)";

// A launcher's environment: Open MPI's mpirun, PMIx (srun --mpi=pmix, prterun), PMI-1/2 (srun --mpi=pmi2,
// MPICH's hydra).
bool launched() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(v)) return true;
  return false;
}

// The models' cross-rank sum (SyncBatchNorm's statistics, models/core/cross_rank.hpp) over MPI_COMM_WORLD.
struct MpiCrossRankSum : CrossRankSum {
  void sum(double* values, int64_t n) override {
    for (int64_t done = 0; done < n;) {  // MPI counts are int
      const int count = static_cast<int>(std::min<int64_t>(n - done, int64_t{1} << 30));
      dist::sum(values + done, count);
      done += count;
    }
  }
};
MpiCrossRankSum g_cross_rank_sum;

#ifdef VITBENCH_MPI
void check(int rc, const char* call) {
  // Only reached with an error handler other than MPI_ERRORS_ARE_FATAL; kept so that a change there still
  // fails.
  if (rc != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    throw std::runtime_error(fmt::format("{} failed on rank {}: {}", call, g_rank, std::string(text, len)));
  }
}
#endif
}  // namespace

bool mpi_compiled() {
#ifdef VITBENCH_MPI
  return true;
#else
  return false;
#endif
}

std::string mpi_library() {
#ifdef VITBENCH_MPI
  char v[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(v, &len);
  std::string s(v, static_cast<size_t>(len));
  s.resize(s.find('\0') == std::string::npos ? s.size()
                                             : s.find('\0'));  // len counts Open MPI's trailing NUL
  if (const auto nl = s.find_first_of("\r\n"); nl != std::string::npos) s.resize(nl);
  while (!s.empty() && (s.back() == ',' || s.back() == ' ')) s.pop_back();
  return s;
#else
  return "not compiled in (configure with MPI found: libopenmpi-dev)";
#endif
}

Session::Session(int& argc, char**& argv) {
#ifdef VITBENCH_MPI
  if (!launched()) return;
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  g_initialised = true;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &node);
  MPI_Comm_size(node, &g_local);
  MPI_Comm_free(&node);
  if (g_size > 1) set_cross_rank_sum(&g_cross_rank_sum);
#else
  (void)argc;
  (void)argv;
#endif
}

Session::~Session() {
#ifdef VITBENCH_MPI
  set_cross_rank_sum(nullptr);
  if (g_initialised) MPI_Finalize();
#endif
}

int rank() {
  return g_rank;
}
int size() {
  return g_size;
}
int local_size() {
  return g_local;
}
bool multi() {
  return g_size > 1;
}

int default_threads(std::string* why) {
  const int node = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cpu_set_t set;
  CPU_ZERO(&set);
  const int mask = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : node;
  if (mask < node) {
    if (why) *why = fmt::format("the {} cores this rank is bound to", mask);
    return mask;
  }
  const int n = std::max(1, node / g_local);
  if (why) *why = fmt::format("{} cores / {} ranks on this node", node, g_local);
  return n;
}

void set_threads_rule(std::string rule) {
  g_threads_rule = std::move(rule);
}
const std::string& threads_rule() {
  return g_threads_rule;
}

void abort_job(int status) {
#ifdef VITBENCH_MPI
  if (g_initialised && g_size > 1) MPI_Abort(MPI_COMM_WORLD, status);
#else
  (void)status;
#endif
}

void sum(double* values, int n) {
#ifdef VITBENCH_MPI
  if (g_size > 1)
    check(MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
#else
  (void)values, (void)n;
#endif
}

void sum(int64_t* values, int n) {
#ifdef VITBENCH_MPI
  if (g_size > 1)
    check(MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
#else
  (void)values, (void)n;
#endif
}

void broadcast(void* data, int64_t bytes, int root) {
#ifdef VITBENCH_MPI
  if (g_size == 1) return;
  // MPI counts are int: large buffers go in chunks of 1 GiB.
  auto* p = static_cast<char*>(data);
  for (int64_t done = 0; done < bytes;) {
    const int n = static_cast<int>(std::min<int64_t>(bytes - done, int64_t{1} << 30));
    check(MPI_Bcast(p + done, n, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
    done += n;
  }
#else
  (void)data, (void)bytes, (void)root;
#endif
}

void barrier() {
#ifdef VITBENCH_MPI
  if (g_size > 1) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
}

std::string broadcast(const std::string& s, int root) {
  int64_t n = static_cast<int64_t>(s.size());
  broadcast(&n, sizeof n, root);
  std::string out = g_rank == root ? s : std::string(static_cast<size_t>(n), '\0');
  broadcast(out.data(), n, root);
  return out;
}

void json_diffs(const nlohmann::json& a, const nlohmann::json& b, const std::string& label_a,
                const std::string& label_b, const std::string& prefix, std::vector<std::string>& out) {
  if (a.is_object() && b.is_object()) {
    for (const auto& [k, v] : b.items())
      json_diffs(a.contains(k) ? a[k] : nlohmann::json(), v, label_a, label_b, prefix + k + ".", out);
    for (const auto& [k, v] : a.items())
      if (!b.contains(k))
        out.push_back(fmt::format("{}{}: {} {}, absent {}", prefix, k, v.dump(), label_a, label_b));
    return;
  }
  if (a != b)
    out.push_back(fmt::format("{}: {} {}, {} {}", prefix.substr(0, prefix.size() - 1),
                              a.is_null() ? "absent" : a.dump(), label_a, b.is_null() ? "absent" : b.dump(),
                              label_b));
}

void check_agreement(const nlohmann::json& settings, const std::string& what) {
  if (g_size == 1) return;
  const std::string mine = settings.dump();
  const std::string root = broadcast(mine, 0);
  // The lowest rank that differs from rank 0 reports its differences to everyone.
  int64_t first = root == mine ? g_size : g_rank;
#ifdef VITBENCH_MPI
  check(MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
#endif
  if (first == g_size) return;
  std::string message;
  if (g_rank == first) {
    std::vector<std::string> diffs;
    json_diffs(nlohmann::json::parse(root), settings, "on rank 0", fmt::format("on rank {}", g_rank), "",
               diffs);
    message = fmt::format("{}: the ranks disagree ({}); every rank must be started with the same settings",
                          what, fmt::format("{}", fmt::join(diffs, "; ")));
  }
  message = broadcast(message, static_cast<int>(first));
  throw CollectiveError(message);
}

}  // namespace vb::dist
