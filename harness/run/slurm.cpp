// Sweeps on Slurm: the array job's batch script, sbatch and squeue; see slurm.hpp and docs/cluster.md.
// Slurm's own machinery does the launching (job arrays, the `%` throttle); this file only chooses the lines,
// writes a script a user can read and edit, and records the job ids so that status can ask squeue about them.
#include "harness/run/slurm.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

#include "harness/provenance.hpp"

extern char** environ;

namespace vb::run::slurm {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// A program on PATH, or empty.
fs::path which(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string d; std::getline(dirs, d, ':');) {
    const fs::path candidate = fs::path(d.empty() ? "." : d) / program;
    if (access(candidate.c_str(), X_OK) == 0 && !fs::is_directory(candidate)) return candidate;
  }
  return {};
}

struct Output {
  int status = -1;  // exit status (-1: killed by a signal)
  std::string out, err;
};

// Runs a program with its stdout and stderr captured (both drained together, so neither pipe can fill and
// block).
Output capture(const fs::path& exe, const std::vector<std::string>& args) {
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) throw std::runtime_error("cannot create a pipe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]})
    posix_spawn_file_actions_addclose(&fa, fd);
  std::vector<std::string> all{exe.string()};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out_pipe[1]);
  close(err_pipe[1]);
  Output o;
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    throw std::runtime_error(fmt::format("cannot start {}", exe.string()));
  }
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&o.out, &o.err};
  for (int open_fds = 2; open_fds > 0;) {
    if (poll(fds, 2, -1) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  o.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// Single-quoted for bash: the paths go into a script a user may run by hand.
std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

fs::path jobs_file(const Plan& p) {
  return p.dir / "slurm" / "jobs.json";
}

json read_jobs(const Plan& p) {
  const fs::path f = jobs_file(p);
  if (!fs::exists(f)) return json::array();
  std::ifstream in(f);
  try {
    json j = json::parse(in);
    if (!j.is_array()) throw std::runtime_error("not a list");
    return j;
  } catch (const std::exception& e) {
    throw std::runtime_error(
        fmt::format("{}: not the list of submitted jobs `sweep submit` writes: {}", f.string(), e.what()));
  }
}

void write_text(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out)
      throw std::runtime_error(fmt::format("{}: cannot write (disk full or not writable?)", tmp.string()));
  }
  fs::rename(tmp, path);
}

// "20261205T183100Z": sortable, and free of the ':' that some file systems and tools dislike.
std::string timestamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string batch_script(const Plan& p, const SubmitOptions& opt, int cpus, const std::string& array) {
  const fs::path dir = fs::absolute(p.dir).lexically_normal();
  const std::string sweep = p.meta.value("sweep", "sweep"), tier = p.meta.value("tier", "tier");
  std::string s = "#!/bin/bash\n";
  s += fmt::format("# Written by `vitbench sweep submit` at {} for sweep {}, tier {} ({}).\n", utc_now(),
                   sweep, tier, dir.string());
  s += "# One array task = one line of sweep.jsonl (its index); each runs exactly what `vitbench sweep run` "
       "runs for\n"
       "# that line. Edit and `sbatch` it again if your site needs more (modules, --mpi=pmix: "
       "docs/cluster.md).\n";
  s += fmt::format("#SBATCH --job-name=vitbench-{}-{}\n", sweep, tier);
  s += fmt::format("#SBATCH --array={}\n", array);
  s += "#SBATCH --ntasks=1\n";
  s += fmt::format("#SBATCH --cpus-per-task={}\n", cpus);
  // Relative dataset paths in the manifest are relative to where the sweep was submitted (as with `sweep
  // run`).
  s += fmt::format("#SBATCH --chdir={}\n", fs::current_path().string());
  s += fmt::format("#SBATCH --output={}\n", (dir / "slurm" / "%A_%a.out").string());
  if (!opt.partition.empty()) s += fmt::format("#SBATCH --partition={}\n", opt.partition);
  if (!opt.time.empty()) s += fmt::format("#SBATCH --time={}\n", opt.time);
  // SIGTERM to vitbench (the batch shell execs it) 2 minutes before the time limit: it saves its state at the
  // step it reached (harness/stop_request.hpp) rather than losing what it trained since its last evaluation.
  s += "#SBATCH --signal=B:TERM@120\n";
  if (!opt.account.empty()) s += fmt::format("#SBATCH --account={}\n", opt.account);
  if (!opt.qos.empty()) s += fmt::format("#SBATCH --qos={}\n", opt.qos);
  s += "set -euo pipefail\n";
  s += "export OMP_NUM_THREADS=\"$SLURM_CPUS_PER_TASK\"\n";
  // --threads from the allocation: `sweep exec` refuses a line planned with another thread count.
  s += fmt::format(
      "exec {} --threads \"$SLURM_CPUS_PER_TASK\" sweep exec {} --index \"$SLURM_ARRAY_TASK_ID\" --quiet\n",
      sh_quote(fs::absolute(opt.vitbench).string()), sh_quote(dir.string()));
  return s;
}

}  // namespace

