// `vitbench sweep plan|run|exec|status`: sweeps as data (harness/run/sweep.hpp, docs/sweeps.md). This file only
// parses flags and calls the library.
#include <fmt/format.h>

#include <filesystem>
#include <map>

#include "harness/cli/commands.hpp"
#include "harness/run/sweep.hpp"

namespace vb::cli {

namespace {

struct SweepOptions {
  run::PlanOptions plan;
  std::filesystem::path dir;  // run / exec / status: the sweep folder (holding sweep.json + sweep.jsonl)
  std::string id;             // exec: the run's id ...
  int64_t index = -1;         // ... or its line number (a Slurm array task id)
  bool retry_failed = false, quiet = false, verbose = false;
  std::filesystem::path collect;
};

void print_status(const run::Plan& p, bool verbose) {
  std::map<run::RunState, int> count;
  double left = 0;
  for (const auto& r : p.runs) {
    const run::RunState s = run::state_of(p, r);
    ++count[s];
    if (s != run::RunState::complete) left += r.est_seconds;
    if (verbose) fmt::print("{:<11} {:<44} {:>7.1f} min  {}\n", run::to_string(s), r.name, r.est_seconds / 60, r.pair);
  }
  fmt::print("{} tier {} ({}, commit {}, planned on {}): {} runs: {} complete, {} interrupted, {} failed, {} pending; "
             "about {:.1f} machine-hours left\n",
             p.meta.value("sweep", "?"), p.meta.value("tier", "?"), p.dir.string(),
             p.meta.value("commit", "?").substr(0, 12), p.meta.value("isa", "?"), p.runs.size(),
             count[run::RunState::complete], count[run::RunState::interrupted], count[run::RunState::failed],
             count[run::RunState::pending], left / 3600);
}

}  // namespace

void add_sweep(CLI::App& app, const Common& common) {
  auto o = std::make_shared<SweepOptions>();
  auto* cmd = app.add_subcommand("sweep", "Experiment sweeps (experiments/sweeps/*.json): plan a tier into a manifest, "
                                          "run it, run one line of it, show its state (docs/sweeps.md)");
  cmd->require_subcommand(1);

  auto* plan = cmd->add_subcommand("plan", "Expand one tier of a sweep into <out>/sweep.jsonl (one line per run) and "
                                           "<out>/sweep.json; validates everything before any run starts");
  plan->add_option("sweep", o->plan.sweep_file, "sweep file, e.g. experiments/sweeps/pe_ablation_vit.json")->required();
  plan->add_option("-t,--tier", o->plan.tier, "smoke, quick, standard or full")->capture_default_str();
  plan->add_option("-o,--out", o->plan.out, "sweep folder (default runs/sweeps/<sweep>/<tier>)");
  plan->add_flag("--allow-dirty", o->plan.allow_dirty, "plan with a binary built from a modified tree (development)");
  plan->add_flag("--force", o->plan.force, "replace a different manifest already in the folder");
  plan->callback([o, &common] {
    o->plan.threads = common.threads;
    const run::Plan p = run::plan(o->plan);
    fmt::print("{}: {} runs, about {:.1f} machine-hours on {}; manifest {}\n", p.meta.value("sweep", "?"),
               p.runs.size(), p.est_seconds() / 3600, p.meta.value("cpu_model", "?"),
               (p.dir / "sweep.jsonl").string());
  });

  auto* runc = cmd->add_subcommand("run", "Run every line of a planned sweep that is not complete, one process at a "
                                          "time; resumes interrupted runs, skips failed ones unless --retry-failed");
  runc->add_option("dir", o->dir, "sweep folder (holds sweep.jsonl)")->required()->check(CLI::ExistingDirectory);
  runc->add_flag("--retry-failed", o->retry_failed, "run failed runs again");
  runc->add_option("--collect", o->collect, "copy each finished record here (e.g. results/sweeps/<sweep>/<tier>)");
  runc->add_flag("-q,--quiet", o->quiet, "no progress bars in the runs");
  runc->callback([o] {
    const run::Plan p = run::load_plan(o->dir);
    const int failed = run::run_all(p, std::filesystem::read_symlink("/proc/self/exe"),
                                    {o->retry_failed, o->collect, !o->quiet});
    if (!o->collect.empty()) run::collect(p, o->collect);
    print_status(p, false);
    if (failed) throw std::runtime_error(fmt::format("{} run(s) failed in this call; their failed.json says why", failed));
  });

  auto* exec = cmd->add_subcommand("exec", "Run one line of a planned sweep in this process (what `sweep run` and a "
                                           "Slurm array task call)");
  exec->add_option("dir", o->dir, "sweep folder (holds sweep.jsonl)")->required()->check(CLI::ExistingDirectory);
  auto* id = exec->add_option("--id", o->id, "the run's id (sweep.jsonl)");
  exec->add_option("--index", o->index, "the run's line number, from 0 (e.g. $SLURM_ARRAY_TASK_ID)")->excludes(id);
  exec->add_flag("-q,--quiet", o->quiet, "no progress bars");
  exec->callback([o, &common] {
    const run::Plan p = run::load_plan(o->dir);
    const run::PlannedRun* r = nullptr;
    for (const auto& x : p.runs)
      if (x.id == o->id || x.index == o->index) r = &x;
    if (!r)
      throw std::runtime_error(fmt::format("{}: no run {} in the manifest ({} lines)", (o->dir / "sweep.jsonl").string(),
                                           o->id.empty() ? "--index " + std::to_string(o->index) : "--id " + o->id,
                                           p.runs.size()));
    if (!run::exec(p, *r, common.command, !o->quiet)) fmt::print(stderr, "{}: already complete\n", r->name);
  });

  auto* status = cmd->add_subcommand("status", "Summarise a planned sweep: complete, interrupted, failed, pending");
  status->add_option("dir", o->dir, "sweep folder (holds sweep.jsonl)")->required()->check(CLI::ExistingDirectory);
  status->add_flag("-v,--verbose", o->verbose, "one line per run");
  status->callback([o] { print_status(run::load_plan(o->dir), o->verbose); });
}

}  // namespace vb::cli
