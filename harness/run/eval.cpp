// `vitbench eval` as a library call (see eval.hpp).
#include "harness/run/eval.hpp"

#include <chrono>
#include <numeric>

#include "harness/checkpoint.hpp"
#include "harness/model_spec.hpp"
#include "harness/results.hpp"
#include "models/config_fields.hpp"

namespace vb::run {

EvalResult evaluate_checkpoint(const EvalOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  Provenance prov = collect_provenance();  // start_time: now
  const data::Dataset ds = data::load_dataset(o.dataset, {o.cache_dir, o.progress});
  EvalResult r;
  r.model = model_for(o.model, o.overrides, ds);
  r.dataset = ds.name;
  auto model = create_model(r.model);
  load_checkpoint(o.weights, *model);

  // The validation split is rebuilt exactly as training held it out (same val size and seed).
  const bool val = o.split == Split::val;
  const data::ImageSet& set = val ? ds.train : ds.test;
  std::vector<int64_t> indices;
  if (val) {
    indices = data::hold_out(ds.train.labels, o.val_size, o.seed).val;
  } else {
    indices.resize(ds.test.size());
    std::iota(indices.begin(), indices.end(), 0);
  }
  data::LoaderOptions lo;
  lo.batch = o.batch;
  lo.out_size = r.model.img_size;
  lo.upsample = o.upsample;
  lo.normalize = ds.normalize;
  data::Loader loader(set, indices, lo);
  r.metrics = train::evaluate(*model, loader, enum_name(o.split), o.progress);
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (!o.output.empty()) {
    prov.seed = o.seed;
    prov.command = o.command;
    ResultFile f(o.output, "eval", prov,
                 {{"model", o.model},
                  {"overrides", o.overrides},
                  {"resolved_model", to_json(r.model)},
                  {"weights", o.weights},
                  {"dataset", o.dataset},
                  {"split", enum_name(o.split)},
                  {"val_size", o.val_size},
                  {"images", r.metrics.images},
                  {"batch", o.batch},
                  {"upsample", o.upsample}});
    f.attr("loss", r.metrics.loss);
    f.attr("top1", r.metrics.top1);
    f.attr("top5", r.metrics.top5);
    f.attr("images", r.metrics.images);
    f.attr("wall_s", r.wall_s);
    r.record = f.commit();
  }
  return r;
}

}  // namespace vb::run
