// `vitbench sweep plan|run|exec|submit|status`: sweeps as data (harness/run/sweep.hpp, docs/sweeps.md) and on
// Slurm (harness/run/slurm.hpp, docs/cluster.md). This file only parses flags and calls the library.
#include "harness/run/sweep.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "harness/cli/commands.hpp"
#include "harness/run/slurm.hpp"

namespace vb::cli {

namespace {

struct SweepOptions {
  run::PlanOptions plan;
  std::filesystem::path dir;  // run / exec / status: the sweep folder (holding sweep.json + sweep.jsonl)
  std::string id;             // exec: the run's id ...
  int64_t index = -1;         // ... or its line number (a Slurm array task id)
  bool retry_failed = false, quiet = false, verbose = false;
  int jobs = 0;  // run: child processes at once (0: the plan's default_jobs())
  std::filesystem::path collect;
  std::string lines;  // run: --index, e.g. "12-19"
  run::slurm::SubmitOptions submit;
  bool slurm = false;
};

void print_status(const run::Plan& p, bool verbose) {
  // The queue's view (squeue), when this folder was submitted to Slurm and Slurm is reachable from here.
  const bool slurm = run::slurm::has_jobs(p);
  const auto queue = slurm ? run::slurm::queued(p) : std::map<int64_t, run::slurm::QueuedTask>{};
  const auto ended = slurm && verbose ? run::slurm::finished(p) : std::map<int64_t, run::slurm::QueuedTask>{};
  std::map<run::RunState, int> count;
  std::map<std::string, int> in_queue;  // squeue state -> tasks
  int running = 0;
  int waiting = 0;  // not complete, and their pair finished on another CPU kind: they cannot run here
  std::vector<run::RunState> states;
  std::vector<run::RunProgress> progress;
  for (const auto& r : p.runs) {
    const run::RunState s = states.emplace_back(run::state_of(p, r));
    const run::RunProgress g = progress.emplace_back(run::progress_of(p, r, s));
    if (g.running)  // a process works in the folder now: counted as running, not as interrupted or pending
      ++running;
    else
      ++count[s];
    std::optional<run::KindConflict> conflict;  // a status never fails on a record it cannot read
    try {
      if (s != run::RunState::complete && !g.running) conflict = run::pair_kind_conflict(p, r);
    } catch (const std::exception&) {
    }
    if (conflict) ++waiting;
    const auto q = queue.find(r.index);
    if (q != queue.end()) ++in_queue[q->second.state];
    if (!verbose) continue;
    std::string
        slurm_note;  // queued or running; else how Slurm ended a task whose run is not complete (sacct)
    if (q != queue.end())
      slurm_note = fmt::format(
          "  [slurm {}_{} {}{}]", q->second.job_id, r.index, q->second.state,
          q->second.reason.empty() || q->second.reason == "None" ? "" : " (" + q->second.reason + ")");
    else if (auto e = ended.find(r.index); e != ended.end() && s != run::RunState::complete)
      slurm_note = fmt::format("  [slurm {}_{} {}]", e->second.job_id, r.index, e->second.state);
    // The state, the planned minutes, then what the folder shows: the share of steps its checkpoint holds, a
    // finished run's measured minutes.
    std::string now;
    if (g.done > 0) now += fmt::format("  {:.0f}% done", 100 * g.done);
    if (g.wall_s >= 0) now += fmt::format("  took {:.1f} min", g.wall_s / 60);
    if (conflict) now += fmt::format("  for {} (its pair ran there)", conflict->kind);
    fmt::print("{:<11} {:<44} {:>7.1f} min  {}{}{}\n", g.running ? "running" : run::to_string(s), r.name,
               r.est_seconds / 60, r.pair, now, slurm_note);
  }
  const run::TimeLeft left = run::time_left(p, states, progress);
  const double jobs = p.default_jobs();
  std::string pace;  // the plan's estimate corrected by what the finished runs took
  if (left.paced_s >= 0) {
    std::vector<std::string> ratios;
    for (const auto& [model, x] : left.ratio) ratios.push_back(fmt::format("{} {:.2f}x", model, x));
    pace = fmt::format("; about {:.1f} at the pace of the {} finished runs (measured / planned: {})",
                       left.paced_s / jobs / 3600, left.measured, fmt::join(ratios, ", "));
  }
  fmt::print(
      "{} tier {} ({}, commit {}, planned on {}): {} runs: {} complete, {} interrupted, {} failed, {} "
      "pending, {} running{}; about {:.1f} machine-hours left by the plan ({} at once here){}\n",
      p.meta.value("sweep", "?"), p.meta.value("tier", "?"), p.dir.string(),
      p.meta.value("commit", "?").substr(0, 12), p.meta.value("isa", "?"), p.runs.size(),
      count[run::RunState::complete], count[run::RunState::interrupted], count[run::RunState::failed],
      count[run::RunState::pending], running,
      waiting ? fmt::format(" ({} of the runs left cannot run here: their pairs ran on another CPU kind)",
                            waiting)
              : "",
      left.planned_s / jobs / 3600, p.default_jobs(), pace);
  if (slurm) {
    std::vector<std::string> parts;
    for (const auto& [state, n] : in_queue) parts.push_back(fmt::format("{} {}", n, state));
    fmt::print("slurm: {} task(s) in the queue{}{}\n", queue.size(), parts.empty() ? "" : ": ",
               fmt::join(parts, ", "));
  }
}

// "0,3,5-9" -> {0, 3, 5, 6, 7, 8, 9}
std::vector<int64_t> parse_indices(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream items(text);
  for (std::string item; std::getline(items, item, ',');) {
    try {
      const size_t dash = item.find('-', 1);
      const auto number = [](const std::string& t) {  // all of t, not a prefix ("3x" is refused)
        size_t used = 0;
        const int64_t v = std::stoll(t, &used);
        if (used != t.size()) throw std::invalid_argument(t);
        return v;
      };
      const int64_t a = number(item.substr(0, dash));
      const int64_t b = dash == std::string::npos ? a : number(item.substr(dash + 1));
      if (a < 0 || b < a) throw std::invalid_argument(item);
      for (int64_t i = a; i <= b; ++i) out.push_back(i);
    } catch (const std::exception&) {
      throw std::runtime_error(
          fmt::format("--index: '{}' is not a line number or a range (e.g. 3 or 5-9)", item));
    }
  }
  return out;
}

}  // namespace

void add_sweep(CLI::App& app, const Common& common) {
  auto o = std::make_shared<SweepOptions>();
  auto* cmd =
      app.add_subcommand("sweep",
                         "Experiment sweeps (experiments/sweeps/*.json): plan a tier into a manifest, "
                         "run it, run one line of it, show its state (docs/sweeps.md)");
  cmd->require_subcommand(1);

  auto* plan = cmd->add_subcommand("plan",
                                   "Expand one tier of a sweep into <out>/sweep.jsonl (one line per run) and "
                                   "<out>/sweep.json; validates everything before any run starts");
  plan->add_option("sweep", o->plan.sweep_file, "sweep file, e.g. experiments/sweeps/pe_ablation_vit.json")
      ->required();
  plan->add_option("-t,--tier", o->plan.tier, "smoke, quick, standard or full")->capture_default_str();
  plan->add_option("-o,--out", o->plan.out, "sweep folder (default runs/sweeps/<sweep>/<tier>)");
  plan->add_flag("--allow-dirty", o->plan.allow_dirty,
                 "plan with a binary built from a modified tree (development)");
  plan->add_flag("--force", o->plan.force, "replace a different manifest already in the folder");
  plan->callback([o, &common] {
    o->plan.threads = common.threads;
    const run::Plan p = run::plan(o->plan);
    const int jobs = p.default_jobs();
    fmt::print("{}: {} runs, about {:.1f} machine-hours on {} ({} at once, {} thread(s) each); manifest {}\n",
               p.meta.value("sweep", "?"), p.runs.size(), p.est_seconds() / jobs / 3600,
               p.meta.value("cpu_model", "?"), jobs, p.meta.value("threads", 0),
               (p.dir / "sweep.jsonl").string());
  });

  auto* runc =
      cmd->add_subcommand("run",
                          "Run every line of a planned sweep that is not complete, one process per line "
                          "(--jobs at once); resumes interrupted runs, skips failed ones unless "
                          "--retry-failed");
  runc->add_option("dir", o->dir, "sweep folder (holds sweep.jsonl)")
      ->required()
      ->check(CLI::ExistingDirectory);
  runc->add_flag("--retry-failed", o->retry_failed, "run failed runs again");
  runc->add_option("--collect", o->collect,
                   "copy each finished record here (e.g. results/sweeps/<sweep>/<tier>)");
  runc->add_flag("-q,--quiet", o->quiet, "no progress bars in the runs");
  runc->add_option(
          "-j,--jobs", o->jobs,
          "runs at once, each with the plan's threads (default: the cores this process may use / the plan's "
          "threads, e.g. 2 for a plan made with --threads 1 on 2 cores; a throughput sweep 1)")
      ->check(CLI::PositiveNumber);
  runc->add_option(
      "--index", o->lines,
      "run only these lines, in manifest order, e.g. 12-19 or 0,5-9 (say, the pairs this CPU kind "
      "can run first); the others are left as they are");
  runc->callback([o] {
    const run::Plan p = run::load_plan(o->dir);
    const int failed = run::run_all(p, std::filesystem::read_symlink("/proc/self/exe"),
                                    {o->retry_failed, o->collect, !o->quiet, o->jobs,
                                     o->lines.empty() ? std::vector<int64_t>{} : parse_indices(o->lines)});
    if (!o->collect.empty()) run::collect(p, o->collect);
    print_status(p, false);
    if (failed)
      throw std::runtime_error(
          fmt::format("{} run(s) failed in this call; their failed.json says why", failed));
  });

  auto* exec = cmd->add_subcommand("exec",
                                   "Run one line of a planned sweep in this process (what `sweep run` and a "
                                   "Slurm array task call)");
  exec->add_option("dir", o->dir, "sweep folder (holds sweep.jsonl)")
      ->required()
      ->check(CLI::ExistingDirectory);
  auto* id = exec->add_option("--id", o->id, "the run's id (sweep.jsonl)");
  exec->add_option("--index", o->index, "the run's line number, from 0 (e.g. $SLURM_ARRAY_TASK_ID)")
      ->excludes(id);
  exec->add_flag("-q,--quiet", o->quiet, "no progress bars");
  exec->callback([o, &common] {
    const run::Plan p = run::load_plan(o->dir);
    const run::PlannedRun* r = nullptr;
    for (const auto& x : p.runs)
      if (x.id == o->id || x.index == o->index) r = &x;
    if (!r)
      throw std::runtime_error(fmt::format(
          "{}: no run {} in the manifest ({} lines)", (o->dir / "sweep.jsonl").string(),
          o->id.empty() ? "--index " + std::to_string(o->index) : "--id " + o->id, p.runs.size()));
    run::check_threads(p, *r, common.threads);
    if (!run::exec(p, *r, common.command, !o->quiet)) fmt::print(stderr, "{}: already complete\n", r->name);
  });

  auto* submit = cmd->add_subcommand(
      "submit",
      "Submit the lines of a planned sweep that are not complete as one Slurm job array (task N runs line "
      "N with `sweep exec --index N`); the batch script is written to <dir>/slurm/ (docs/cluster.md)");
  submit->add_option("dir", o->dir, "sweep folder (holds sweep.jsonl)")
      ->required()
      ->check(CLI::ExistingDirectory);
  submit->add_flag("--slurm", o->slurm, "submit to Slurm with sbatch (the only launcher so far)")->required();
  submit->add_option("--partition", o->submit.partition, "sbatch --partition");
  submit->add_option("--time", o->submit.time, "sbatch --time: each task's limit, e.g. 4:00:00");
  submit
      ->add_option("--cpus-per-task", o->submit.cpus_per_task,
                   "threads per task; must equal the manifest's threads (default: them)")
      ->check(CLI::PositiveNumber);
  submit
      ->add_option("--max-parallel", o->submit.max_parallel,
                   "at most this many tasks at once (the array's %)")
      ->check(CLI::PositiveNumber);
  submit->add_option("--account", o->submit.account, "sbatch --account");
  submit->add_option("--qos", o->submit.qos, "sbatch --qos");
  auto* only_failed = submit->add_flag("--only-failed", o->submit.only_failed, "submit only the failed runs");
  submit->add_option("--index", o->id, "submit exactly these lines, e.g. 3 or 0,5-9")->excludes(only_failed);
  submit->add_flag("--dry-run", o->submit.dry_run, "print the batch script; write and submit nothing");
  submit->callback([o] {
    const run::Plan p = run::load_plan(o->dir);
    o->submit.indices = o->id.empty() ? std::vector<int64_t>{} : parse_indices(o->id);
    o->submit.vitbench = std::filesystem::read_symlink("/proc/self/exe");
    const run::slurm::Submission s = run::slurm::submit(p, o->submit);
    if (s.indices.empty()) {
      fmt::print("{}: nothing to submit: no {}run needs running (and none is queued twice)\n", p.dir.string(),
                 o->submit.only_failed ? "failed " : "");
      return;
    }
    if (o->submit.dry_run) {
      fmt::print("{}", s.script_text);
      fmt::print(stderr, "dry run: {} task(s), --array={}; nothing written or submitted\n", s.indices.size(),
                 s.array);
      return;
    }
    fmt::print("submitted job {}: {} task(s), --array={}; script {}, logs {}/slurm/%A_%a.out\n", s.job_id,
               s.indices.size(), s.array, s.script.string(), p.dir.string());
  });

  auto* status =
      cmd->add_subcommand("status",
                          "Summarise a planned sweep: complete, interrupted, failed, pending (from the run "
                          "folders), and its Slurm tasks still queued or running (squeue)");
  status->add_option("dir", o->dir, "sweep folder (holds sweep.jsonl)")
      ->required()
      ->check(CLI::ExistingDirectory);
  status->add_flag("-v,--verbose", o->verbose, "one line per run");
  status->callback([o] { print_status(run::load_plan(o->dir), o->verbose); });
}

}  // namespace vb::cli
