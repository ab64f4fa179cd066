// Throughput sweep lines (see sweep_throughput.hpp).
#include "harness/run/sweep_throughput.hpp"

#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "harness/model_spec.hpp"
#include "harness/provenance.hpp"
#include "harness/results.hpp"
#include "harness/run/throughput.hpp"
#include "harness/throughput/stats.hpp"
#include "harness/train/trainer.hpp"
#include "models/config_fields.hpp"
#include "models/core/cpu.hpp"
#include "models/model.hpp"

extern char** environ;

namespace vb::run {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// The fair setup for Debian's torch, as scripts/compare_throughput.py documents it: OpenBLAS with OpenMP
// instead of the reference BLAS torch links, the core type OpenBLAS 0.3.21 mis-detects here, and freed
// activations kept in the heap (both frameworks get the same malloc setting).
constexpr const char* kOpenBlasDir = "/usr/lib/x86_64-linux-gnu/openblas-openmp";
constexpr const char* kMallocTunable = "glibc.malloc.mmap_threshold=1073741824";

const json kDefaults = {
    {"framework", "vitbench"},
    {"overrides", json::array()},
    {"mode", "infer"},
    {"dtype", "f32"},
    {"batch", 32},
    {"warmup", 2},
    {"iters", 5},
    {"peak_size", 2048},
    {"round", 0},
    {"memory_check", true}};  // memory_check: vitbench's probe that refuses a batch that won't fit

// A script of the checkout this binary was built from (a sweep's pinned commit runs its own scripts).
std::string source_path(const std::string& relative) {
  return std::string(VITBENCH_SOURCE_DIR) + "/" + relative;
}

// Runs argv with `env`, returns its stdout (stderr passes through: the script's progress).
std::string run_capture(const std::vector<std::string>& args, const std::vector<std::string>& env,
                        const std::string& hint) {
  int fd[2];
  if (pipe(fd) != 0) throw std::runtime_error("cannot create a pipe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fd[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&fa, fd[0]);
  std::vector<std::string> a = args, e = env;
  std::vector<char*> argv, envp;
  for (auto& s : a) argv.push_back(s.data());
  for (auto& s : e) envp.push_back(s.data());
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, a[0].c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  close(fd[1]);
  if (rc != 0) {
    close(fd[0]);
    throw std::runtime_error(fmt::format("cannot start {}", a[0]));
  }
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error(fmt::format("{} {} failed ({}); {}", a[0], a.size() > 1 ? a[1] : "",
                                         WIFSIGNALED(status) ? fmt::format("signal {}", WTERMSIG(status))
                                                             : fmt::format("exit {}", WEXITSTATUS(status)),
                                         hint));
  return out;
}

void exec_vitbench(const json& line, const fs::path& dir, const std::string& command) {
  ThroughputOptions o;
  o.models = {line["model"].get<std::string>()};
  o.overrides = line["overrides"].get<std::vector<std::string>>();
  o.modes = {parse_enum<Mode>("mode", line["mode"].get<std::string>())};
  o.dtypes = {parse_dtype(line["dtype"].get<std::string>())};
  o.batches = {line["batch"].get<int64_t>()};
  o.timing.warmup = line["warmup"].get<int>();
  o.timing.iters = line["iters"].get<int>();
  o.peak_size = line["peak_size"].get<int64_t>();
  o.memory_check = line["memory_check"].get<bool>();
  o.output = dir / "record.h5";
  o.command = command;
  measure_throughput(o);
}

// The environment of a PyTorch or ONNX Runtime child: this one's, with the fair setup on top.
std::vector<std::string> external_environment(int threads) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string s = *e;
    if (!s.starts_with("OMP_NUM_THREADS=") && !s.starts_with("OPENBLAS_CORETYPE=") &&
        !s.starts_with("GLIBC_TUNABLES=") && !s.starts_with("LD_LIBRARY_PATH="))
      env.push_back(s);
  }
  const char* ld = std::getenv("LD_LIBRARY_PATH");
  env.push_back(fmt::format("OMP_NUM_THREADS={}", threads));
  env.push_back("OPENBLAS_CORETYPE=SkylakeX");
  env.push_back(std::string("GLIBC_TUNABLES=") + kMallocTunable);
  env.push_back(std::string("LD_LIBRARY_PATH=") + kOpenBlasDir + (ld && *ld ? std::string(":") + ld : ""));
  return env;
}

// The last JSON line of a child's stdout that has `key`.
json json_line(const std::string& out, const std::string& key, const std::string& who) {
  json found;
  size_t start = 0;
  for (size_t end; (end = out.find('\n', start)) != std::string::npos; start = end + 1) {
    const std::string l = out.substr(start, end - start);
    if (l.empty() || l[0] != '{') continue;
    const json j = json::parse(l);
    if (j.contains(key)) found = j;
  }
  if (found.empty()) throw std::runtime_error(fmt::format("{}: printed no {} line", who, key));
  return found;
}

