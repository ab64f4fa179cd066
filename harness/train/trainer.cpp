// The training loop, evaluation, checkpoints with the loop state, resume and the run record; see trainer.hpp.
// Under MPI every rank runs this loop on its slice of each batch; rank 0 alone reads and writes files.
#include "harness/train/trainer.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <optional>
#include <stdexcept>

#include "harness/atomic_write.hpp"
#include "harness/checkpoint.hpp"
#include "harness/dist/mpi.hpp"
#include "harness/dist/reducer.hpp"
#include "harness/file_lock.hpp"
#include "harness/h5read.hpp"
#include "harness/model_spec.hpp"
#include "harness/progress.hpp"
#include "harness/provenance.hpp"
#include "harness/results.hpp"
#include "harness/stop_request.hpp"
#include "harness/train/schedule.hpp"
#include "models/config_fields.hpp"
#include "models/core/cpu.hpp"
#include "models/layers/cross_entropy.hpp"
#include "models/layers/random_mask.hpp"

namespace vb::train {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void need(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}

// Everything the run record holds, kept in checkpoints too so a resumed run's record is whole.
struct History {
  std::vector<double> step_loss, step_lr, step_grad_norm;  // per optimizer step
  std::vector<double> train_loss, train_top1;              // per epoch, over the epoch's batches (augmented)
  std::vector<double> val_loss, val_top1, val_top5, test_loss, test_top1, test_top5;
  std::vector<double> epoch_wall_s, epoch_images_per_s;  // training time of the epoch (no evaluation)
  std::vector<double> eval_step;                         // global step at each evaluation (rows of epochs/*)
  int64_t epochs_done = 0, best_epoch = -1;
  double best_val_top1 = -1, train_wall_s = 0, train_images = 0;
  // Wall time and processes (sessions) of the run up to the checkpoint: a run resumed after a kill or a stop
  // counts the time of its earlier sessions up to their last checkpoint (the work it kept), not only its own.
  double run_wall_s = 0;
  int64_t sessions = 0;
  // The evaluation period under way when a run stopped on request (stop_request.hpp) between two evaluations:
  // its steps so far and their sums, so the resumed period ends with the same train_loss and train_top1.
  struct Partial {
    int64_t steps = 0, top1 = 0, seen = 0;
    double loss_sum = 0, train_s = 0;
  } partial;

