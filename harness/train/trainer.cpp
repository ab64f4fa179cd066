// The training loop, evaluation, checkpoints with the loop state, resume and the run record; see trainer.hpp.
// Under MPI every rank runs this loop on its slice of each batch; rank 0 alone reads and writes files.
#include "harness/train/trainer.hpp"

#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>
#include <omp.h>

#include "harness/atomic_write.hpp"
#include "harness/checkpoint.hpp"
#include "harness/file_lock.hpp"
#include "harness/dist/mpi.hpp"
#include "harness/dist/reducer.hpp"
#include "models/config_fields.hpp"
#include "harness/h5read.hpp"
#include "harness/progress.hpp"
#include "harness/provenance.hpp"
#include "harness/results.hpp"
#include "harness/train/schedule.hpp"
#include "models/core/cpu.hpp"
#include "models/layers/cross_entropy.hpp"
#include "models/layers/random_mask.hpp"

namespace vb::train {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void need(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}

// Everything the run record holds, kept in checkpoints too so a resumed run's record is whole.
struct History {
  std::vector<double> step_loss, step_lr, step_grad_norm;  // per optimizer step
  std::vector<double> train_loss, train_top1;              // per epoch, over the epoch's batches (augmented)
  std::vector<double> val_loss, val_top1, val_top5, test_loss, test_top1, test_top5;
  std::vector<double> epoch_wall_s, epoch_images_per_s;    // training time of the epoch (no evaluation)
  std::vector<double> eval_step;                           // global step at each evaluation (rows of epochs/*)
  int64_t epochs_done = 0, best_epoch = -1;
  double best_val_top1 = -1, train_wall_s = 0, train_images = 0;