// Writes another framework's measurement `m` (torch_throughput.py's JSON layout) in the layout of vitbench's
// (throughput/<model>/<mode>/<dtype>/batch<b>/...), with its facts as a JSON attribute. `start_time`: when
// the child started.
void write_external_record(const json& line, int threads, const fs::path& dir, const std::string& command,
                           const std::string& start_time, const json& m, const json& facts) {
  Provenance prov = collect_provenance();
  prov.start_time = start_time;
  prov.command = command;
  prov.threads = threads;
  ResultFile rec(dir / "record.h5", "throughput", prov, line);
  rec.attr("framework", line["framework"].get<std::string>());
  rec.attr("framework_facts", facts.dump());
  const std::string g = fmt::format("throughput/{}/{}/{}/batch{}", line["model"].get<std::string>(),
                                    line["mode"].get<std::string>(), line["dtype"].get<std::string>(),
                                    line["batch"].get<int64_t>());
  const auto total = m.at("total_s").get<std::vector<double>>();
  const double batch = static_cast<double>(line["batch"].get<int64_t>());
  std::vector<double> ips;
  for (double t : total) ips.push_back(batch / t);
  rec.write(g + "/total_s", total);
  rec.write(g + "/images_per_s", ips);
  for (const char* k : {"forward_s", "backward_s", "step_s"})
    if (m.contains(k)) rec.write(g + "/" + k, m[k].get<std::vector<double>>());
  rec.attr("model", line["model"].get<std::string>(), g);
  rec.attr("mode", line["mode"].get<std::string>(), g);
  rec.attr("dtype", line["dtype"].get<std::string>(), g);
  rec.attr("batch", line["batch"].get<int64_t>(), g);
  rec.attr("threads", m.value("threads", int64_t{threads}), g);
  rec.attr("images_per_s_median", quantile(ips, 0.5), g);
  rec.attr("images_per_s_p10", quantile(ips, 0.1), g);
  rec.attr("images_per_s_p90", quantile(ips, 0.9), g);
  rec.attr("gflops", m.value("gflops", 0.0), g);
  rec.commit();
}

void require_openblas() {
  if (!fs::exists(fs::path(kOpenBlasDir) / "libblas.so.3"))
    throw std::runtime_error(
        fmt::format("{}/libblas.so.3 missing: bash scripts/setup-torch.sh installs "
                    "libopenblas0-openmp (the fair BLAS for Debian's torch)",
                    kOpenBlasDir));
}

void exec_pytorch(const json& line, int threads, const fs::path& dir, const std::string& command) {
  require_openblas();
  const std::string start_time = utc_now();
  const std::string out =
      run_capture({"/usr/bin/python3", source_path("scripts/torch_throughput.py"), "--model", line["model"],
                   "--batch", line["batch"].dump(), "--mode", line["mode"], "--dtype", line["dtype"],
                   "--threads", std::to_string(threads), "--warmup", line["warmup"].dump(), "--iters",
                   line["iters"].dump(), "--facts"},
                  external_environment(threads), "is PyTorch installed? (bash scripts/setup-torch.sh)");
  write_external_record(line, threads, dir, command, start_time,
                        json_line(out, "total_s", "torch_throughput.py"),
                        json_line(out, "facts", "torch_throughput.py")["facts"]);
}

