// A planned sweep on Slurm (docs/cluster.md): one `sbatch --array` job whose task N runs manifest line N with
// `vitbench sweep exec DIR --index N`, exactly what `sweep run` runs; and the queue's view of those tasks
// (squeue) for `sweep status`. State still lives only in the run folders; <dir>/slurm/ holds the scripts,
// logs and job ids.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "harness/run/sweep.hpp"

namespace vb::run::slurm {

struct SubmitOptions {
  std::string partition, time, account, qos;  // passed to sbatch as given (empty: the site's defaults)
  int cpus_per_task = 0;                      // 0: the manifest's threads; otherwise must equal them
  int max_parallel = 0;                       // the array's `%` throttle (0: Slurm's default, no throttle)
  bool only_failed = false;                   // submit only the failed runs
  std::vector<int64_t> indices;               // submit exactly these manifest lines (none complete)
  bool dry_run = false;                       // print the script, write and submit nothing
  std::filesystem::path vitbench;             // the binary the tasks run (this one, by absolute path)
};

struct Submission {
  std::vector<int64_t> indices;  // manifest lines in the array (empty: nothing to submit)
  std::string array;             // sbatch --array value, e.g. "0,3,5-9%2"
  std::string script_text;
  std::filesystem::path script;  // <dir>/slurm/submit-<timestamp>.sbatch (empty on a dry run)
  std::string job_id;            // from sbatch --parsable (empty on a dry run)
};

// "0,3,5-9" from sorted indices, plus "%K" when max_parallel > 0.
std::string array_spec(const std::vector<int64_t>& indices, int max_parallel);

// Chooses the lines (not complete, not already queued or running in a job of jobs.json), checks the binary
// and the thread count, writes the script and submits it; records the job in <dir>/slurm/jobs.json. Refuses,
// leaving no script behind, when sbatch is not on PATH or fails (its stderr in the message).
Submission submit(const Plan& p, const SubmitOptions& opt);

// One array task Slurm still knows about (queued or running), from squeue.
struct QueuedTask {
  std::string job_id;
  int64_t index = -1;  // manifest line
  std::string state;   // squeue's %T: PENDING, RUNNING, COMPLETING, ...
  std::string reason;  // squeue's %r: why a pending task waits
};
// The tasks of the jobs in <dir>/slurm/jobs.json still in the queue, by manifest line; empty when there is no
// jobs.json or no squeue on PATH.
std::map<int64_t, QueuedTask> queued(const Plan& p);

// The end states (sacct's State: COMPLETED, FAILED, TIMEOUT, OUT_OF_MEMORY, ...) of the tasks of jobs.json
// that left the queue, by manifest line, the latest submission's for a line submitted twice; empty when the
// cluster keeps no accounting (`scontrol show config`: AccountingStorageType none, as on many small clusters)
// or sacct is absent.
std::map<int64_t, QueuedTask> finished(const Plan& p);

// True when squeue is on PATH and <dir>/slurm/jobs.json exists (status then shows the queue).
bool has_jobs(const Plan& p);

}  // namespace vb::run::slurm
