// Sweeps as data (docs/sweeps.md): a sweep file (experiments/sweeps/<name>.json) names a base training
// recipe, its arms (model and `--set` overrides), the axes (seed, train_size, ...) and the tiers (smoke,
// quick, standard, full). `plan` expands one tier into an immutable manifest, `sweep.jsonl`, one line per
// run; a run's state lives only in its folder (record.h5 complete, failed.json, or checkpoint.h5 when
// interrupted), so any launcher - `sweep run` here, a Slurm array task (harness/run/slurm.hpp) - can run any
// line with `sweep exec`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace vb::run {

// One line of sweep.jsonl.
struct PlannedRun {
  std::string id;     // 12 hex digits: a hash of the resolved training config and the thread count
  int64_t index = 0;  // line number (0-based): what a Slurm array task id selects
  std::string name;   // run folder name: <arm>-<axis values>-<id prefix>
  std::string arm;
  nlohmann::json axes;    // {"seed": 0, "train_size": 1000}
  std::string pair;       // the axes as text: runs of different arms with the same pair are compared in pairs
  nlohmann::json config;  // the TrainConfig JSON the run trains with
  int threads = 0;
  double est_seconds = 0;
  nlohmann::json
      rf;  // the rf step after training ({} = none): {"images", "batch", "layers", "map_downsample"}

  nlohmann::json to_json() const;
  static PlannedRun from_json(const nlohmann::json& j);
};

struct PlanOptions {
  std::filesystem::path sweep_file;  // experiments/sweeps/<name>.json
  std::string tier = "quick";
  std::filesystem::path out;  // sweep folder (default runs/sweeps/<sweep>/<tier>)
  int threads = 0;            // per run (0: this process's OpenMP threads)
  bool allow_dirty = false;   // plan with a binary built from a modified tree (development only)
  bool force = false;         // replace an existing manifest that differs
};

struct Plan {
  std::filesystem::path dir;  // holds sweep.json, sweep.jsonl and the run folders
  nlohmann::json meta;        // sweep.json
  std::vector<PlannedRun> runs;
  double est_seconds() const;  // every run's planned seconds, one after another
  int default_jobs() const;    // jobs_at_once(kind, threads) of this plan, on this machine
};

// Runs `sweep run` starts at once unless told (--jobs): the cores this process may use / the plan's threads
// per run (at least 1); a throughput sweep 1 (each measurement needs the machine to itself). The plan's
// machine-hours are its planned seconds / this / 3600: its wall time on this machine.
int jobs_at_once(const std::string& kind, int threads);

// Expands and validates one tier (unknown keys, axis values the model rejects, a subset larger than the
// split, a missing dataset, a planned time above the tier's limit: refused naming the file and the field),
// then writes <dir>/sweep.json and <dir>/sweep.jsonl. Re-planning the same tier gives the same manifest (kept
// as is).
Plan plan(const PlanOptions& opt);
Plan load_plan(const std::filesystem::path& dir);  // from sweep.json + sweep.jsonl

enum class RunState { pending, interrupted, failed, complete };
const char* to_string(RunState s);
RunState state_of(const Plan& p, const PlannedRun& r);
std::filesystem::path run_dir(const Plan& p, const PlannedRun& r);

// What `sweep status` shows beside a run's state: whether a process works in its folder now (its lock is
// held: harness/file_lock.hpp), the share of its training steps its checkpoint holds, and a finished training
// run's measured wall time (the record's run_wall_s; for a record that predates `sessions`, at least its
// train_wall_s: docs/training.md). Unreadable files give no figure, never an error.
struct RunProgress {
  bool running = false;
  double done = 0;     // 0..1: checkpoint step / total steps (interrupted or running runs)
  double wall_s = -1;  // complete training runs: measured seconds (< 0: none)
};
RunProgress progress_of(const Plan& p, const PlannedRun& r, RunState s);

// The time the runs not complete still need, one after another: by the plan (each run's estimate, less the
// share its checkpoint holds), and at the measured pace of the finished runs (each model's measured / planned
// training seconds; the finished runs' overall ratio for a model none of them trained). `states` and
// `progress` hold state_of and progress_of of every run, in the plan's order (status has them already).
struct TimeLeft {
  double planned_s = 0;
  double paced_s = -1;                  // < 0: no finished run measured yet
  int measured = 0;                     // finished runs that gave the pace
  std::map<std::string, double> ratio;  // model -> measured / planned
};
TimeLeft time_left(const Plan& p, const std::vector<RunState>& states,
                   const std::vector<RunProgress>& progress);

// Refuses (naming sweep.json) a vitbench built at another commit than the plan's: one sweep, one binary.
void check_binary(const Plan& p);
// Refuses a thread count other than the line's (0: none asked for, the line's is used): results depend on it,
// so a launcher that gives a run other threads (a Slurm task's --cpus-per-task) must not run it.
void check_threads(const Plan& p, const PlannedRun& r, int threads);

// A run that must not run on this machine: a finished run of its pair ran on another CPU kind (ISA and CPU
// model, "avx512_core_bf16 on AMD EPYC"; paired arms run on one kind).
struct KindConflict {
  std::string pair_run;                        // the finished run of the pair
  std::string kind;                            // its CPU kind
  std::string here;                            // this machine's
  std::string why(const PlannedRun& r) const;  // the sentence the refusals print
};
std::optional<KindConflict> pair_kind_conflict(const Plan& p, const PlannedRun& r);

// Runs one line in this process (training, then the rf step if the line has one: receptive fields of the
// final weights -> rf.h5, and of the same model at random init -> rf_init.h5): refuses another binary commit
// than the plan's, or another ISA than a finished run of the same pair; resumes from a checkpoint; on an
// error writes failed.json (the error, time, ISA) and rethrows. Returns false when the run was complete
// already.
bool exec(const Plan& p, const PlannedRun& r, const std::string& command, bool progress);

struct RunAllOptions {
  bool retry_failed = false;
  std::filesystem::path
      collect;  // copy each finished record (and the manifest) here, e.g. results/sweeps/<s>/<t>
  bool progress = false;
  // Child processes at once (each with the plan's threads), e.g. 2 for a 1-thread plan on 2 cores; 0: the
  // plan's default_jobs(). More than 1 for training sweeps only (a throughput line needs the machine to
  // itself).
  int jobs = 0;
  // Only these lines (manifest indices; empty: every line), e.g. the pairs that can run on this CPU kind
  // first; still in manifest order. An index outside the manifest is refused.
  std::vector<int64_t> indices;
};
// Runs every line not complete, up to opt.jobs child processes (`vitbench sweep exec`) at a time, started in
// manifest order; failed runs are skipped unless retry_failed, and lines whose pair finished on another CPU
// kind are left pending (for a machine of that kind), not failed. Returns the number of runs that failed in
// this call.
int run_all(const Plan& p, const std::filesystem::path& vitbench, const RunAllOptions& opt);

// Copies sweep.json, sweep.jsonl and every complete record (<name>.h5) into `dest`.
void collect(const Plan& p, const std::filesystem::path& dest);

}  // namespace vb::run