// ONNX Runtime: the model exported once per sweep folder (scripts/export_onnx.py: the PyTorch module and
// weights torch_throughput.py measures), then scripts/ort/ort_throughput.mjs, which first checks ORT's logits
// against PyTorch's on the export's reference input.
void exec_onnxruntime(const json& line, int threads, const fs::path& dir, const std::string& command) {
  require_openblas();
  const std::string model = line["model"];
  const std::string script = source_path("scripts/ort/ort_throughput.mjs");
  if (!fs::exists(fs::path(script).parent_path() / "node_modules" / "onnxruntime-node"))
    throw std::runtime_error(
        fmt::format("{}: onnxruntime-node is not installed next to it: bash scripts/setup-ort.sh", script));
  const std::string start_time = utc_now();
  const fs::path onnx = dir.parent_path() / "onnx" / (model + ".onnx");
  if (!fs::exists(onnx))
    run_capture(
        {"/usr/bin/python3", source_path("scripts/export_onnx.py"), "--model", model, "--out", onnx.string()},
        external_environment(threads), "is PyTorch installed? (bash scripts/setup-torch.sh)");
  const ModelConfig mc = resolve_model(model, {});
  const std::string out = run_capture({"/usr/bin/node", script,
                                       "--onnx",        onnx.string(),
                                       "--model",       model,
                                       "--batch",       line["batch"].dump(),
                                       "--threads",     std::to_string(threads),
                                       "--warmup",      line["warmup"].dump(),
                                       "--iters",       line["iters"].dump(),
                                       "--img",         std::to_string(mc.img_size),
                                       "--in-chans",    std::to_string(mc.in_chans),
                                       "--check",       onnx.string() + ".check"},
                                      external_environment(threads),
                                      "is onnxruntime-node installed? (bash scripts/setup-ort.sh)");
  const json m = json_line(out, "total_s", "ort_throughput.mjs");
  const double rel = m.at("check").at("relative").get<double>();
  if (!(rel < 1e-3))  // the exported graph computes something else than PyTorch's module: no speed to compare
    throw std::runtime_error(
        fmt::format("{}: ONNX Runtime's logits differ from PyTorch's by {:.3g} of the largest "
                    "logit (limit 1e-3)",
                    onnx.string(), rel));
  json facts = m.at("facts");
  facts["logits_check"] = m["check"];
  write_external_record(line, threads, dir, command, start_time, m, facts);
}

}  // namespace

const std::set<std::string>& throughput_line_keys() {
  static const std::set<std::string> keys = [] {
    std::set<std::string> k{"model"};
    for (const auto& [key, v] : kDefaults.items()) k.insert(key);
    return k;
  }();
  return keys;
}

json check_throughput_line(const json& settings, std::set<std::string>& built) {
  json line = kDefaults;
  for (const auto& [k, v] : settings.items()) {
    if (!throughput_line_keys().count(k))
      throw std::invalid_argument(fmt::format("{}: unknown throughput setting (known: {})", k,
                                              fmt::join(throughput_line_keys(), ", ")));
    line[k] = v;
  }
  if (!line.contains("model")) throw std::invalid_argument("model: missing (an arm's model or an axis)");
  const std::string fw = line["framework"];
  if (fw != "vitbench" && fw != "pytorch" && fw != "onnxruntime")
    throw std::invalid_argument(fmt::format("framework: '{}' (vitbench, pytorch or onnxruntime)", fw));
  if (fw != "vitbench" && !line["overrides"].empty())
    throw std::invalid_argument(
        fmt::format("overrides: {} measures the preset as it is (overrides are vitbench's)", fw));
  parse_dtype(line["dtype"]);
  const std::string mode = line["mode"];
  if (mode != "infer" && mode != "train")
    throw std::invalid_argument(fmt::format("mode: '{}' (infer or train)", mode));
  for (const char* k : {"batch", "iters"})
    if (line[k].get<int64_t>() <= 0) throw std::invalid_argument(fmt::format("{}: must be positive", k));
  if (line["warmup"].get<int64_t>() < 0 || line["peak_size"].get<int64_t>() < 0)
    throw std::invalid_argument("warmup and peak_size must be >= 0");
  const ModelConfig mc = resolve_model(line["model"], line["overrides"].get<std::vector<std::string>>());
  if (built.insert(to_json(mc).dump()).second) create_model(mc);  // architecture checks, once per model
  return line;
}

double throughput_line_seconds(const json& line, const json& per_step) {
  const std::string mode = line["mode"], both = mode + "_" + line["dtype"].get<std::string>();
  const double seconds = per_step.at(per_step.contains(both) ? both : mode).get<double>();
  const double per_iter = seconds * line["batch"].get<double>() / per_step.at("batch").get<double>();
  const double peak = line["framework"] == "vitbench" && line["peak_size"].get<int64_t>() > 0 ? 10.0 : 0.0;
  return per_iter * (line["warmup"].get<double>() + 1 + line["iters"].get<double>()) + peak;
}

void set_throughput_environment() {
  setenv("GLIBC_TUNABLES", kMallocTunable, 1);
  setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
}

std::string throughput_line_left_out(const json& line) {
  if (!dtype_available(parse_dtype(line["dtype"])))
    return "this CPU has no " + line["dtype"].get<std::string>();
  if (line["framework"] == "onnxruntime" && (line["mode"] != "infer" || line["dtype"] != "f32"))
    return "ONNX Runtime's side measures f32 inference only";
  return "";
}

void exec_throughput_line(const json& line, int threads, const fs::path& dir, const std::string& command) {
  if (line["framework"] == "pytorch")
    exec_pytorch(line, threads, dir, command);
  else if (line["framework"] == "onnxruntime")
    exec_onnxruntime(line, threads, dir, command);
  else
    exec_vitbench(line, dir, command);
}

}  // namespace vb::run