  // name -> array, for saving and loading in one place.
  std::vector<std::pair<std::string, std::vector<double>*>> arrays() {
    return {{"steps/loss", &step_loss},        {"steps/lr", &step_lr},           {"steps/grad_norm", &step_grad_norm},
            {"epochs/train_loss", &train_loss}, {"epochs/train_top1", &train_top1}, {"epochs/val_loss", &val_loss},
            {"epochs/val_top1", &val_top1},     {"epochs/val_top5", &val_top5},     {"epochs/test_loss", &test_loss},
            {"epochs/test_top1", &test_top1},   {"epochs/test_top5", &test_top5},   {"epochs/wall_s", &epoch_wall_s},
            {"epochs/images_per_s", &epoch_images_per_s}, {"epochs/step", &eval_step}};
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

std::string percent(double v) { return fmt::format("{:.2f}%", v); }

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
  for (auto& [name, values] : opt.state()) f.write(g + "/optimizer/" + name, *values);
  f.commit();
}

// Loads a checkpoint written by save_train_state into model, optimizer and history; returns the global step.
int64_t load_train_state(const std::filesystem::path& path, Model& model, Optimizer& opt, History& h,
                         const nlohmann::json& config) {
  load_checkpoint(path, model);
  const H5Input in(path);
  const nlohmann::json saved = nlohmann::json::parse(in.root_attr("config"));
  if (saved != config) {
    std::vector<std::string> diffs;
    dist::json_diffs(saved, config, "in the checkpoint", "now", "", diffs);
    throw std::runtime_error(fmt::format("{}: cannot resume, the settings differ ({}); resume with the original "
                                         "settings or start a new run in another --output folder",
                                         path.string(), fmt::join(diffs, "; ")));
  }
  const std::string g = kTrainStateGroup;
  for (auto& [name, values] : h.arrays()) *values = in.read_f64(g + "/" + name);
  h.epochs_done = in.read_i64_scalar(g + "/epochs_done");
  h.best_epoch = in.read_i64_scalar(g + "/best_epoch");
  h.best_val_top1 = in.read_f64(g + "/best_val_top1").at(0);
  h.train_wall_s = in.read_f64(g + "/train_wall_s").at(0);
  h.train_images = in.read_f64(g + "/train_images").at(0);
  opt.set_steps(in.read_i64_scalar(g + "/optimizer_steps"));
  for (auto& [name, values] : opt.state()) {
    const auto v = in.read_f32(g + "/optimizer/" + name);
    if (v.size() != values->size())
      throw std::runtime_error(fmt::format("{}: optimizer state '{}' has {} values, expected {}", path.string(), name,
                                           v.size(), values->size()));
    *values = v;
  }
  return in.read_i64_scalar(g + "/global_step");
}

}  // namespace

ModelConfig resolve_model(const std::string& model, const std::vector<std::string>& overrides) {
  ModelConfig mc = preset(model);
  for (const auto& o : overrides) apply_override(mc, o);
  return mc;
}

ModelConfig model_for(const std::string& model, const std::vector<std::string>& overrides, const data::Dataset& ds) {
  ModelConfig mc = resolve_model(model, overrides);
  mc.in_chans = ds.train.channels;
  mc.num_classes = static_cast<int64_t>(ds.train.classes.size());
  return mc;
}

namespace {

// Evaluation over `loader`; with `all_ranks`, the sums (loss x images, top-1 and top-5 counts, images) over
// every rank's shard, so that each rank returns the metrics of the whole split.
Metrics evaluate_sums(Model& model, data::Loader& loader, const std::string& what, bool progress, bool all_ranks) {
  CrossEntropy ce(what + ".loss", {model.config().num_classes, 0.f});
  ProgressBar bar(fmt::format("  {:<5}", what), loader.steps_per_epoch(), progress);
  loader.start_epoch(0);
  data::Batch b;
  Tensor x;
  double loss_sum = 0;
  int64_t top1 = 0, top5 = 0, n = 0;
  while (loader.next(b)) {
    const Tensor& logits = model.forward(input_tensor(x, b, loader.channels(), loader.out_size()), Mode::eval);
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
  return {v.begin() + static_cast<std::ptrdiff_t>(r * n / R), v.begin() + static_cast<std::ptrdiff_t>((r + 1) * n / R)};
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

RunResult train(const TrainConfig& cfg, bool resume, const std::string& command, int64_t stop_after_epochs) {
  const auto run_start = Clock::now();
  // Ranks started with different settings stop here, every one naming the field (nothing written yet).
  dist::check_agreement(cfg.to_json(), "train settings");
  const int64_t ranks = dist::size(), rank = dist::rank();
  const bool progress = cfg.progress && rank == 0;
  auto say = [&](const std::string& text) {
    if (rank == 0) fmt::print(stderr, "{}", text);
  };
  need(cfg.batch > 0 && cfg.eval_batch > 0, fmt::format("batch sizes must be > 0, given {} / {}", cfg.batch, cfg.eval_batch));
  need(cfg.epochs > 0 || cfg.steps > 0, "give a budget: epochs > 0 or steps > 0");
  need(cfg.lr > 0 && cfg.min_lr >= 0 && cfg.min_lr <= cfg.lr,
       fmt::format("need lr > 0 and 0 <= min_lr <= lr, given lr {} min_lr {}", cfg.lr, cfg.min_lr));
  need(cfg.label_smoothing >= 0 && cfg.label_smoothing < 1,
       fmt::format("label_smoothing must be in [0, 1), given {}", cfg.label_smoothing));
  need(cfg.clip_grad >= 0, fmt::format("clip_grad must be >= 0 (0 = off), given {}", cfg.clip_grad));
  need(cfg.warmup_epochs >= 0, fmt::format("warmup_epochs must be >= 0, given {}", cfg.warmup_epochs));
  need(cfg.hflip.empty() || cfg.hflip == "on" || cfg.hflip == "off",
       fmt::format("hflip must be on or off, given '{}'", cfg.hflip));
  need(cfg.val_size >= 0 && cfg.train_size >= 0, "val_size and train_size must be >= 0");
  need(cfg.eval_every >= 0, fmt::format("eval_every must be >= 0 (0 = every epoch), given {}", cfg.eval_every));
  need(cfg.batch % ranks == 0,
       fmt::format("batch {} is not divisible by the {} MPI ranks: every rank takes an equal contiguous slice of "
                   "each global batch; use a batch that is a multiple of {}", cfg.batch, ranks, ranks));

  require_writable_folder(cfg.output);  // a folder that cannot hold the checkpoints: refused before any work
  {  // bf16 on a CPU without it: refused before the dataset is read or anything is written.
    const ModelConfig asked = resolve_model(cfg.model, cfg.overrides);
    require_dtype(asked.dtype, asked.name);
  }

  // Data: the dataset decides the model's input channels and classes.
  const data::Dataset ds = data::load_dataset(cfg.dataset, {cfg.cache_dir, progress});
  ModelConfig mc = model_for(cfg.model, cfg.overrides, ds);
  if (cfg.drop_path >= 0) mc.drop_path = cfg.drop_path;
  auto model = create_model(mc);

  need(cfg.val_size < ds.train.size() / 2,
       fmt::format("val_size {} leaves too little of {}'s {} training images", cfg.val_size, ds.name, ds.train.size()));
  data::HoldOut split = data::hold_out(ds.train.labels, cfg.val_size, cfg.seed);
  if (cfg.train_size > 0) {
    need(cfg.train_size <= static_cast<int64_t>(split.train.size()),
         fmt::format("train_size {} is more than the {} training images left after holding out {} for validation",
                     cfg.train_size, split.train.size(), cfg.val_size));
    split.train = data::stratified_subset(ds.train.labels, split.train, cfg.train_size, cfg.seed);
  }
  data::Augment aug = ds.augment;
  if (cfg.crop_pad >= 0) aug.crop_pad = cfg.crop_pad;
  if (!cfg.hflip.empty()) aug.hflip = cfg.hflip == "on";
  aug.mixup = static_cast<float>(cfg.mixup);
  aug.cutmix = static_cast<float>(cfg.cutmix);

  data::LoaderOptions train_opt;
  train_opt.batch = cfg.batch;
  train_opt.out_size = mc.img_size;
  train_opt.upsample = cfg.upsample;
  train_opt.shuffle = train_opt.drop_last = train_opt.train = true;
  train_opt.augment = aug;
  train_opt.normalize = ds.normalize;
  train_opt.seed = cfg.seed;
  data::LoaderOptions eval_opt = train_opt;
  // Evaluation is sharded by images (each rank a contiguous share, eval_batch / ranks at a time), training by
  // batch rows: each rank takes rows [rank * B/R, (rank + 1) * B/R) of every global batch of B.
  eval_opt.batch = std::max<int64_t>(1, cfg.eval_batch / ranks);
  eval_opt.shuffle = eval_opt.drop_last = eval_opt.train = false;
  train_opt.shard = rank;
  train_opt.shards = ranks;
  data::Loader train_loader(ds.train, split.train, train_opt);
  data::Loader val_loader(ds.train, shard_of(split.val), eval_opt);
  std::vector<int64_t> all_test(ds.test.size());
  std::iota(all_test.begin(), all_test.end(), 0);
  data::Loader test_loader(ds.test, shard_of(all_test), eval_opt);
  // Stochastic depth and dropout masks drawn as for the global batch (random_mask.hpp).
  if (ranks > 1) RandomMask::set_batch_slice(rank * cfg.batch / ranks, cfg.batch / ranks, cfg.batch);

  const int64_t spe = train_loader.steps_per_epoch();
  need(spe > 0, fmt::format("{} training images are fewer than one batch of {}", split.train.size(), cfg.batch));
  const int64_t total_steps = cfg.steps > 0 ? cfg.steps : cfg.epochs * spe;
  const int64_t epochs = (total_steps + spe - 1) / spe;
  const int64_t warmup = cfg.warmup_steps >= 0 ? cfg.warmup_steps : std::llround(cfg.warmup_epochs * spe);
  const Schedule sched{cfg.lr, cfg.min_lr, warmup, total_steps};

  model->init(cfg.seed);
  const std::vector<Slot> slots = trainable_slots(*model);
  auto opt = make_optimizer(slots, cfg.optimizer);
  CrossEntropy ce("loss", {mc.num_classes, static_cast<float>(cfg.label_smoothing)});
  const std::unique_ptr<GradientReducer> reducer = dist::make_gradient_reducer();

  // The record's config: the settings plus everything they resolved to.
  nlohmann::json config = cfg.to_json();
  config["resolved"] = {
      {"model", to_json(mc)},
      {"params", model->num_params()},
      {"dataset", {{"name", ds.name}, {"train_source", ds.train.source}, {"test_source", ds.test.source},
                   {"classes", ds.train.classes}, {"image", {ds.train.channels, ds.train.height, ds.train.width}},
                   {"train_images", split.train.size()}, {"val_images", split.val.size()},
                   {"test_images", ds.test.size()}, {"mean", ds.normalize.mean}, {"std", ds.normalize.std}}},
      {"augment", {{"crop_pad", aug.crop_pad}, {"hflip", aug.hflip}, {"mixup", aug.mixup}, {"cutmix", aug.cutmix}}},
      {"steps_per_epoch", spe}, {"total_steps", total_steps}, {"epochs", epochs},
      {"warmup_steps", sched.warmup_steps},
      // Bit-identical results need the same thread count and the same kernels: resume checks both.
      {"threads", omp_get_max_threads()}, {"isa", cpu_isa_string()},
      // The batch split (and so the order of the gradient sums) depends on it: resume refuses another.
      {"world_size", ranks}};
  // Ranks whose data, threads or anything resolved differs stop here, naming the field.
  dist::check_agreement(config, "resolved train settings");
  Provenance prov = collect_provenance();
  prov.seed = cfg.seed;
  prov.command = command;

  const auto ckpt_path = cfg.output / "checkpoint.h5", record_path = cfg.output / "record.h5",
             best_path = cfg.output / "best.h5";
  // One process per run folder: taken before the folder's checkpoint is read or any file is written. Under MPI
  // by rank 0 alone, the one process that reads and writes the folder.
  std::optional<FileLock> folder_lock;
  on_root([&] {
    create_output_folder(cfg.output);
    folder_lock.emplace(folder_lock_path(cfg.output), "run folder " + cfg.output.string());
  });
  History h;
  int64_t global_step = 0;
  // Rank 0 reads (and later writes) the run folder; the other ranks get its state by broadcast, so the folder
  // need not be shared.
  on_root([&] {
    if (resume) {
      if (!std::filesystem::exists(ckpt_path))
        throw std::runtime_error(fmt::format("{}: no checkpoint to resume from (the run saves one after each epoch)",
                                             ckpt_path.string()));
      global_step = load_train_state(ckpt_path, *model, *opt, h, config);
      fmt::print(stderr, "resuming {} at epoch {} (step {})\n", ckpt_path.string(), h.epochs_done + 1, global_step);
    } else if (std::filesystem::exists(ckpt_path) || std::filesystem::exists(record_path)) {
      throw std::runtime_error(fmt::format("{}: already holds a run; pass --resume to continue it, or choose "
                                           "another --output", cfg.output.string()));
    }
  });
  if (ranks > 1) {
    broadcast_state(*model, false);
    int64_t counters[3] = {global_step, h.epochs_done, opt->steps()};
    dist::broadcast(counters, sizeof counters);
    global_step = counters[0];
    h.epochs_done = counters[1];
    opt->set_steps(counters[2]);
    for (auto& [name, values] : opt->state()) dist::broadcast(values->data(), static_cast<int64_t>(values->size() * 4));
  }
  model->set_random_step(global_step);

  say(fmt::format("{}: {} params, {} on {} ({} train / {} val / {} test images), {} epochs x {} steps of {}{}\n",
                  mc.name, model->num_params(), cfg.optimizer.name, ds.name, split.train.size(), split.val.size(),
                  ds.test.size(), epochs, spe, cfg.batch,
                  ranks > 1 ? fmt::format(" ({} ranks x {}, {} threads each)", ranks, cfg.batch / ranks,
                                          omp_get_max_threads())
                            : ""));

  // Evaluation periods: an epoch each (eval_every = 0), or eval_every steps. Each ends with validation, test
  // (if asked), best.h5 and a checkpoint; a resumed run starts at a period boundary, mid-epoch if need be.
  const int64_t period = cfg.eval_every > 0 ? cfg.eval_every : spe;
  const int64_t periods = (total_steps + period - 1) / period;
  Tensor x, targets;
  data::Batch b;
  const int64_t first_period = h.epochs_done;
  int64_t loader_epoch = -1;
  double session_train_s = 0;  // this process's training time (for the allreduce share)
  for (int64_t p = first_period; p < periods; ++p) {
    if (stop_after_epochs > 0 && p - first_period == stop_after_epochs) {
      say(fmt::format("stopped after {} {} as asked; continue with --resume\n", p,
                      cfg.eval_every > 0 ? "evaluation periods" : "epochs"));
      return {};
    }
    const auto period_start = Clock::now();
    const int64_t p_begin = p * period, p_end = std::min(total_steps, p_begin + period);
    const std::string label = cfg.eval_every > 0 ? fmt::format("steps {}-{}/{}", p_begin + 1, p_end, total_steps)
                                                 : fmt::format("epoch {}/{}", p + 1, epochs);
    ProgressBar bar(label, p_end - p_begin, progress);
    double loss_sum = 0;
    int64_t top1 = 0, top5 = 0, seen = 0;
    for (global_step = p_begin; global_step < p_end; ++global_step) {
      const int64_t epoch = global_step / spe, s = global_step % spe;
      if (epoch != loader_epoch) {  // a new epoch, or the first step of this process (mid-epoch on resume)
        train_loader.start_epoch(epoch, s);
        loader_epoch = epoch;
      }
      if (!train_loader.next(b))
        throw std::logic_error(fmt::format("training loader ended early at step {} of epoch {}", s, epoch + 1));
      const Tensor& logits = model->forward(input_tensor(x, b, train_loader.channels(), train_loader.out_size()), Mode::train);
      double loss;
      if (b.targets.empty()) {
        loss = ce.forward(logits, b.labels);
      } else {
        if (targets.empty() || targets.dim(0) != b.size) targets = Tensor({b.size, mc.num_classes});
        std::memcpy(targets.data(), b.targets.data(), b.targets.size() * sizeof(float));
        loss = ce.forward(logits, targets);
      }
      int64_t step_top1 = 0, step_top5 = 0;
      count_topk(ce.softmax(), b.labels, step_top1, step_top5);
      if (ranks > 1) {  // the global batch's mean loss (equal slices) and top-k counts, the same on every rank
        double v[3] = {loss, static_cast<double>(step_top1), static_cast<double>(step_top5)};
        dist::sum(v, 3);
        loss = v[0] / static_cast<double>(ranks);
        step_top1 = static_cast<int64_t>(v[1]);
        step_top5 = static_cast<int64_t>(v[2]);
      }
      top1 += step_top1;
      top5 += step_top5;
      // Every rank sees the same loss and gradient norm, so every rank stops here together.
      if (!std::isfinite(loss))
        throw dist::CollectiveError(fmt::format("step {} (epoch {}, batch {}): the loss is {}; stopping. The last good "
                                             "checkpoint is {}. Lower the learning rate or set a gradient clip "
                                             "(--clip-grad 1).", global_step, epoch + 1, s, loss,
                                             std::filesystem::exists(ckpt_path) ? ckpt_path.string() : "none yet"));
      model->backward(ce.backward());
      Runtime::wait();
      reducer->reduce(slots);
      const double gnorm = grad_norm(slots);
      if (!std::isfinite(gnorm))
        throw dist::CollectiveError(fmt::format("step {} (epoch {}): the gradient norm is {}; stopping. The last good "
                                             "checkpoint is {}.", global_step, epoch + 1, gnorm,
                                             std::filesystem::exists(ckpt_path) ? ckpt_path.string() : "none yet"));
      if (cfg.clip_grad > 0 && gnorm > cfg.clip_grad) scale_grads(slots, cfg.clip_grad / (gnorm + 1e-6));
      const double lr = sched.at(global_step);
      opt->step(lr);
      h.step_loss.push_back(loss);
      h.step_lr.push_back(lr);
      h.step_grad_norm.push_back(gnorm);
      loss_sum += loss * static_cast<double>(b.size * ranks);
      seen += b.size * ranks;
      const double el = seconds_since(period_start);
      bar.update(global_step - p_begin + 1, fmt::format("loss {:.4f} | lr {:.2e} | {:.0f} img/s",
                                                        loss_sum / static_cast<double>(seen), lr,
                                                        static_cast<double>(seen) / el));
    }
    const double train_s = seconds_since(period_start);
    bar.finish(fmt::format("loss {:.4f} | top-1 {} | {:.0f} img/s", loss_sum / static_cast<double>(seen),
                           percent(100.0 * static_cast<double>(top1) / static_cast<double>(seen)),
                           static_cast<double>(seen) / train_s));
    h.train_loss.push_back(loss_sum / static_cast<double>(seen));
    h.train_top1.push_back(100.0 * static_cast<double>(top1) / static_cast<double>(seen));
    h.epoch_wall_s.push_back(train_s);
    h.epoch_images_per_s.push_back(static_cast<double>(seen) / train_s);
    h.eval_step.push_back(static_cast<double>(global_step));
    h.train_wall_s += train_s;
    session_train_s += train_s;
    h.train_images += static_cast<double>(seen);

    broadcast_state(*model, true);
    const Metrics val = split.val.empty() ? Metrics{} : evaluate_sums(*model, val_loader, "val", progress, true);
    h.val_loss.push_back(val.loss);
    h.val_top1.push_back(val.top1);
    h.val_top5.push_back(val.top5);
    if (cfg.test_every_epoch || p + 1 == periods) {
      const Metrics test = evaluate_sums(*model, test_loader, "test", progress, true);
      h.test_loss.push_back(test.loss);
      h.test_top1.push_back(test.top1);
      h.test_top5.push_back(test.top5);
    } else {
      h.test_loss.push_back(NAN);
      h.test_top1.push_back(NAN);
      h.test_top5.push_back(NAN);
    }
    h.epochs_done = p + 1;
    if (!split.val.empty() && val.top1 > h.best_val_top1) {
      h.best_val_top1 = val.top1;
      h.best_epoch = p;
      if (rank == 0) save_checkpoint(best_path, *model);
    }
    if (rank == 0) save_train_state(ckpt_path, *model, *opt, h, global_step, prov, config);
  }

  // The record: written once, complete or not at all.
  RunResult r;
  r.test = {h.test_loss.back(), h.test_top1.back(), h.test_top5.back(), ds.test.size()};
  if (h.best_epoch >= 0) r.best_val = {h.val_loss[h.best_epoch], h.val_top1[h.best_epoch], h.val_top5[h.best_epoch],
                                       static_cast<int64_t>(split.val.size())};
  r.best_epoch = h.best_epoch;
  r.wall_s = h.train_wall_s;
  r.images_per_s = h.train_wall_s > 0 ? h.train_images / h.train_wall_s : 0;
  if (rank != 0) return r;  // rank 0 writes the record
  ResultFile rec(record_path, "train", prov, config);
  for (auto& [name, values] : h.arrays()) rec.write(name, *values);
  rec.attr("test_top1", r.test.top1, "/");
  rec.attr("test_top5", r.test.top5);
  rec.attr("test_loss", r.test.loss);
  rec.attr("best_epoch", h.best_epoch);
  rec.attr("best_val_top1", h.best_val_top1);
  rec.attr("train_wall_s", r.wall_s);
  rec.attr("images_per_s", r.images_per_s);
  rec.attr("run_wall_s", seconds_since(run_start));
  rec.attr("steps", global_step);
  rec.attr("epochs", epochs);  // epochs begun (the last may be partial with a step budget)
  rec.attr("evaluations", h.epochs_done);
  rec.attr("world_size", ranks);
  rec.attr("threads_per_rank", static_cast<int64_t>(omp_get_max_threads()));
  rec.attr("threads_rule", dist::threads_rule());
  // Wall time of the gradient allreduce in this session and its share of this session's training time.
  rec.attr("allreduce_s", reducer->seconds());
  rec.attr("allreduce_share", session_train_s > 0 ? reducer->seconds() / session_train_s : 0.0);
  rec.attr("allreduce_wait_s", reducer->wait_seconds());  // of allreduce_s: waiting for the slowest rank
  r.record = rec.commit();
  fmt::print(stderr, "test: loss {:.4f} | top-1 {} | top-5 {} (after {} epochs, {} of training, {:.0f} img/s); "
                     "wrote {}\n", r.test.loss, percent(r.test.top1), percent(r.test.top5), h.epochs_done,
             format_duration(r.wall_s), r.images_per_s, r.record.string());
  return r;
}

}  // namespace vb::train
