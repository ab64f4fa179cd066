// Sweep planning, state and execution; see sweep.hpp and docs/sweeps.md.
#include "harness/run/sweep.hpp"

#include <fmt/format.h>
#include <omp.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

#include "harness/atomic_write.hpp"
#include "harness/build_info.hpp"
#include "harness/data/dataset.hpp"
#include "harness/file_lock.hpp"
#include "harness/h5read.hpp"
#include "harness/model_spec.hpp"
#include "harness/provenance.hpp"
#include "harness/run/rf.hpp"
#include "harness/run/sweep_throughput.hpp"
#include "harness/run/train.hpp"
#include "harness/stop_request.hpp"
#include "harness/train/trainer.hpp"
#include "models/config.hpp"
#include "models/config_fields.hpp"
#include "models/core/cpu.hpp"
#include "models/model.hpp"

extern char** environ;

namespace vb::run {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

const std::set<std::string> kTopKeys = {"sweep",         "description", "base",  "arms",
                                        "reference_arm", "axes",        "tiers", "seconds_per_step",
                                        "claims",        "rf",          "kind"};
const std::set<std::string> kRfKeys = {"when", "images", "batch", "layers", "map_downsample", "seconds"};
const std::set<std::string> kArmKeys = {"name", "model", "overrides", "set"};
const std::set<std::string> kTierKeys = {"set", "axes",      "arms",      "arm_models",
                                         "rf",  "max_hours", "plan_only", "note"};
const std::set<std::string> kTiers = {"smoke", "quick", "standard", "full"};

[[noreturn]] void refuse(const fs::path& file, const std::string& field, const std::string& message) {
  throw std::runtime_error(fmt::format("{}: {}: {}", file.string(), field, message));
}

void check_keys(const fs::path& file, const std::string& where, const json& j,
                const std::set<std::string>& allowed) {
  if (!j.is_object()) refuse(file, where, "must be a JSON object");
  for (const auto& [k, v] : j.items())
    if (!allowed.count(k))
      refuse(file, where.empty() ? k : where + "." + k,
             fmt::format("unknown key (known: {})", fmt::join(allowed, ", ")));
}

json read_json(const fs::path& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open the {}", path.string(), what));
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw std::runtime_error(fmt::format("{}: not valid JSON: {}", path.string(), e.what()));
  }
}

// Writes `text` to path.tmp, then renames: a reader never sees half a file.
void write_atomically(const fs::path& path, const std::string& text) {
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

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// "seed0-n1000" from {"seed": 0, "train_size": 1000}; keys in sorted order.
std::string axes_label(const json& axes) {
  std::string out;
  for (const auto& [k, v] : axes.items()) {
    const std::string key = k == "train_size" ? "n" : k;
    std::string value = v.is_string() ? v.get<std::string>() : v.dump();
    for (char& c : value)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_') c = '_';
    out += (out.empty() ? "" : "-") + key + value;
  }
  return out;
}

std::string pair_label(const json& axes) {
  std::string out;
  for (const auto& [k, v] : axes.items()) out += (out.empty() ? "" : ",") + k + "=" + v.dump();
  return out;
}

// Every combination of the axes' values, in sorted key order.
std::vector<json> cartesian(const json& axes) {
  std::vector<json> out{json::object()};
  for (const auto& [k, values] : axes.items()) {
    std::vector<json> next;
    for (const json& partial : out)
      for (const json& v : values) {
        json j = partial;
        j[k] = v;
        next.push_back(j);
      }
    out = std::move(next);
  }
  return out;
}

// Steps a run takes: its budget in steps, or epochs x batches of its training images.
int64_t planned_steps(const train::TrainConfig& c, int64_t train_images) {
  return c.steps > 0 ? c.steps : c.epochs * (train_images / c.batch);
}

std::string manifest_text(const std::vector<PlannedRun>& runs) {
  std::string out;
  for (const auto& r : runs) out += r.to_json().dump() + "\n";
  return out;
}

}  // namespace

json PlannedRun::to_json() const {
  json j = {{"id", id},
            {"index", index},
            {"name", name},
            {"arm", arm},
            {"model", config.value("model", "")},
            {"axes", axes},
            {"pair", pair},
            {"config", config},
            {"threads", threads},
            {"est_seconds", est_seconds},
            {"output", name}};
  if (!rf.empty()) j["rf"] = rf;
  return j;
}

PlannedRun PlannedRun::from_json(const json& j) {
  PlannedRun r;
  r.id = j.at("id");
  r.index = j.at("index");
  r.name = j.at("name");
  r.arm = j.at("arm");
  r.axes = j.at("axes");
  r.pair = j.at("pair");
  r.config = j.at("config");
  r.threads = j.at("threads");
  r.est_seconds = j.at("est_seconds");
  r.rf = j.value("rf", json::object());
  return r;
}

double Plan::est_seconds() const {
  double s = 0;
  for (const auto& r : runs) s += r.est_seconds;
  return s;
}

int jobs_at_once(const std::string& kind, int threads) {
  if (kind == "throughput" || threads < 1) return 1;
  return std::max(1, omp_get_num_procs() / threads);
}