std::string array_spec(const std::vector<int64_t>& indices, int max_parallel) {
  std::string out;
  for (size_t i = 0; i < indices.size();) {
    size_t j = i;
    while (j + 1 < indices.size() && indices[j + 1] == indices[j] + 1) ++j;
    // fmt::format_to, not `"," + std::to_string(...)`: GCC 12 warns (-Wrestrict) on that operator+ falsely
    if (!out.empty()) out += ',';
    fmt::format_to(std::back_inserter(out), "{}", indices[i]);
    if (j > i) fmt::format_to(std::back_inserter(out), "-{}", indices[j]);
    i = j + 1;
  }
  if (max_parallel > 0) fmt::format_to(std::back_inserter(out), "%{}", max_parallel);
  return out;
}

bool has_jobs(const Plan& p) {
  return fs::exists(jobs_file(p)) && !which("squeue").empty();
}

std::map<int64_t, QueuedTask> queued(const Plan& p) {
  std::map<int64_t, QueuedTask> out;
  const fs::path squeue = which("squeue");
  if (squeue.empty() || !fs::exists(jobs_file(p))) return out;
  std::vector<std::string> ids;
  for (const auto& j : read_jobs(p)) ids.push_back(j.at("job_id").get<std::string>());
  if (ids.empty()) return out;
  // One call per job: squeue refuses a whole list when one id in it has left the queue ("Invalid job id").
  for (const auto& id : ids) {
    const Output o = capture(squeue, {"-h", "-r", "-j", id, "-o", "%F|%K|%T|%r"});
    if (o.status != 0) {
      if (o.err.find("Invalid job id") != std::string::npos) continue;  // finished and purged: not queued
      throw std::runtime_error(fmt::format("squeue -j {} failed (exit {}): {}", id, o.status, trim(o.err)));
    }
    std::stringstream lines(o.out);
    for (std::string line; std::getline(lines, line);) {
      std::vector<std::string> f;
      std::stringstream fields(line);
      for (std::string x; std::getline(fields, x, '|');) f.push_back(trim(x));
      if (f.size() < 3 || f[0] != id) continue;
      try {
        QueuedTask t{f[0], std::stoll(f[1]), f[2], f.size() > 3 ? f[3] : ""};
        out[t.index] = t;
      } catch (const std::exception&) {  // "N/A" or a range ("0-9%2") squeue did not expand: not one task
      }
    }
  }
  return out;
}

std::map<int64_t, QueuedTask> finished(const Plan& p) {
  std::map<int64_t, QueuedTask> out;
  const fs::path sacct = which("sacct"), scontrol = which("scontrol");
  if (sacct.empty() || scontrol.empty() || !fs::exists(jobs_file(p))) return out;
  // Without accounting sacct only says "accounting storage is disabled": ask the configuration instead of it.
  const Output config = capture(scontrol, {"show", "config"});
  const size_t at = config.out.find("AccountingStorageType");
  if (config.status != 0 || at == std::string::npos) return out;
  const std::string type = config.out.substr(at, config.out.find('\n', at) - at);
  if (type.find("accounting_storage/none") != std::string::npos) return out;
  std::vector<std::string> ids;
  for (const auto& j : read_jobs(p)) ids.push_back(j.at("job_id").get<std::string>());
  if (ids.empty()) return out;
  std::string list;
  for (const auto& id : ids) list += (list.empty() ? "" : ",") + id;
  const Output o = capture(sacct, {"-n", "-P", "-X", "-j", list, "-o", "JobID,State"});
  if (o.status != 0)
    return out;  // accounting configured but not answering: the run folders still tell the state
  std::map<std::string, size_t> order;  // job id -> position in jobs.json: a later submission wins
  for (size_t i = 0; i < ids.size(); ++i) order[ids[i]] = i;
  std::map<int64_t, size_t> from;
  std::stringstream lines(o.out);
  for (std::string line; std::getline(lines, line);) {
    const size_t bar = line.find('|'), under = line.find('_');
    if (bar == std::string::npos || under == std::string::npos || under > bar) continue;
    const std::string job = line.substr(0, under), task = line.substr(under + 1, bar - under - 1);
    if (!order.count(job) || task.empty() || task.find_first_not_of("0123456789") != std::string::npos)
      continue;  // not ours, or a range ("12_[4-9]") of tasks that never started
    const int64_t index = std::stoll(task);
    if (from.count(index) && from[index] > order[job]) continue;
    from[index] = order[job];
    std::string state = trim(line.substr(bar + 1));
    state = state.substr(0, state.find(' '));  // "CANCELLED by 0" -> "CANCELLED"
    out[index] = QueuedTask{job, index, state, ""};
  }
  return out;
}

