// `vitbench predict`: logits of a model (weights from a checkpoint) for a batch of images from an HDF5 file.
#include <fmt/format.h>

#include "harness/checkpoint.hpp"
#include "harness/cli/commands.hpp"
#include "harness/cli/model_options.hpp"
#include "harness/h5read.hpp"
#include "harness/results.hpp"
#include "models/model.hpp"

namespace vb::cli {

namespace {

struct PredictOptions {
  ModelOptions model;
  std::string weights, input, output;
  int64_t batch = 64;
};

void run_predict(const PredictOptions& opt, const std::string& command) {
  const ModelConfig cfg = opt.model.resolve();
  auto model = create_model(cfg);
  load_checkpoint(opt.weights, *model);
  const H5Input in(opt.input);
  const Dims shape = in.shape("images");
  const Dims want{-1, cfg.in_chans, cfg.img_size, cfg.img_size};
  if (shape.size() != 4 || shape[1] != want[1] || shape[2] != want[2] || shape[3] != want[3] || shape[0] < 1)
    throw std::runtime_error(
        fmt::format("{}: dataset 'images' has shape {}, model {} expects (N, {}, {}, {}) float32 "
                    "NCHW, already normalised",
                    in.path(), to_string(shape), cfg.name, want[1], want[2], want[3]));
  const std::vector<float> images = in.read_f32("images");
  const int64_t n = shape[0], per_image = product(shape) / n;
  std::vector<float> logits;
  logits.reserve(n * cfg.num_classes);
  for (int64_t start = 0; start < n; start += opt.batch) {
    const int64_t b = std::min(opt.batch, n - start);
    const Tensor x = Tensor::from({b, want[1], want[2], want[3]}, {images.begin() + start * per_image,
                                                                   images.begin() + (start + b) * per_image});
    const auto y = model->infer(x).to_vector();
    logits.insert(logits.end(), y.begin(), y.end());
  }
  Provenance prov = collect_provenance();
  prov.command = command;
  ResultFile out(opt.output, "predict", prov,
                 {{"model", cfg.name},
                  {"overrides", opt.model.overrides},
                  {"weights", opt.weights},
                  {"input", opt.input},
                  {"batch", opt.batch}});
  out.write("logits", logits, {static_cast<uint64_t>(n), static_cast<uint64_t>(cfg.num_classes)});
  fmt::print("{} images -> logits ({}, {}); wrote {}\n", n, n, cfg.num_classes, out.commit().string());
}

}  // namespace

void add_predict(CLI::App& app, const Common& common) {
  auto opt = std::make_shared<PredictOptions>();
  auto* cmd = app.add_subcommand("predict",
                                 "Logits of a model for images in an HDF5 file (dataset `images`, "
                                 "float32 NCHW, normalised)");
  opt->model.add_to(*cmd, true);
  cmd->add_option("-w,--weights", opt->weights, "checkpoint (HDF5, PyTorch state_dict keys)")->required();
  cmd->add_option("-i,--input", opt->input, "HDF5 file with dataset `images`")->required();
  cmd->add_option("-o,--output", opt->output, "HDF5 file to write (dataset `logits`)")->required();
  cmd->add_option("--batch", opt->batch, "images per forward")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->callback([opt, &common] { run_predict(*opt, common.command); });
}

}  // namespace vb::cli