  // name -> array, for saving and loading in one place.
  std::vector<std::pair<std::string, std::vector<double>*>> arrays() {
    return {{"steps/loss", &step_loss},
            {"steps/lr", &step_lr},
            {"steps/grad_norm", &step_grad_norm},
            {"epochs/train_loss", &train_loss},
            {"epochs/train_top1", &train_top1},
            {"epochs/val_loss", &val_loss},
            {"epochs/val_top1", &val_top1},
            {"epochs/val_top5", &val_top5},
            {"epochs/test_loss", &test_loss},
            {"epochs/test_top1", &test_top1},
            {"epochs/test_top5", &test_top5},
            {"epochs/wall_s", &epoch_wall_s},
            {"epochs/images_per_s", &epoch_images_per_s},
            {"epochs/step", &eval_step}};
  }
};

// Copies a batch's images into the model's input tensor, (re)allocating it only when the batch size changes.
const Tensor& input_tensor(Tensor& x, const data::Batch& b, int64_t channels, int64_t size) {
  const Dims shape{b.size, channels, size, size};
  if (x.empty() || x.shape() != shape) x = Tensor(shape);
  std::memcpy(x.data(), b.images.data(), b.images.size() * sizeof(float));
  return x;
}

// Rank of each row's label among its probabilities (0 = top-1): counts classes with a strictly higher value.
void count_topk(const Tensor& probs, const std::vector<int64_t>& labels, int64_t& top1, int64_t& top5) {
  const float* p = probs.data();
  const int64_t k = probs.dim(1);
  for (size_t i = 0; i < labels.size(); ++i) {
    const float* row = p + i * k;
    const float target = row[labels[i]];
    int64_t rank = 0;
    for (int64_t c = 0; c < k; ++c) rank += row[c] > target;
    top1 += rank == 0;
    top5 += rank < 5;
  }
}

std::string percent(double v) {
  return fmt::format("{:.2f}%", v);
}

void save_train_state(const std::filesystem::path& path, Model& model, Optimizer& opt, History& h,
                      int64_t global_step, const Provenance& prov, const nlohmann::json& config) {
  ResultFile f(path, "checkpoint", prov, config);
  write_model_state(f, model);
  const std::string g = kTrainStateGroup;
  for (auto& [name, values] : h.arrays()) f.write(g + "/" + name, *values);
  f.write_scalar(g + "/epochs_done", h.epochs_done);
  f.write_scalar(g + "/global_step", global_step);
  f.write_scalar(g + "/optimizer_steps", opt.steps());
  f.write_scalar(g + "/best_epoch", h.best_epoch);
  f.write(g + "/best_val_top1", std::vector<double>{h.best_val_top1});
  f.write(g + "/train_wall_s", std::vector<double>{h.train_wall_s});
  f.write(g + "/train_images", std::vector<double>{h.train_images});
  f.write(g + "/run_wall_s", std::vector<double>{h.run_wall_s});
  f.write_scalar(g + "/sessions", h.sessions);
  for (auto& [name, values] : opt.state()) f.write(g + "/optimizer/" + name, *values);
  f.write_scalar(g + "/partial/steps", h.partial.steps);
  f.write_scalar(g + "/partial/top1", h.partial.top1);
  f.write_scalar(g + "/partial/seen", h.partial.seen);
  f.write(g + "/partial/loss_sum", std::vector<double>{h.partial.loss_sum});
  f.write(g + "/partial/train_s", std::vector<double>{h.partial.train_s});
  f.commit();
}

// Loads a checkpoint written by save_train_state into model, optimizer and history; returns the global step.
int64_t load_train_state(const std::filesystem::path& path, Model& model, Optimizer& opt, History& h,
                         const nlohmann::json& config) {
  load_checkpoint(path, model);
  const H5Input in(path);
  // The settings the run was started with; a damaged attribute is named with the file rather than left to
  // nlohmann's message (which says neither the file nor the attribute).
  const nlohmann::json saved = nlohmann::json::parse(in.root_attr("config"), nullptr, false);
  if (saved.is_discarded() || !saved.is_object())
    throw std::runtime_error(
        fmt::format("{}: cannot resume, its 'config' attribute (the run's settings) is {}; the "
                    "checkpoint is damaged: start a new run in another --output folder",
                    path.string(), saved.is_discarded() ? "not valid JSON" : "JSON but not an object"));
  if (saved != config) {
    std::vector<std::string> diffs;
    dist::json_diffs(saved, config, "in the checkpoint", "now", "", diffs);
    throw std::runtime_error(
        fmt::format("{}: cannot resume, the settings differ ({}); resume with the original "
                    "settings or start a new run in another --output folder",
                    path.string(), fmt::join(diffs, "; ")));
  }
  const std::string g = kTrainStateGroup;
  for (auto& [name, values] : h.arrays()) *values = in.read_f64(g + "/" + name);
  h.epochs_done = in.read_i64_scalar(g + "/epochs_done");
  h.best_epoch = in.read_i64_scalar(g + "/best_epoch");
  auto one = [&](const std::string& key) {  // a float64 the writer stores as an array of one
    const auto v = in.read_f64(key);
    if (v.size() != 1)
      throw std::runtime_error(
          fmt::format("{}: '{}' has {} values, expected 1", path.string(), key, v.size()));
    return v[0];
  };
  h.best_val_top1 = one(g + "/best_val_top1");
  h.train_wall_s = one(g + "/train_wall_s");
  h.train_images = one(g + "/train_images");
  opt.set_steps(in.read_i64_scalar(g + "/optimizer_steps"));
  for (auto& [name, values] : opt.state()) {
    const auto v = in.read_f32(g + "/optimizer/" + name);
    if (v.size() != values->size())
      throw std::runtime_error(fmt::format("{}: optimizer state '{}' has {} values, expected {}",
                                           path.string(), name, v.size(), values->size()));
    *values = v;
  }
  // A period under way (stop requests); checkpoints written before stop requests existed lack it.
  if (in.has(g + "/partial/steps")) {
    h.partial.steps = in.read_i64_scalar(g + "/partial/steps");
    h.partial.top1 = in.read_i64_scalar(g + "/partial/top1");
    h.partial.seen = in.read_i64_scalar(g + "/partial/seen");
    h.partial.loss_sum = one(g + "/partial/loss_sum");
    h.partial.train_s = one(g + "/partial/train_s");
  }
  // The run's wall time so far; checkpoints written before it was kept lack it: their training time stands in
  // (a lower bound: evaluations and start-up not counted) and the sessions are counted from one.
  if (in.has(g + "/sessions")) {
    h.run_wall_s = one(g + "/run_wall_s");
    h.sessions = in.read_i64_scalar(g + "/sessions");
  } else {
    h.run_wall_s = h.train_wall_s + h.partial.train_s;
    h.sessions = 1;
  }
  return in.read_i64_scalar(g + "/global_step");
}

// Evaluation over `loader`; with `all_ranks`, the sums (loss x images, top-1 and top-5 counts, images) over
// every rank's shard, so that each rank returns the metrics of the whole split.
Metrics evaluate_sums(Model& model, data::Loader& loader, const std::string& what, bool progress,
                      bool all_ranks) {
  CrossEntropy ce(what + ".loss", {model.config().num_classes, 0.f});
  ProgressBar bar(fmt::format("  {:<5}", what), loader.steps_per_epoch(), progress);
  loader.start_epoch(0);
  data::Batch b;
  Tensor x;
  double loss_sum = 0;
  int64_t top1 = 0, top5 = 0, n = 0;
  while (loader.next(b)) {
    // infer(): the model's inference graph (ResNet: BatchNorm folded, fused ReLU and residual add), equal to
    // forward(eval) up to rounding, and it leaves the training graph's buffers at the training batch.
    const Tensor& logits = model.infer(input_tensor(x, b, loader.channels(), loader.out_size()));
    loss_sum += ce.forward(logits, b.labels) * static_cast<double>(b.size);
    count_topk(ce.softmax(), b.labels, top1, top5);
    n += b.size;
    bar.update(b.step + 1);
  }
  if (all_ranks) {
    double sums[4] = {loss_sum, static_cast<double>(top1), static_cast<double>(top5), static_cast<double>(n)};
    dist::sum(sums, 4);  // counts below 2^53 are exact in double
    loss_sum = sums[0];
    top1 = static_cast<int64_t>(sums[1]);
    top5 = static_cast<int64_t>(sums[2]);
    n = static_cast<int64_t>(sums[3]);
  }
  Metrics m;
  m.images = n;
  if (n) {
    m.loss = loss_sum / static_cast<double>(n);
    m.top1 = 100.0 * static_cast<double>(top1) / static_cast<double>(n);
    m.top5 = 100.0 * static_cast<double>(top5) / static_cast<double>(n);
  }
  bar.finish(fmt::format("loss {:.4f} | top-1 {} | top-5 {}", m.loss, percent(m.top1), percent(m.top5)));
  return m;
}

// This rank's contiguous share of `v` (evaluation shards: every image evaluated once across the ranks).
std::vector<int64_t> shard_of(const std::vector<int64_t>& v) {
  const size_t n = v.size(), r = static_cast<size_t>(dist::rank()), R = static_cast<size_t>(dist::size());
  return {v.begin() + static_cast<std::ptrdiff_t>(r * n / R),
          v.begin() + static_cast<std::ptrdiff_t>((r + 1) * n / R)};
}

// Rank 0's values of every state_dict entry to all ranks (DDP does this at start): the ranks then hold the
// same model whatever they computed or read before. Buffers alone (`buffers_only`) before an evaluation or a
// checkpoint, as DDP's broadcast_buffers: with per-rank BatchNorm the running statistics are rank 0's.
void broadcast_state(Model& model, bool buffers_only) {
  if (!dist::multi()) return;
  for (const StateEntry& e : model.state()) {
    if (e.param && !buffers_only) dist::broadcast(e.param->value.data(), e.param->value.numel() * 4);
    if (e.buffer) dist::broadcast(e.buffer->data(), e.buffer->numel() * 4);
    if (e.counter) dist::broadcast(e.counter, sizeof(int64_t));
  }
}

// Runs `f` on rank 0 alone (file checks and reads); an error there becomes the same error on every rank.
template <class F>
void on_root(F&& f) {
  if (!dist::multi()) return f();
  std::string error;
  if (dist::rank() == 0) {
    try {
      f();
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  error = dist::broadcast(error);
  if (!error.empty()) throw dist::CollectiveError(error);
}

}  // namespace

Metrics evaluate(Model& model, data::Loader& loader, const std::string& what, bool progress) {
  return evaluate_sums(model, loader, what, progress, false);
}

namespace {

// What the steps of one training run share, in the order train() fills it in. Built in place and never moved:
// the loaders refer to the dataset.
struct Run {
  explicit Run(const TrainConfig& c) : cfg(c), progress(c.progress && dist::rank() == 0) {}
  const Clock::time_point start = Clock::now();  // this process's start (before the dataset is read)
  const TrainConfig& cfg;
  const int64_t ranks = dist::size(), rank = dist::rank();
  const bool progress;
  // Data (load_data, split_data)
  data::Dataset ds;
  data::HoldOut split;
  data::Augment aug;
  std::unique_ptr<data::Loader> train_loader, val_loader, test_loader;
  // Model (build_model, build_training)
  ModelConfig mc;
  std::unique_ptr<Model> model;
  std::vector<Slot> slots;
  std::unique_ptr<Optimizer> opt;
  std::unique_ptr<CrossEntropy> ce;
  std::unique_ptr<GradientReducer> reducer;
  // Budget (plan_steps): steps per epoch, the whole run, and its evaluation periods (an epoch or eval_every
  // steps)
  int64_t spe = 0, total_steps = 0, epochs = 0, period = 0, periods = 0;
  Schedule sched;
  // Run folder and record (describe_run, open_run_folder)
  nlohmann::json config;
  Provenance prov;
  std::filesystem::path ckpt_path, record_path, best_path;
  std::optional<FileLock> folder_lock;
  // Progress (train_period, evaluate_period)
  History h;
  double earlier_wall_s = 0;     // the run's wall time in earlier sessions (the resumed checkpoint's)
  int64_t earlier_sessions = 0;  // and their number
  int64_t global_step = 0, loader_epoch = -1;
  double session_train_s = 0;  // this process's training time (for the allreduce share)
  Tensor x, targets;
  data::Batch batch;

  void say(const std::string& text) const {
    if (rank == 0) fmt::print(stderr, "{}", text);
  }
  std::string last_checkpoint() const {
    return std::filesystem::exists(ckpt_path) ? ckpt_path.string() : "none yet";
  }
};

// Settings that cannot work, refused before the dataset is read or anything is written.
void check_settings(const TrainConfig& cfg, int64_t ranks) {
  need(cfg.batch > 0 && cfg.eval_batch > 0,
       fmt::format("batch sizes must be > 0, given {} / {}", cfg.batch, cfg.eval_batch));
  need(cfg.epochs > 0 || cfg.steps > 0, "give a budget: epochs > 0 or steps > 0");
  need(cfg.lr > 0 && cfg.min_lr >= 0 && cfg.min_lr <= cfg.lr,
       fmt::format("need lr > 0 and 0 <= min_lr <= lr, given lr {} min_lr {}", cfg.lr, cfg.min_lr));
  need(cfg.label_smoothing >= 0 && cfg.label_smoothing < 1,
       fmt::format("label_smoothing must be in [0, 1), given {}", cfg.label_smoothing));
  need(cfg.clip_grad >= 0, fmt::format("clip_grad must be >= 0 (0 = off), given {}", cfg.clip_grad));
  need(cfg.warmup_epochs >= 0, fmt::format("warmup_epochs must be >= 0, given {}", cfg.warmup_epochs));
  need(cfg.val_size >= 0 && cfg.train_size >= 0, "val_size and train_size must be >= 0");
  need(cfg.eval_every >= 0,
       fmt::format("eval_every must be >= 0 (0 = every epoch), given {}", cfg.eval_every));
  need(cfg.checkpoint_minutes >= 0 && std::isfinite(cfg.checkpoint_minutes),
       fmt::format("--checkpoint-minutes must be >= 0 (0 = only at evaluations), given {}",
                   cfg.checkpoint_minutes));
  need(cfg.batch % ranks == 0,
       fmt::format(
           "batch {} is not divisible by the {} MPI ranks: every rank takes an equal contiguous slice of "
           "each global batch; use a batch that is a multiple of {}",
           cfg.batch, ranks, ranks));
  require_writable_folder(cfg.output);  // a folder that cannot hold the checkpoints: refused before any work
  resolve_model(cfg.model, cfg.overrides);  // an unknown preset or field, bf16 on a CPU without it
}

// Data: the dataset decides the model's input channels and classes.
void load_data(Run& r) {
  r.ds = data::load_dataset(r.cfg.dataset, {r.cfg.cache_dir, r.progress});
}

// The model, built (architecture checks) before the data is split.
void build_model(Run& r) {
  r.mc = model_for(r.cfg.model, r.cfg.overrides, r.ds);
  if (r.cfg.drop_path >= 0) r.mc.drop_path = r.cfg.drop_path;
  r.model = create_model(r.mc);
}

// The validation hold-out, the training subset, augmentation and the three loaders.
void split_data(Run& r) {
  const TrainConfig& cfg = r.cfg;
  const data::Dataset& ds = r.ds;
  need(cfg.val_size < ds.train.size() / 2,
       fmt::format("val_size {} leaves too little of {}'s {} training images", cfg.val_size, ds.name,
                   ds.train.size()));
  r.split = data::hold_out(ds.train.labels, cfg.val_size, cfg.seed);
  if (cfg.train_size > 0) {
    need(cfg.train_size <= static_cast<int64_t>(r.split.train.size()),
         fmt::format(
             "train_size {} is more than the {} training images left after holding out {} for validation",
             cfg.train_size, r.split.train.size(), cfg.val_size));
    r.split.train = data::stratified_subset(ds.train.labels, r.split.train, cfg.train_size, cfg.seed);
  }
  r.aug = ds.augment;
  if (cfg.crop_pad >= 0) r.aug.crop_pad = cfg.crop_pad;
  if (cfg.hflip != HFlip::dataset) r.aug.hflip = cfg.hflip == HFlip::on;
  r.aug.mixup = static_cast<float>(cfg.mixup);
  r.aug.cutmix = static_cast<float>(cfg.cutmix);

  data::LoaderOptions train_opt;
  train_opt.batch = cfg.batch;
  train_opt.out_size = r.mc.img_size;
  train_opt.upsample = cfg.upsample;
  train_opt.shuffle = train_opt.drop_last = train_opt.train = true;
  train_opt.augment = r.aug;
  train_opt.normalize = ds.normalize;
  train_opt.seed = cfg.seed;
  data::LoaderOptions eval_opt = train_opt;
  // Evaluation is sharded by images (each rank a contiguous share, eval_batch / ranks at a time), training by
  // batch rows: each rank takes rows [rank * B/R, (rank + 1) * B/R) of every global batch of B.
  eval_opt.batch = std::max<int64_t>(1, cfg.eval_batch / r.ranks);
  eval_opt.shuffle = eval_opt.drop_last = eval_opt.train = false;
  train_opt.shard = r.rank;
  train_opt.shards = r.ranks;
  r.train_loader = std::make_unique<data::Loader>(ds.train, r.split.train, train_opt);
  r.val_loader = std::make_unique<data::Loader>(ds.train, shard_of(r.split.val), eval_opt);
  std::vector<int64_t> all_test(ds.test.size());
  std::iota(all_test.begin(), all_test.end(), 0);
  r.test_loader = std::make_unique<data::Loader>(ds.test, shard_of(all_test), eval_opt);
  // Stochastic depth and dropout masks drawn as for the global batch (random_mask.hpp).
  if (r.ranks > 1) RandomMask::set_batch_slice(r.rank * cfg.batch / r.ranks, cfg.batch / r.ranks, cfg.batch);
}

// The budget in steps, epochs and evaluation periods, and the learning-rate schedule over it.
void plan_steps(Run& r) {
  const TrainConfig& cfg = r.cfg;
  r.spe = r.train_loader->steps_per_epoch();
  need(r.spe > 0,
       fmt::format("{} training images are fewer than one batch of {}", r.split.train.size(), cfg.batch));
  r.total_steps = cfg.steps > 0 ? cfg.steps : cfg.epochs * r.spe;
  r.epochs = (r.total_steps + r.spe - 1) / r.spe;
  const int64_t warmup = cfg.warmup_steps >= 0 ? cfg.warmup_steps : std::llround(cfg.warmup_epochs * r.spe);
  r.sched = {cfg.lr, cfg.min_lr, warmup, r.total_steps};
  r.period = cfg.eval_every > 0 ? cfg.eval_every : r.spe;
  r.periods = (r.total_steps + r.period - 1) / r.period;
}

// Initial weights, optimizer, loss and the gradient reducer (MPI or none).
void build_training(Run& r) {
  r.model->init(r.cfg.seed);
  r.slots = trainable_slots(*r.model);
  r.opt = make_optimizer(r.slots, r.cfg.optimizer);
  r.ce = std::make_unique<CrossEntropy>(
      "loss", CrossEntropy::Config{r.mc.num_classes, static_cast<float>(r.cfg.label_smoothing)});
  r.reducer = dist::make_gradient_reducer();
}

// The record's config: the settings plus everything they resolved to; and the provenance.
void describe_run(Run& r, const std::string& command) {
  const data::Dataset& ds = r.ds;
  r.config = r.cfg.to_json();
  r.config["resolved"] = {
      {"model", to_json(r.mc)},
      {"params", r.model->num_params()},
      {"dataset",
       {{"name", ds.name},
        {"train_source", ds.train.source},
        {"test_source", ds.test.source},
        {"classes", ds.train.classes},
        {"image", {ds.train.channels, ds.train.height, ds.train.width}},
        {"train_images", r.split.train.size()},
        {"val_images", r.split.val.size()},
        {"test_images", ds.test.size()},
        {"mean", ds.normalize.mean},
        {"std", ds.normalize.std}}},
      {"augment",
       {{"crop_pad", r.aug.crop_pad},
        {"hflip", r.aug.hflip},
        {"mixup", r.aug.mixup},
        {"cutmix", r.aug.cutmix}}},
      {"steps_per_epoch", r.spe},
      {"total_steps", r.total_steps},
      {"epochs", r.epochs},
      {"warmup_steps", r.sched.warmup_steps},
      // Bit-identical results need the same thread count and the same kernels: resume checks both.
      {"threads", omp_get_max_threads()},
      {"isa", cpu_isa_string()},
      // The batch split (and so the order of the gradient sums) depends on it: resume refuses another.
      {"world_size", r.ranks}};
  // Ranks whose data, threads or anything resolved differs stop here, naming the field.
  dist::check_agreement(r.config, "resolved train settings");
  r.prov = collect_provenance();
  r.prov.seed = r.cfg.seed;
  r.prov.command = command;
}

// Locks the run folder, then resumes from its checkpoint or refuses a folder that already holds a run; under
// MPI rank 0 alone reads the folder and the other ranks get its state by broadcast (the folder need not be
// shared).
void open_run_folder(Run& r, bool resume) {
  const TrainConfig& cfg = r.cfg;
  r.ckpt_path = cfg.output / "checkpoint.h5";
  r.record_path = cfg.output / "record.h5";
  r.best_path = cfg.output / "best.h5";
  // One process per run folder: taken before the folder's checkpoint is read or any file is written.
  on_root([&] {
    create_output_folder(cfg.output);
    r.folder_lock.emplace(folder_lock_path(cfg.output), "run folder " + cfg.output.string());
  });
  on_root([&] {
    if (resume) {
      if (!std::filesystem::exists(r.ckpt_path))
        throw std::runtime_error(fmt::format(
            "{}: no checkpoint to resume from (a run saves one at each evaluation)", r.ckpt_path.string()));
      r.global_step = load_train_state(r.ckpt_path, *r.model, *r.opt, r.h, r.config);
      r.earlier_wall_s = r.h.run_wall_s;
      r.earlier_sessions = r.h.sessions;
      fmt::print(stderr, "resuming {} at step {} (epoch {}{})\n", r.ckpt_path.string(), r.global_step,
                 r.global_step / r.spe + 1,
                 r.cfg.eval_every > 0 ? fmt::format(", evaluation period {}", r.h.epochs_done + 1) : "");
    } else if (std::filesystem::exists(r.ckpt_path) || std::filesystem::exists(r.record_path)) {
      throw std::runtime_error(
          fmt::format("{}: already holds a run; pass --resume to continue it, or choose "
                      "another --output",
                      cfg.output.string()));
    }
  });
  if (r.ranks > 1) {  // every rank continues from rank 0's state, its history included
    broadcast_state(*r.model, false);
    History& h = r.h;
    History::Partial& part = h.partial;
    int64_t counters[7] = {r.global_step, h.epochs_done, r.opt->steps(), h.best_epoch,
                           part.steps,    part.top1,     part.seen};
    double sums[5] = {h.best_val_top1, h.train_wall_s, h.train_images, part.loss_sum, part.train_s};
    dist::broadcast(counters, sizeof counters);
    dist::broadcast(sums, sizeof sums);
    r.global_step = counters[0];
    h.epochs_done = counters[1];
    r.opt->set_steps(counters[2]);
    h.best_epoch = counters[3];
    h.best_val_top1 = sums[0];
    h.train_wall_s = sums[1];
    h.train_images = sums[2];
    part = {counters[4], counters[5], counters[6], sums[3], sums[4]};
    for (auto& [name, values] : h.arrays()) {
      int64_t n = static_cast<int64_t>(values->size());
      dist::broadcast(&n, sizeof n);
      values->resize(static_cast<size_t>(n));
      dist::broadcast(values->data(), n * static_cast<int64_t>(sizeof(double)));
    }
    for (auto& [name, values] : r.opt->state())
      dist::broadcast(values->data(), static_cast<int64_t>(values->size() * 4));
  }
  r.model->set_random_step(r.global_step);
}

// The global batch's loss and top-k counts of one step, and how many images it held.
struct StepStats {
  double loss = 0;
  int64_t top1 = 0, top5 = 0, images = 0;
};

// One optimizer step, r.global_step, on the next batch: forward, loss, backward, GradientReducer::reduce,
// clipping, update; appended to the step history.
StepStats train_step(Run& r) {
  const int64_t epoch = r.global_step / r.spe, s = r.global_step % r.spe;
  data::Loader& loader = *r.train_loader;
  if (epoch != r.loader_epoch) {  // a new epoch, or the first step of this process (mid-epoch on resume)
    loader.start_epoch(epoch, s);
    r.loader_epoch = epoch;
  }
  const data::Batch& b = r.batch;
  if (!loader.next(r.batch))
    throw std::logic_error(fmt::format("training loader ended early at step {} of epoch {}", s, epoch + 1));
  const Tensor& logits =
      r.model->forward(input_tensor(r.x, b, loader.channels(), loader.out_size()), Mode::train);
  StepStats st;
  if (b.targets.empty()) {
    st.loss = r.ce->forward(logits, b.labels);
  } else {
    if (r.targets.empty() || r.targets.dim(0) != b.size) r.targets = Tensor({b.size, r.mc.num_classes});
    std::memcpy(r.targets.data(), b.targets.data(), b.targets.size() * sizeof(float));
    st.loss = r.ce->forward(logits, r.targets);
  }
  count_topk(r.ce->softmax(), b.labels, st.top1, st.top5);
  if (r.ranks > 1) {  // the global batch's mean loss (equal slices) and top-k counts, the same on every rank
    double v[3] = {st.loss, static_cast<double>(st.top1), static_cast<double>(st.top5)};
    dist::sum(v, 3);
    st.loss = v[0] / static_cast<double>(r.ranks);
    st.top1 = static_cast<int64_t>(v[1]);
    st.top5 = static_cast<int64_t>(v[2]);
  }
  st.images = b.size * r.ranks;
  // Every rank sees the same loss and gradient norm, so every rank stops here together.
  if (!std::isfinite(st.loss))
    throw dist::CollectiveError(
        fmt::format("step {} (epoch {}, batch {}): the loss is {}; stopping. The last good "
                    "checkpoint is {}. Lower the learning rate or set a gradient clip "
                    "(--clip-grad 1).",
                    r.global_step, epoch + 1, s, st.loss, r.last_checkpoint()));
  r.model->backward(r.ce->backward());
  Runtime::wait();
  r.reducer->reduce(r.slots);
  const double gnorm = grad_norm(r.slots);
  if (!std::isfinite(gnorm))
    throw dist::CollectiveError(
        fmt::format("step {} (epoch {}): the gradient norm is {}; stopping. The last good "
                    "checkpoint is {}.",
                    r.global_step, epoch + 1, gnorm, r.last_checkpoint()));
  if (r.cfg.clip_grad > 0 && gnorm > r.cfg.clip_grad) scale_grads(r.slots, r.cfg.clip_grad / (gnorm + 1e-6));
  const double lr = r.sched.at(r.global_step);
  r.opt->step(lr);
  r.h.step_loss.push_back(st.loss);
  r.h.step_lr.push_back(lr);
  r.h.step_grad_norm.push_back(gnorm);
  return st;
}

// The checkpoint (rank 0): model, optimizer and history as they stand, with the run's wall time so far.
void save_state(Run& r) {
  if (r.rank != 0) return;
  r.h.run_wall_s = r.earlier_wall_s + seconds_since(r.start);
  r.h.sessions = r.earlier_sessions + 1;
  save_train_state(r.ckpt_path, *r.model, *r.opt, r.h, r.global_step, r.prov, r.config);
}

// Whether to stop before the next step (a stop request: stop_request.hpp). Every rank decides alike, so a
// request that reaches one rank stops them all at the same step.
bool stop_now(const Run& r) {
  if (r.ranks <= 1) return stop_requested();
  double asked = stop_requested() ? 1 : 0;
  dist::sum(&asked, 1);
  return asked > 0;
}

// Saves the state between two evaluations: the period's steps and sums so far, with `session_s`, this
// process's training time in the period, counted in (the period itself keeps counting). A stop request saves
// this way before the run ends; --checkpoint-minutes does while it goes on, so that a run killed without
// warning (a machine taken away, a job's hard limit) loses at most that much. Replaces the last checkpoint
// atomically.
void save_mid_period(Run& r, double session_s) {
  History::Partial& part = r.h.partial;
  const double before = part.train_s;
  part.train_s += session_s;
  save_state(r);
  part.train_s = before;
}

// Ends a run on a stop request before step r.global_step: the steps of the period under way go into a
// checkpoint (none were taken since the last evaluation: its checkpoint stands), then Stopped.
[[noreturn]] void stop_run(Run& r, double session_s) {
  const History::Partial& part = r.h.partial;
  if (part.steps > 0) save_mid_period(r, session_s);
  throw Stopped(fmt::format("stopped by {} after step {} of {}; {} (`--resume` continues from there)",
                            stop_signal_name(), r.global_step, r.total_steps,
                            part.steps > 0
                                ? "saved its state in " + r.ckpt_path.string()
                                : "its state is in " + r.last_checkpoint() + " from the last evaluation"));
}

// The training steps of evaluation period p, with a progress bar; its loss, top-1 and speed go to the
// history. A run that stopped on request within the period resumes at its step with the period's sums.
void train_period(Run& r, int64_t p) {
  auto period_start = Clock::now();  // moved on past mid-period saves: their time is not training time
  auto last_save = period_start;     // the period starts from a checkpoint (or from nothing, at step 0)
  const int64_t p_begin = p * r.period, p_end = std::min(r.total_steps, p_begin + r.period);
  History::Partial& part = r.h.partial;
  if (r.global_step != p_begin + part.steps)
    throw std::logic_error(
        fmt::format("resuming at step {}, but period {} began at {} and {} of its steps are done",
                    r.global_step, p + 1, p_begin, part.steps));
  const std::string label = r.cfg.eval_every > 0
                                ? fmt::format("steps {}-{}/{}", p_begin + 1, p_end, r.total_steps)
                                : fmt::format("epoch {}/{}", p + 1, r.epochs);
  ProgressBar bar(label, p_end - p_begin, r.progress);
  for (; r.global_step < p_end; ++r.global_step) {
    if (stop_now(r)) stop_run(r, seconds_since(period_start));
    if (r.cfg.checkpoint_minutes > 0 && part.steps > 0 &&
        seconds_since(last_save) >= 60 * r.cfg.checkpoint_minutes) {
      const auto save_start = Clock::now();
      save_mid_period(r, seconds_since(period_start));
      last_save = Clock::now();
      period_start += last_save - save_start;
    }
    const StepStats st = train_step(r);
    part.top1 += st.top1;
    part.loss_sum += st.loss * static_cast<double>(st.images);
    part.seen += st.images;
    ++part.steps;
    const double el = part.train_s + seconds_since(period_start);
    bar.update(
        r.global_step - p_begin + 1,
        fmt::format("loss {:.4f} | lr {:.2e} | {:.0f} img/s", part.loss_sum / static_cast<double>(part.seen),
                    r.h.step_lr.back(), static_cast<double>(part.seen) / el));
  }
  const double session_s = seconds_since(period_start), train_s = part.train_s + session_s;
  const double seen = static_cast<double>(part.seen);
  bar.finish(fmt::format("loss {:.4f} | top-1 {} | {:.0f} img/s", part.loss_sum / seen,
                         percent(100.0 * static_cast<double>(part.top1) / seen), seen / train_s));
  History& h = r.h;
  h.train_loss.push_back(part.loss_sum / seen);
  h.train_top1.push_back(100.0 * static_cast<double>(part.top1) / seen);
  h.epoch_wall_s.push_back(train_s);
  h.epoch_images_per_s.push_back(seen / train_s);
  h.eval_step.push_back(static_cast<double>(r.global_step));
  h.train_wall_s += train_s;
  r.session_train_s += session_s;
  h.train_images += seen;
  part = {};
}

// The end of evaluation period p: validation, test (if asked, and always after the last), best.h5 when
// validation improved, and the checkpoint.
void evaluate_period(Run& r, int64_t p) {
  History& h = r.h;
  broadcast_state(*r.model, true);
  const Metrics val =
      r.split.val.empty() ? Metrics{} : evaluate_sums(*r.model, *r.val_loader, "val", r.progress, true);
  h.val_loss.push_back(val.loss);
  h.val_top1.push_back(val.top1);
  h.val_top5.push_back(val.top5);
  const bool test_now = r.cfg.test_every_epoch || p + 1 == r.periods;
  const Metrics test = test_now ? evaluate_sums(*r.model, *r.test_loader, "test", r.progress, true)
                                : Metrics{NAN, NAN, NAN, 0};
  h.test_loss.push_back(test.loss);
  h.test_top1.push_back(test.top1);
  h.test_top5.push_back(test.top5);
  h.epochs_done = p + 1;
  if (!r.split.val.empty() && val.top1 > h.best_val_top1) {
    h.best_val_top1 = val.top1;
    h.best_epoch = p;
    if (r.rank == 0) save_checkpoint(r.best_path, *r.model);
  }
  save_state(r);
}

// The result, and on rank 0 the record: written once, complete or not at all.
RunResult write_record(Run& r) {
  const History& h = r.h;
  RunResult res;
  res.test = {h.test_loss.back(), h.test_top1.back(), h.test_top5.back(), r.ds.test.size()};
  if (h.best_epoch >= 0)
    res.best_val = {h.val_loss[h.best_epoch], h.val_top1[h.best_epoch], h.val_top5[h.best_epoch],
                    static_cast<int64_t>(r.split.val.size())};
  res.best_epoch = h.best_epoch;
  res.wall_s = h.train_wall_s;
  res.images_per_s = h.train_wall_s > 0 ? h.train_images / h.train_wall_s : 0;
  if (r.rank != 0) return res;  // rank 0 writes the record
  ResultFile rec(r.record_path, "train", r.prov, r.config);
  for (auto& [name, values] : r.h.arrays()) rec.write(name, *values);
  rec.attr("test_top1", res.test.top1, "/");
  rec.attr("test_top5", res.test.top5);
  rec.attr("test_loss", res.test.loss);
  rec.attr("best_epoch", h.best_epoch);
  rec.attr("best_val_top1", h.best_val_top1);
  rec.attr("train_wall_s", res.wall_s);
  rec.attr("images_per_s", res.images_per_s);
  // Wall time of the run: its sessions up to their last checkpoint (a resumed run's earlier processes) and
  // this one; this process's alone; the number of processes.
  const double session_wall_s = seconds_since(r.start);
  rec.attr("run_wall_s", r.earlier_wall_s + session_wall_s);
  rec.attr("session_wall_s", session_wall_s);
  rec.attr("sessions", r.earlier_sessions + 1);
  rec.attr("steps", r.global_step);
  rec.attr("epochs", r.epochs);  // epochs begun (the last may be partial with a step budget)
  rec.attr("evaluations", h.epochs_done);
  rec.attr("world_size", r.ranks);
  rec.attr("threads_per_rank", static_cast<int64_t>(omp_get_max_threads()));
  rec.attr("threads_rule", dist::threads_rule());
  // Wall time of the gradient allreduce in this session and its share of this session's training time.
  rec.attr("allreduce_s", r.reducer->seconds());
  rec.attr("allreduce_share", r.session_train_s > 0 ? r.reducer->seconds() / r.session_train_s : 0.0);
  rec.attr("allreduce_wait_s", r.reducer->wait_seconds());  // of allreduce_s: waiting for the slowest rank
  rec.attr("allreduce_mpi_s", r.reducer->mpi_seconds());    // of allreduce_s: inside MPI_Allreduce
  res.record = rec.commit();
  fmt::print(stderr,
             "test: loss {:.4f} | top-1 {} | top-5 {} (after {} steps = {:.2f} epochs, {} of training, "
             "{:.0f} img/s); wrote {}\n",
             res.test.loss, percent(res.test.top1), percent(res.test.top5), r.global_step,
             static_cast<double>(r.global_step) / static_cast<double>(r.spe), format_duration(res.wall_s),
             res.images_per_s, res.record.string());
  return res;
}

}  // namespace

RunResult train(const TrainConfig& cfg, bool resume, const std::string& command, int64_t stop_after_epochs) {
  // Ranks started with different settings stop here, every one naming the field (nothing written yet).
  dist::check_agreement(cfg.to_json(), "train settings");
  check_settings(cfg, dist::size());
  Run r(cfg);
  load_data(r);
  build_model(r);
  split_data(r);
  plan_steps(r);
  build_training(r);
  describe_run(r, command);
  open_run_folder(r, resume);
  r.say(fmt::format(
      "{}: {} params, {} on {} ({} train / {} val / {} test images), {} epochs x {} steps of {}{}\n",
      r.mc.name, r.model->num_params(), enum_name(cfg.optimizer.kind), r.ds.name, r.split.train.size(),
      r.split.val.size(), r.ds.test.size(), r.epochs, r.spe, cfg.batch,
      r.ranks > 1 ? fmt::format(" ({} ranks x {}, {} threads each)", r.ranks, cfg.batch / r.ranks,
                                omp_get_max_threads())
                  : ""));
  // Each evaluation period ends with validation, test (if asked), best.h5 and a checkpoint; a resumed run
  // starts where its checkpoint stands: at a period boundary, mid-epoch if need be, or mid-period after a
  // stop request, which the loop reads between steps (stop_request.hpp).
  const StopScope stop_scope;
  const int64_t first_period = r.h.epochs_done;
  for (int64_t p = first_period; p < r.periods; ++p) {
    if (stop_after_epochs > 0 && p - first_period == stop_after_epochs) {
      r.say(fmt::format("stopped after {} {} as asked; continue with --resume\n", p,
                        cfg.eval_every > 0 ? "evaluation periods" : "epochs"));
      return {};
    }
    train_period(r, p);
    evaluate_period(r, p);
  }
  return write_record(r);
}

}  // namespace vb::train