Submission submit(const Plan& p, const SubmitOptions& opt) {
  const fs::path jsonl = p.dir / "sweep.jsonl";
  if (p.runs.empty()) throw std::runtime_error(fmt::format("{}: the manifest has no runs", jsonl.string()));
  check_binary(p);
  const int cpus = opt.cpus_per_task > 0 ? opt.cpus_per_task : p.runs.front().threads;
  for (const auto& r : p.runs) check_threads(p, r, cpus);
  if (opt.max_parallel < 0) throw std::runtime_error("--max-parallel must be > 0");

  const fs::path sbatch = which("sbatch");
  if (sbatch.empty() && !opt.dry_run)
    throw std::runtime_error(
        "sbatch is not on PATH: submitting needs Slurm's client commands on this machine (a login node); "
        "`--dry-run` prints the batch script without them, scripts/setup-cluster.sh installs a one-node test "
        "cluster");

  // The lines: not complete, not already waiting or running in an earlier submission of this folder.
  const std::map<int64_t, QueuedTask> in_queue = sbatch.empty() ? std::map<int64_t, QueuedTask>{} : queued(p);
  std::vector<int64_t> chosen;
  if (!opt.indices.empty()) {
    for (int64_t i : opt.indices) {
      if (i < 0 || i >= static_cast<int64_t>(p.runs.size()))
        throw std::runtime_error(fmt::format("{}: no line {} (the manifest has lines 0 to {})",
                                             jsonl.string(), i, p.runs.size() - 1));
      if (state_of(p, p.runs[i]) == RunState::complete)
        throw std::runtime_error(
            fmt::format("{}: line {} ({}) is complete already: a finished run is never run again",
                        jsonl.string(), i, p.runs[i].name));
      chosen.push_back(i);
    }
  } else {
    for (const auto& r : p.runs) {
      const RunState s = state_of(p, r);
      if (s == RunState::complete || (opt.only_failed && s != RunState::failed)) continue;
      chosen.push_back(r.index);
    }
  }
  std::sort(chosen.begin(), chosen.end());
  chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());
  std::vector<int64_t> indices;
  for (int64_t i : chosen) {
    if (auto q = in_queue.find(i); q != in_queue.end())
      fmt::print(stderr, "line {} ({}): already {} in job {}; not submitted again\n", i, p.runs[i].name,
                 q->second.state, q->second.job_id);
    else
      indices.push_back(i);
  }

  Submission sub;
  sub.indices = indices;
  if (indices.empty()) return sub;
  sub.array = array_spec(indices, opt.max_parallel);
  sub.script_text = batch_script(p, opt, cpus, sub.array);
  if (opt.dry_run) return sub;

  const fs::path slurm_dir = p.dir / "slurm";
  const bool made_dir = !fs::exists(slurm_dir);
  fs::create_directories(slurm_dir);
  sub.script = slurm_dir / ("submit-" + timestamp() + ".sbatch");
  for (int n = 1; fs::exists(sub.script); ++n)  // two submissions in one second
    sub.script = slurm_dir / fmt::format("submit-{}-{}.sbatch", timestamp(), n);
  write_text(sub.script, sub.script_text);
  // On any failure from here, nothing that looks like a submission stays behind.
  const auto undo = [&] {
    fs::remove(sub.script);
    if (made_dir && fs::is_empty(slurm_dir)) fs::remove(slurm_dir);
  };
  json jobs;
  Output o;
  try {
    jobs = read_jobs(p);  // before sbatch: a job submitted must be recorded
    o = capture(sbatch, {"--parsable", sub.script.string()});
  } catch (...) {
    undo();
    throw;
  }
  // --parsable prints "<job id>[;<cluster>]".
  const std::string job_id = trim(o.out.substr(0, o.out.find(';')));
  if (o.status != 0 || job_id.empty() || job_id.find_first_not_of("0123456789") != std::string::npos) {
    undo();
    throw std::runtime_error(fmt::format("sbatch refused the array job for {} (exit {}): {}", p.dir.string(),
                                         o.status, trim(o.err.empty() ? o.out : o.err)));
  }
  sub.job_id = job_id;
  jobs.push_back({{"job_id", job_id},
                  {"array", sub.array},
                  {"indices", indices},
                  {"script", sub.script.filename().string()},
                  {"submitted", utc_now()},
                  {"cpus_per_task", cpus}});
  write_text(jobs_file(p), jobs.dump(1) + "\n");
  return sub;
}

}  // namespace vb::run::slurm
