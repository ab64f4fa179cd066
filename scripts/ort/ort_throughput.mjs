// ONNX Runtime's side of the throughput comparison (docs/throughput.md): images/s of one exported model
// (scripts/export_onnx.py) on the CPU execution provider, intra-op threads = vitbench's, spinning off (idle
// threads yield the CPU instead of busy-waiting, as vitbench's OpenMP threads and PyTorch's do between layers).
// Prints one JSON line in the layout of scripts/torch_throughput.py. With --check it first runs the export's
// reference input and compares the logits with PyTorch's (max |diff|, relative to max |logit|).
// usage: node ort_throughput.mjs --onnx M.onnx --model NAME --batch B --threads T [--warmup 2] [--iters 5]
//                                [--img 224] [--in-chans 3] [--check M.onnx.check]
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import * as ort from "onnxruntime-node";

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, v, i, a) => {
  if (v.startsWith("--")) acc.push([v.slice(2), a[i + 1]]);
  return acc;
}, []));
const need = (k) => {
  if (args[k] === undefined) { console.error(`ort_throughput: --${k} is required`); process.exit(2); }
  return args[k];
};
const batch = Number(need("batch")), threads = Number(need("threads"));
const warmup = Number(args.warmup ?? 2), iters = Number(args.iters ?? 5);
const img = Number(args.img ?? 224), chans = Number(args["in-chans"] ?? 3);

const session = await ort.InferenceSession.create(need("onnx"), {
  executionProviders: ["cpu"], intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: "sequential",
  graphOptimizationLevel: "all", extra: { session: { intra_op: { allow_spinning: "0" } } },
});
const input = session.inputNames[0], output = session.outputNames[0];

let check = null;
if (args.check) {  // <prefix>.input.f32 (2, C, H, W) and <prefix>.logits.f32 (2, classes), PyTorch's
  const f32 = (p) => { const b = readFileSync(p); return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4); };
  const x = f32(args.check + ".input.f32"), ref = f32(args.check + ".logits.f32");
  const n = x.length / (chans * img * img);
  const y = (await session.run({ [input]: new ort.Tensor("float32", x, [n, chans, img, img]) }))[output].data;
  let diff = 0, scale = 0;
  for (let i = 0; i < ref.length; ++i) diff = Math.max(diff, Math.abs(y[i] - ref[i])), scale = Math.max(scale, Math.abs(ref[i]));
  check = { max_abs_diff: diff, max_abs_logit: scale, relative: diff / scale };
  console.error(`ort ${args.model}: logits vs PyTorch: max |diff| ${diff.toExponential(2)} (max |logit| ${scale.toFixed(3)})`);
}

// Inputs in [-1, 1) from a fixed linear congruential generator (the values do not matter for speed).
const x = new Float32Array(batch * chans * img * img);
let s = 12345 >>> 0;
for (let i = 0; i < x.length; ++i) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; x[i] = s / 2 ** 31 - 1; }
const feed = { [input]: new ort.Tensor("float32", x, [batch, chans, img, img]) };
const total = [];
for (let i = 0; i < warmup + 1 + iters; ++i) {
  const t0 = performance.now();
  await session.run(feed);
  if (i > warmup) total.push((performance.now() - t0) / 1e3);
}
const ips = total.map((t) => batch / t).sort((a, b) => a - b);
const q = (p) => { const k = (ips.length - 1) * p, lo = Math.floor(k), hi = Math.ceil(k); return ips[lo] + (ips[hi] - ips[lo]) * (k - lo); };
console.error(`ort ${args.model} infer f32 batch ${batch}: ${q(0.5).toFixed(2)} img/s`);
console.log(JSON.stringify({
  framework: "onnxruntime", model: args.model, mode: "infer", dtype: "f32", batch, threads,
  images_per_s: q(0.5), p10: q(0.1), p90: q(0.9), iters: total.length, total_s: total,
  facts: { onnxruntime_node: JSON.parse(readFileSync(new URL("./node_modules/onnxruntime-node/package.json", import.meta.url))).version,
           node: process.version, allow_spinning: "0", intra_op_threads: threads }, check,
}));