int Plan::default_jobs() const {
  return jobs_at_once(meta.value("kind", "train"), meta.value("threads", 0));
}

namespace {

// One training line: its settings (TrainConfig keys), the model they build, the data they read and the
// planned seconds. A plan-only tier (a cluster recipe, e.g. ImageNet) is not checked against data or timed
// here.
std::pair<json, double> check_train_line(const fs::path& file, const std::string& where, const json& c,
                                         const json& spec, bool plan_only, int threads,
                                         std::set<std::string>& built,
                                         std::map<std::string, int64_t>& train_images) {
  train::TrainConfig tc;
  try {
    tc = train::TrainConfig::from_json(c);
    ModelConfig mc = resolve_model(tc.model, tc.overrides);
    if (tc.drop_path >= 0) mc.drop_path = tc.drop_path;
    if (built.insert(to_json(mc).dump()).second)
      create_model(mc);  // architecture checks (e.g. embed_dim divisible by heads), once per distinct model
  } catch (const std::exception& e) {
    refuse(file, where, e.what());
  }
  // The data: the dataset exists, and the subset fits in what validation leaves.
  double est = 0;
  if (!plan_only) {
    const std::string data_key = fmt::format("{}|{}", tc.dataset, tc.val_size);
    if (!train_images.count(data_key)) {
      try {
        const data::Dataset ds = data::load_dataset(tc.dataset, {tc.cache_dir, false});
        train_images[data_key] = ds.train.size() - tc.val_size;
      } catch (const std::exception& e) {
        refuse(file, where + " dataset", e.what());
      }
    }
    const int64_t available = train_images[data_key];
    if (tc.train_size > available)
      refuse(
          file, where + " train_size",
          fmt::format("{} is more than the {} training images of {} left after holding out {} for validation",
                      tc.train_size, available, tc.dataset, tc.val_size));
    const int64_t n = tc.train_size > 0 ? tc.train_size : available;
    if (n < tc.batch)
      refuse(file, where + " train_size",
             fmt::format("{} images are fewer than one batch of {}", n, tc.batch));

    // Planned time from the measured end-to-end seconds per step (evaluation included) of the model, at the
    // threads it was measured with: a run with other threads is taken to scale inversely with them (an
    // approximation; docs/sweeps.md).
    const json& sps = spec["seconds_per_step"];
    if (!sps.contains(tc.model))
      refuse(file, "seconds_per_step",
             fmt::format("has no entry for {} (measure one run of it: docs/sweeps.md)", tc.model));
    const json& m = sps[tc.model];
    const int measured_threads = m.value("threads", threads);
    if (measured_threads < 1)
      refuse(file, "seconds_per_step." + tc.model + ".threads",
             fmt::format("{} is not a thread count (the threads the seconds were measured with)",
                         measured_threads));
    const double per_step = m.at("seconds").get<double>() * static_cast<double>(tc.batch) /
                            m.at("batch").get<double>() * measured_threads / threads;
    est = per_step * static_cast<double>(planned_steps(tc, n));
  }

  return {tc.to_json(), est};
}

// One throughput line (sweep_throughput.hpp) and its planned seconds; none when it is left out on this CPU or
// for its framework (throughput_line_left_out).
std::optional<std::pair<json, double>> check_throughput_plan_line(const fs::path& file,
                                                                  const std::string& where, const json& c,
                                                                  const json& spec, bool plan_only,
                                                                  std::set<std::string>& built,
                                                                  std::string& why_not) {
  json line;
  try {
    line = check_throughput_line(c, built);
  } catch (const std::exception& e) {
    refuse(file, where, e.what());
  }
  why_not = throughput_line_left_out(line);
  if (!why_not.empty()) return std::nullopt;
  if (plan_only) return std::pair{line, 0.0};
  const std::string model = line["model"];
  if (!spec["seconds_per_step"].contains(model))
    refuse(file, "seconds_per_step", fmt::format("has no entry for {} (docs/sweeps.md)", model));
  try {
    return std::pair{line, throughput_line_seconds(line, spec["seconds_per_step"][model])};
  } catch (const json::exception& e) {
    refuse(file, "seconds_per_step." + model, e.what());
  }
}

// The sweep file with its top-level checks done: keys, kind, the tier asked for, every tier's keys.
struct SweepFile {
  json spec, tier;  // tier: the one asked for
  std::string name, kind;
  bool plan_only = false;
};

SweepFile read_sweep(const PlanOptions& opt) {
  const fs::path& file = opt.sweep_file;
  SweepFile f;
  f.spec = read_json(file, "sweep file");
  const json& spec = f.spec;
  check_keys(file, "", spec, kTopKeys);
  for (const char* k : {"sweep", "base", "arms", "tiers", "seconds_per_step"})
    if (!spec.contains(k)) refuse(file, k, "missing");
  f.name = spec["sweep"].get<std::string>();
  f.kind = spec.value("kind", "train");  // train: training runs; throughput: sweep_throughput.hpp
  if (f.kind != "train" && f.kind != "throughput")
    refuse(file, "kind", fmt::format("'{}' (train or throughput)", f.kind));
  if (!spec["tiers"].is_object()) refuse(file, "tiers", "must be a JSON object of tiers");
  if (!spec["tiers"].contains(opt.tier)) {
    std::vector<std::string> have;
    for (const auto& [t, v] : spec["tiers"].items()) have.push_back(t);
    refuse(file, "tiers",
           fmt::format("has no tier '{}' (this sweep has: {})", opt.tier, fmt::join(have, ", ")));
  }
  for (const auto& [t, tier] : spec["tiers"].items()) {
    if (!kTiers.count(t)) refuse(file, "tiers." + t, "unknown tier (smoke, quick, standard or full)");
    check_keys(file, "tiers." + t, tier, kTierKeys);
  }
  f.tier = spec["tiers"][opt.tier];
  f.plan_only = f.tier.value("plan_only", false);
  return f;
}

// The base recipe with the tier's settings on top, and the axes with the tier's values.
std::pair<json, json> tier_base_and_axes(const fs::path& file, const SweepFile& f) {
  json base = f.spec["base"];
  if (!base.is_object())
    refuse(file, "base", "must be a JSON object of training settings (docs/training.md)");
  // (named: a range-for over .items() of a temporary would dangle)
  const json tier_set = f.tier.value("set", json::object()), tier_axes = f.tier.value("axes", json::object());
  for (const auto& [k, v] : tier_set.items()) base[k] = v;
  json axes = f.spec.value("axes", json::object());
  for (const auto& [k, v] : tier_axes.items()) axes[k] = v;
  for (const auto& [k, v] : axes.items())
    if (!v.is_array() || v.empty()) refuse(file, "axes." + k, "must be a non-empty list of values");
  return {base, axes};
}

// The arms this tier runs: every arm named once, the reference arm one of them, and the tier's subset of them
// if it has one (e.g. smoke: no PyTorch).
std::set<std::string> tier_arms(const fs::path& file, const SweepFile& f, const std::string& tier_name) {
  const json& arms = f.spec["arms"];
  if (!arms.is_array() || arms.empty()) refuse(file, "arms", "must be a non-empty list");
  std::set<std::string> arm_names;
  for (size_t i = 0; i < arms.size(); ++i) {
    check_keys(file, fmt::format("arms[{}]", i), arms[i], kArmKeys);
    if (!arms[i].contains("name")) refuse(file, fmt::format("arms[{}]", i), "has no name");
    if (!arm_names.insert(arms[i]["name"].get<std::string>()).second)
      refuse(file, fmt::format("arms[{}].name", i), "appears twice");
  }
  if (f.spec.contains("reference_arm") && !arm_names.count(f.spec["reference_arm"].get<std::string>()))
    refuse(file, "reference_arm",
           fmt::format("'{}' is not an arm", f.spec["reference_arm"].get<std::string>()));
  if (!f.tier.contains("arms")) return arm_names;
  const auto subset = f.tier["arms"].get<std::set<std::string>>();
  for (const auto& a : subset)
    if (!arm_names.count(a))
      refuse(file, fmt::format("tiers.{}.arms", tier_name), fmt::format("'{}' is not an arm", a));
  return subset;
}

// The receptive-field step of the tier (or the sweep's), checked; empty when there is none.
json rf_step(const fs::path& file, const SweepFile& f) {
  const json rf = f.tier.contains("rf") ? f.tier["rf"] : f.spec.value("rf", json::object());
  if (!rf.empty()) {
    check_keys(file, "rf", rf, kRfKeys);
    if (!rf.contains("images") || rf["images"].get<int64_t>() <= 0) refuse(file, "rf.images", "must be > 0");
  }
  return rf;
}

// One run's settings: the base, then the arm's model, overrides and settings, then the axes' values.
json run_settings(const json& base, const json& arm, const json& tier, const json& combo) {
  const std::string arm_name = arm["name"];
  json c = base;
  if (arm.contains("model")) c["model"] = arm["model"];
  if (tier.contains("arm_models") && tier["arm_models"].contains(arm_name))
    c["model"] = tier["arm_models"][arm_name];
  if (arm.contains("overrides")) {
    json o = c.value("overrides", json::array());
    for (const auto& v : arm["overrides"]) o.push_back(v);
    c["overrides"] = o;
  }
  const json arm_set = arm.value("set", json::object());
  for (const auto& [k, v] : arm_set.items()) c[k] = v;
  for (const auto& [k, v] : combo.items()) c[k] = v;
  return c;
}

// The rf step joins the runs whose axis values are all listed in rf.when.
void attach_rf(PlannedRun& r, const json& rf, const json& combo) {
  if (rf.empty()) return;
  const json when = rf.value("when", json::object());
  for (const auto& [k, values] : when.items()) {
    bool any = false;
    for (const auto& v : values) any |= combo.contains(k) && combo[k] == v;
    if (!any) return;
  }
  r.rf = rf;
  r.rf.erase("when");
  r.est_seconds += rf.value("seconds", 0.0);
}

// The run's id (a hash of its resolved config and threads) and folder name.
void name_run(PlannedRun& r, const json& combo, int threads) {
  char hex[17];
  std::snprintf(
      hex, sizeof hex, "%016llx",
      static_cast<unsigned long long>(fnv1a64(r.config.dump() + "|threads=" + std::to_string(threads))));
  r.id = std::string(hex).substr(0, 12);
  const std::string label = axes_label(combo);
  r.name = r.arm + (label.empty() ? "" : "-" + label) + "-" + r.id.substr(0, 8);
}

// Every run of the tier: axes combinations outer, arms inner, each checked (model built once per distinct
// config, data and planned time); throughput lines this CPU or framework cannot run go to left_out.
std::vector<PlannedRun> expand_runs(const fs::path& file, const SweepFile& f, const std::string& tier_name,
                                    const json& base, const json& axes, const std::set<std::string>& arms_run,
                                    int threads, json& left_out) {
  const json rf = rf_step(file, f);
  std::map<std::string, int64_t> train_images;  // dataset spec + val_size -> images left for training
  std::set<std::string> built;                  // model configs already checked by building them
  std::vector<PlannedRun> runs;
  for (const json& combo : cartesian(axes)) {
    for (const json& arm : f.spec["arms"]) {
      const std::string arm_name = arm["name"];
      if (!arms_run.count(arm_name)) continue;
      const std::string where = fmt::format("tier {} arm {} ({})", tier_name, arm_name, pair_label(combo));
      const json c = run_settings(base, arm, f.tier, combo);
      PlannedRun r;
      if (f.kind == "throughput") {
        std::string why_not;
        const auto line = check_throughput_plan_line(file, where, c, f.spec, f.plan_only, built, why_not);
        if (!line) {
          left_out.push_back(where + ": " + why_not);
          continue;
        }
        std::tie(r.config, r.est_seconds) = *line;
      } else {
        std::tie(r.config, r.est_seconds) =
            check_train_line(file, where, c, f.spec, f.plan_only, threads, built, train_images);
      }
      r.threads = threads;
      r.arm = arm_name;
      r.axes = combo;
      r.pair = pair_label(combo);
      attach_rf(r, rf, combo);
      name_run(r, combo, threads);
      r.index = static_cast<int64_t>(runs.size());
      runs.push_back(std::move(r));
    }
  }
  if (f.kind == "throughput") {  // rounds outermost: the frameworks alternate, A B A B, so drift hits both
    std::stable_sort(runs.begin(), runs.end(), [](const PlannedRun& a, const PlannedRun& b) {
      return a.axes.value("round", 0) < b.axes.value("round", 0);
    });
    for (size_t i = 0; i < runs.size(); ++i) runs[i].index = static_cast<int64_t>(i);
  }
  if (runs.empty())
    refuse(file, "tiers." + tier_name, "plans no run on this CPU (left out: " + left_out.dump() + ")");
  std::set<std::string> ids;
  for (const auto& r : runs)
    if (!ids.insert(r.id).second)
      refuse(file, "axes", fmt::format("two runs resolve to the same config ({})", r.name));
  return runs;
}

// sweep.json: what was planned, from which file, with which binary, on which CPU.
json plan_meta(const PlanOptions& opt, const SweepFile& f, const json& axes,
               const std::set<std::string>& arms_run, const Plan& p, int threads, const json& left_out) {
  const Provenance prov = collect_provenance();
  json meta = {{"sweep", f.name},
               {"kind", f.kind},
               {"tier", opt.tier},
               {"description", f.spec.value("description", "")},
               {"note", f.tier.value("note", "")},
               {"plan_only", f.plan_only},
               {"source", opt.sweep_file.string()},
               {"reference_arm", f.spec.value("reference_arm", "")},
               {"arms", json::array()},
               {"axes", axes},
               {"claims", f.spec.value("claims", json::array())},
               {"commit", kGitCommit},
               {"dirty", kGitDirty},
               {"isa", prov.isa},
               {"cpu_model", prov.cpu_model},
               {"threads", threads},
               {"runs", p.runs.size()},
               {"est_hours", p.est_seconds() / 3600},
               {"created", utc_now()}};
  for (const auto& arm : f.spec["arms"])
    if (arms_run.count(arm["name"])) meta["arms"].push_back(arm["name"]);
  if (!left_out.empty()) meta["left_out"] = left_out;
  return meta;
}

// Manifests are immutable: the same plan again keeps the folder as it is; a different one needs --force.
Plan write_plan(Plan p, const PlanOptions& opt) {
  const std::string text = manifest_text(p.runs);
  const fs::path manifest = p.dir / "sweep.jsonl";
  if (fs::exists(manifest)) {
    std::ifstream in(manifest);
    const std::string old((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (old == text) return load_plan(p.dir);  // the same plan: keep it (and its sweep.json) as it is
    if (!opt.force)
      throw std::runtime_error(
          fmt::format("{}: a different manifest is there already (manifests are immutable); plan "
                      "into another --out, or pass --force to replace it",
                      manifest.string()));
  }
  fs::create_directories(p.dir);
  write_atomically(p.dir / "sweep.json", p.meta.dump(1) + "\n");
  write_atomically(manifest, text);
  return p;
}

Plan plan_checked(const PlanOptions& opt) {
  const fs::path& file = opt.sweep_file;
  const SweepFile f = read_sweep(opt);
  if (kGitDirty && !opt.allow_dirty)
    throw std::runtime_error(
        fmt::format("this vitbench was built from a modified tree (commit {} + changes): a sweep's runs must "
                    "come from a binary "
                    "built from a clean checkout of one commit on main (scripts/sweep.sh builds one); "
                    "--allow-dirty plans anyway "
                    "for development, and the report flags such records",
                    std::string(kGitCommit).substr(0, 12)));
  const auto [base, axes] = tier_base_and_axes(file, f);
  const std::set<std::string> arms_run = tier_arms(file, f, opt.tier);
  const int threads = opt.threads > 0 ? opt.threads : omp_get_max_threads();
  json left_out =
      json::array();  // throughput lines left out (a dtype this CPU lacks; ORT outside f32 inference)
  Plan p;
  p.runs = expand_runs(file, f, opt.tier, base, axes, arms_run, threads, left_out);
  const int jobs = jobs_at_once(f.kind, threads);
  const double hours = p.est_seconds() / jobs / 3600;
  if (f.tier.contains("max_hours") && hours > f.tier["max_hours"].get<double>())
    refuse(file, fmt::format("tiers.{}.max_hours", opt.tier),
           fmt::format("the plan needs an estimated {:.1f} machine-hours ({} runs, {} at once on {} cores), "
                       "above the tier's limit of {}",
                       hours, p.runs.size(), jobs, omp_get_num_procs(), f.tier["max_hours"].get<double>()));
  p.dir = opt.out.empty() ? fs::path("runs/sweeps") / f.name / opt.tier : opt.out;
  p.meta = plan_meta(opt, f, axes, arms_run, p, threads, left_out);
  if (!left_out.empty())
    fmt::print(stderr,
               "plan: left out {} line(s): a dtype this CPU lacks, or ONNX Runtime outside f32 inference "
               "(sweep.json left_out)\n",
               left_out.size());
  return write_plan(std::move(p), opt);
}

}  // namespace

Plan plan(const PlanOptions& opt) {
  try {
    return plan_checked(opt);
  } catch (const json::exception& e) {  // a value of the wrong JSON type somewhere in the sweep file
    throw std::runtime_error(
        fmt::format("{}: a value has the wrong type: {}", opt.sweep_file.string(), e.what()));
  }
}

Plan load_plan(const fs::path& dir) {
  Plan p;
  p.dir = dir;
  p.meta = read_json(dir / "sweep.json", "sweep metadata (written by `vitbench sweep plan`)");
  std::ifstream in(dir / "sweep.jsonl");
  if (!in)
    throw std::runtime_error(fmt::format("{}: cannot open the manifest", (dir / "sweep.jsonl").string()));
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    try {
      p.runs.push_back(PlannedRun::from_json(json::parse(line)));
    } catch (const json::exception& e) {
      throw std::runtime_error(
          fmt::format("{}:{}: not a manifest line: {}", (dir / "sweep.jsonl").string(), n, e.what()));
    }
  }
  return p;
}

const char* to_string(RunState s) {
  switch (s) {
    case RunState::pending:
      return "pending";
    case RunState::interrupted:
      return "interrupted";
    case RunState::failed:
      return "failed";
    case RunState::complete:
      return "complete";
  }
  return "?";
}

fs::path run_dir(const Plan& p, const PlannedRun& r) {
  return p.dir / r.name;
}

RunState state_of(const Plan& p, const PlannedRun& r) {
  const fs::path d = run_dir(p, r);
  if (fs::exists(d / "record.h5")) {
    try {
      if (H5Input(d / "record.h5").root_attr_i64("complete") == 1 &&
          (r.rf.empty() || (fs::exists(d / "rf.h5") && fs::exists(d / "rf_init.h5"))))
        return RunState::complete;
    } catch (const std::exception&) {  // unreadable: not a result
    }
  }
  if (fs::exists(d / "failed.json")) return RunState::failed;
  if (fs::exists(d / "checkpoint.h5")) return RunState::interrupted;
  return RunState::pending;
}

RunProgress progress_of(const Plan& p, const PlannedRun& r, RunState s) {
  RunProgress g;
  const fs::path d = run_dir(p, r);
  g.running = s != RunState::complete && lock_held(folder_lock_path(d));
  try {
    if (s == RunState::complete && p.meta.value("kind", "train") == "train") {
      const H5Input rec(d / "record.h5");
      g.wall_s = rec.root_attr_f64("run_wall_s");
      try {
        rec.root_attr_i64("sessions");   // run_wall_s covers every session
      } catch (const std::exception&) {  // the last session only: the training time bounds it from below
        g.wall_s = std::max(g.wall_s, rec.root_attr_f64("train_wall_s"));
      }
    } else if (s != RunState::complete && fs::exists(d / "checkpoint.h5")) {
      const H5Input ckpt(d / "checkpoint.h5");
      const double step = static_cast<double>(ckpt.read_i64_scalar("train_state/global_step"));
      const double total =
          json::parse(ckpt.root_attr("config")).at("resolved").at("total_steps").get<double>();
      if (total > 0) g.done = std::clamp(step / total, 0.0, 1.0);
    }
  } catch (const std::exception&) {  // a file being replaced, damaged or of an older layout: no figure
  }
  return g;
}

TimeLeft time_left(const Plan& p, const std::vector<RunState>& states,
                   const std::vector<RunProgress>& progress) {
  TimeLeft t;
  const auto training_s = [](const PlannedRun& r) {  // the planned seconds less the rf step's
    return std::max(0.0, r.est_seconds - r.rf.value("seconds", 0.0));
  };
  std::map<std::string, std::pair<double, double>> sums;   // model -> (measured, planned)
  std::vector<std::pair<const PlannedRun*, double>> left;  // run, share of its training still to do
  for (size_t i = 0; i < p.runs.size(); ++i) {
    const PlannedRun& r = p.runs[i];
    if (states.at(i) != RunState::complete) {
      left.emplace_back(&r, 1 - progress.at(i).done);
    } else if (progress.at(i).wall_s >= 0) {
      auto& [measured, planned] = sums[r.config.value("model", "")];
      measured += progress[i].wall_s;
      planned += training_s(r);
      ++t.measured;
    }
  }
  double measured = 0, planned = 0;
  for (const auto& [model, ms] : sums) {
    if (ms.second > 0) t.ratio[model] = ms.first / ms.second;
    measured += ms.first;
    planned += ms.second;
  }
  const double overall = planned > 0 ? measured / planned : -1;
  if (overall > 0) t.paced_s = 0;
  for (const auto& [r, share] : left) {
    const double rf_s = r->est_seconds - training_s(*r);
    t.planned_s += training_s(*r) * share + rf_s;
    if (overall <= 0) continue;
    const auto it = t.ratio.find(r->config.value("model", ""));
    t.paced_s += training_s(*r) * share * (it != t.ratio.end() ? it->second : overall) + rf_s;
  }
  return t;
}

namespace {

// Receptive fields of the run's final weights (its last checkpoint) and of the same model at random init (the
// run's seed), on `images` test images of its dataset: rf.h5 and rf_init.h5 in the run folder.
void rf_step(const PlannedRun& r, const train::TrainConfig& cfg, const fs::path& d,
             const std::string& command, bool progress) {
  RfOptions ro;
  ro.model = resolve_model(cfg.model, cfg.overrides);
  ro.overrides = cfg.overrides;
  ro.adapt_to_dataset = true;
  ro.dataset = cfg.dataset;
  ro.cache_dir = cfg.cache_dir;
  ro.images = r.rf.at("images").get<int64_t>();
  ro.batch = r.rf.value("batch", int64_t{8});
  ro.map_downsample = r.rf.value("map_downsample", int64_t{1});
  ro.layers = r.rf.value("layers", std::vector<std::string>{});
  ro.upsample = cfg.upsample;
  ro.command = command;
  ro.progress = progress;
  if (!fs::exists(d / "rf.h5")) {
    ro.weights = (d / "checkpoint.h5").string();
    ro.output = d / "rf.h5";
    measure_rf_file(ro);
  }
  if (!fs::exists(d / "rf_init.h5")) {
    ro.weights.clear();
    ro.seed = cfg.seed;
    ro.output = d / "rf_init.h5";
    measure_rf_file(ro);
  }
}

}  // namespace

void check_binary(const Plan& p) {
  const std::string commit = p.meta.at("commit");
  if (commit != kGitCommit || p.meta.value("dirty", false) != kGitDirty)
    throw std::runtime_error(
        fmt::format("{}: this sweep was planned with a vitbench built at commit {}{}; this one is {}{}: one "
                    "sweep, one binary "
                    "(scripts/sweep.sh builds the planned commit)",
                    (p.dir / "sweep.json").string(), commit.substr(0, 12),
                    p.meta.value("dirty", false) ? " (modified)" : "", std::string(kGitCommit).substr(0, 12),
                    kGitDirty ? " (modified)" : ""));
}

void check_threads(const Plan& p, const PlannedRun& r, int threads) {
  if (threads > 0 && threads != r.threads)
    throw std::runtime_error(fmt::format(
        "{}: line {} ({}): threads: planned with {}, asked to run with {}: results depend on the thread "
        "count, so "
        "run it with {} (a Slurm task: --cpus-per-task {}) or plan the sweep again with --threads {}",
        (p.dir / "sweep.jsonl").string(), r.index, r.name, r.threads, threads, r.threads, r.threads,
        threads));
}

std::string KindConflict::why(const PlannedRun& r) const {
  return fmt::format(
      "its pair ({}) ran on {} ({}); this CPU is {}: paired arms must run on the same CPU kind", r.pair, kind,
      pair_run, here);
}

std::optional<KindConflict> pair_kind_conflict(const Plan& p, const PlannedRun& r) {
  // A finished run of the same pair fixes the ISA and the CPU model (two CPUs with one ISA, e.g. an AMX-less
  // Intel Xeon and an AMD EPYC both at avx512_core_bf16, may block GEMMs differently).
  const std::string here = fmt::format("{} on {}", cpu_isa_string(), cpu_model());
  for (const auto& other : p.runs) {
    if (other.pair != r.pair || other.id == r.id || state_of(p, other) != RunState::complete) continue;
    const H5Input rec(run_dir(p, other) / "record.h5");
    const std::string kind = fmt::format("{} on {}", rec.root_attr("isa"), rec.root_attr("cpu_model"));
    if (kind != here) return KindConflict{other.name, kind, here};
  }
  return std::nullopt;
}

bool exec(const Plan& p, const PlannedRun& r, const std::string& command, bool progress) {
  const fs::path d = run_dir(p, r);
  if (state_of(p, r) == RunState::complete) return false;
  check_binary(p);
  if (const auto conflict = pair_kind_conflict(p, r))
    throw std::runtime_error(
        fmt::format("{}: {}: run it on a machine of that kind", r.name, conflict->why(r)));
  fs::create_directories(d);
  if (fs::exists(d / "record.h5"))
    H5Input(d / "record.h5").require_complete();  // never built upon a torn record
  write_atomically(d / "config.json", r.config.dump(1) + "\n");
  fs::remove(d / "failed.json");
  if (omp_get_max_threads() != r.threads) omp_set_num_threads(r.threads);
  const bool throughput = p.meta.value("kind", "train") == "throughput";
  TrainOptions to;
  train::TrainConfig cfg;
  if (!throughput) {
    to.settings = r.config;
    to.output = d;
    to.progress = progress;
    to.resume = fs::exists(d / "checkpoint.h5");
    to.command = command;
    cfg = train_config(to);
  }
  try {
    if (throughput) {
      exec_throughput_line(r.config, r.threads, d, command);
    } else {
      if (!fs::exists(d / "record.h5")) run_training(to);
      if (!r.rf.empty()) {
        if (stop_requested())  // asked to stop during the last evaluation: the record stands
          throw Stopped(
              fmt::format("{}: stopped by {} before its rf step, which runs when the sweep runs again",
                          r.name, stop_signal_name()));
        rf_step(r, cfg, d, command, progress);
      }
    }
  } catch (const Stopped&) {
    throw;  // not a failure: the run resumes from its checkpoint
  } catch (const std::exception& e) {
    const json failed = {{"id", r.id},        {"name", r.name},          {"error", e.what()},
                         {"time", utc_now()}, {"isa", cpu_isa_string()}, {"commit", kGitCommit},
                         {"command", command}};
    write_atomically(d / "failed.json", failed.dump(1) + "\n");
    throw;
  }
  return true;
}

void collect(const Plan& p, const fs::path& dest) {
  fs::create_directories(dest);
  copy_file_atomically(p.dir / "sweep.json", dest / "sweep.json");
  copy_file_atomically(p.dir / "sweep.jsonl", dest / "sweep.jsonl");
  for (const auto& r : p.runs)
    if (state_of(p, r) == RunState::complete) {
      for (const auto& [from, to] :
           {std::pair{"record.h5", ".h5"}, {"rf.h5", ".rf.h5"}, {"rf_init.h5", ".rf_init.h5"}})
        if (fs::exists(run_dir(p, r) / from) && !fs::exists(dest / (r.name + to)))
          copy_file_atomically(run_dir(p, r) / from, dest / (r.name + to));  // never half a file in dest
    }
}

int run_all(const Plan& p, const fs::path& vitbench, const RunAllOptions& opt) {
  if (p.meta.value("plan_only", false))
    throw std::runtime_error(fmt::format("{}: tier '{}' is planned, not run here ({})",
                                         (p.dir / "sweep.json").string(), p.meta.value("tier", ""),
                                         p.meta.value("note", "a cluster recipe")));
  const bool throughput = p.meta.value("kind", "train") == "throughput";
  if (opt.jobs < 0) throw std::invalid_argument(fmt::format("sweep run: --jobs {} (at least 1)", opt.jobs));
  const int jobs = opt.jobs == 0 ? p.default_jobs() : opt.jobs;
  if (throughput && jobs > 1)
    throw std::invalid_argument(
        fmt::format("{}: a throughput sweep runs one line at a time (--jobs {}): each "
                    "measurement needs the machine to itself",
                    p.dir.string(), jobs));
  const FileLock lock(folder_lock_path(p.dir), "sweep run folder " + p.dir.string());  // one runner per sweep
  if (throughput) set_throughput_environment();                                        // for the children
  if (jobs > 1)
    fmt::print(stderr, "sweep run: {} runs at once, {} thread(s) each\n", jobs, p.meta.value("threads", 0));
  for (int64_t i : opt.indices)
    if (i < 0 || i >= static_cast<int64_t>(p.runs.size()))
      throw std::invalid_argument(fmt::format("{}: --index: no line {} (the manifest has lines 0 to {})",
                                              (p.dir / "sweep.jsonl").string(), i, p.runs.size() - 1));
  const std::set<int64_t> only(opt.indices.begin(), opt.indices.end());
  // Each model's measured / planned training time so far (sweep status's pace): quoted beside the plan's
  // estimate.
  const TimeLeft pace = [&] {
    std::vector<RunState> states;
    std::vector<RunProgress> progress;
    for (const auto& r : p.runs) progress.push_back(progress_of(p, r, states.emplace_back(state_of(p, r))));
    return time_left(p, states, progress);
  }();
  int failures = 0;
  int waiting = 0;  // lines whose pair finished on another CPU kind: pending, for a machine of that kind
  const size_t n = p.runs.size();
  struct Child {
    size_t i;
    std::chrono::steady_clock::time_point t0;
  };
  std::map<pid_t, Child> running;
  // A stop request (SIGTERM, Ctrl-C) goes on to the runs, which save their state; no new run starts.
  const StopScope stop_scope;
  int stopped = 0;
  // Waits for one child to end and reports it.
  auto reap = [&] {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    const auto it = running.find(pid);
    if (it == running.end()) return;
    stop_forwarding(pid);
    const auto [i, t0] = it->second;
    running.erase(it);
    const PlannedRun& r = p.runs[i];
    const double minutes = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 60;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && state_of(p, r) == RunState::complete) {
      fmt::print(stderr, "[{}/{}] {}: complete in {:.1f} min\n", i + 1, n, r.name, minutes);
      if (!opt.collect.empty()) collect(p, opt.collect);
    } else if (ended_by_stop(status)) {
      ++stopped;
      fmt::print(stderr, "[{}/{}] {}: stopped after {:.1f} min ({}); it resumes when the sweep runs again\n",
                 i + 1, n, r.name, minutes,
                 state_of(p, r) == RunState::interrupted ? "state saved" : "nothing to save yet");
    } else {
      ++failures;
      fmt::print(stderr, "[{}/{}] {}: FAILED after {:.1f} min ({}); the other runs go on\n", i + 1, n, r.name,
                 minutes,
                 WIFSIGNALED(status) ? fmt::format("signal {}", WTERMSIG(status))
                                     : fmt::format("exit {}", WEXITSTATUS(status)));
    }
  };
  for (size_t i = 0; i < n && !stop_requested(); ++i) {
    const PlannedRun& r = p.runs[i];
    if (!only.empty() && !only.count(r.index)) continue;
    const RunState s = state_of(p, r);
    if (s == RunState::complete) continue;
    if (s == RunState::failed && !opt.retry_failed) {
      fmt::print(stderr, "[{}/{}] {}: failed earlier (see {}); `sweep run --retry-failed` runs it again\n",
                 i + 1, n, r.name, (run_dir(p, r) / "failed.json").string());
      continue;
    }
    while (static_cast<int>(running.size()) >= jobs) reap();
    if (stop_requested()) break;
    // Checked after the wait: a pair-mate may have finished meanwhile (on a shared folder, on another kind).
    // A mate's record this cannot read is left to exec, which refuses the run with the reason.
    std::optional<KindConflict> conflict;
    try {
      conflict = pair_kind_conflict(p, r);
    } catch (const std::exception&) {
    }
    if (conflict) {
      ++waiting;
      fmt::print(stderr, "[{}/{}] {}: left pending: {}\n", i + 1, n, r.name, conflict->why(r));
      continue;
    }
    const auto ratio = pace.ratio.find(r.config.value("model", ""));
    const std::string paced = ratio == pace.ratio.end()
                                  ? ""
                                  : fmt::format("; about {:.1f} at the pace of the finished runs",
                                                r.est_seconds * ratio->second / 60);
    fmt::print(stderr, "[{}/{}] {}: {} (estimated {:.1f} min by the plan{})\n", i + 1, n, r.name,
               s == RunState::interrupted ? "resuming" : "starting", r.est_seconds / 60, paced);
    const std::string threads = std::to_string(r.threads), dir = p.dir.string(), id = r.id,
                      exe = vitbench.string();
    std::vector<std::string> args{exe, "--threads", threads, "sweep", "exec", dir, "--id", id};
    if (!opt.progress || jobs > 1) args.push_back("--quiet");  // progress bars of two runs would interleave
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), environ) != 0)
      throw std::runtime_error(fmt::format("cannot start {}", exe));
    running[pid] = {i, std::chrono::steady_clock::now()};
    forward_stop_to(pid);
  }
  while (!running.empty()) reap();
  if (waiting)
    fmt::print(
        stderr,
        "sweep run: {} run(s) left pending: their pairs ran on another CPU kind; they run on a machine "
        "of that kind (docs/sweeps.md, \"Across sessions and machines\")\n",
        waiting);
  if (stop_requested())
    throw Stopped(
        fmt::format("sweep run stopped by {}: {} run(s) stopped, each resumes from its saved state "
                    "when the sweep runs again (the same command)",
                    stop_signal_name(), stopped));
  return failures;
}

}  // namespace vb::run
