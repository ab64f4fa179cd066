// Data-parallel training over MPI: this process's place in the job (rank, world size), the few collectives
// the trainer needs (metric sums, broadcasts from rank 0, agreement of settings) and the job's lifetime. A
// build without MPI, or a process not started by mpirun/srun, is a world of one and every collective is a
// no-op.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace vb::dist {

// "Open MPI v4.1.4, ..." (the library's own version string) or "not compiled in".
std::string mpi_library();
bool mpi_compiled();

// MPI's lifetime: MPI_Init_thread (MPI_THREAD_FUNNELED: only the main thread calls MPI; the loader's thread
// and OpenMP's never do) when a launcher started this process (mpirun, srun --mpi=pmix/pmi2: their
// environment variables say so), so a plain `vitbench ...` never starts MPI. Finalised on destruction. Errors
// on MPI_COMM_WORLD are fatal (MPI_ERRORS_ARE_FATAL): a failed collective ends the job, it never hangs it.
class Session {
 public:
  Session(int& argc, char**& argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
};

int rank();        // 0 in a world of one
int size();        // ranks in the job (MPI_COMM_WORLD)
int local_size();  // ranks on this node (MPI_COMM_TYPE_SHARED)
bool multi();      // size() > 1

// OpenMP threads per rank when neither --threads nor OMP_NUM_THREADS says: the cores this process may run on
// (its affinity mask) if the launcher bound it to fewer than the node has, else the node's cores / local
// ranks. `why` says which rule gave the number (recorded with the run).
int default_threads(std::string* why = nullptr);
// How this process's thread count was chosen ("--threads", "OMP_NUM_THREADS", default_threads' rule), set by
// main and recorded with a run.
void set_threads_rule(std::string rule);
const std::string& threads_rule();

// Thrown by every rank together, after a collective decided it (e.g. ranks disagree on a setting): each rank
// prints the message and the job ends with status 1 without MPI_Abort, so every rank's message is seen.
struct CollectiveError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Any other error on one rank of a multi-rank job: the others may be waiting in a collective, so the whole
// job is aborted (MPI_Abort) rather than left to hang. Does nothing in a world of one.
void abort_job(int status);

// Collectives on MPI_COMM_WORLD (no-ops in a world of one).
void sum(double* values, int n);  // element-wise sum, result on every rank
void sum(int64_t* values, int n);
void broadcast(void* data, int64_t bytes, int root = 0);
void barrier();
std::string broadcast(const std::string& s, int root = 0);
// Rank 0's `settings` are the job's: every rank compares its own with them and, if any rank differs, every
// rank throws CollectiveError naming the first differing rank and the fields ("what: rank 0 has X, rank 2
// Y").
void check_agreement(const nlohmann::json& settings, const std::string& what);
// "key: <a> <label_a>, <b> <label_b>" for every leaf that differs (nested keys joined with '.').
void json_diffs(const nlohmann::json& a, const nlohmann::json& b, const std::string& label_a,
                const std::string& label_b, const std::string& prefix, std::vector<std::string>& out);

}  // namespace vb::dist
