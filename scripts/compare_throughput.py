#!/usr/bin/python3
"""vitbench vs PyTorch eager, side by side (issue 5; docs/throughput.md). For each round and model it runs
`vitbench throughput` (A) then scripts/torch_throughput.py (B), alternating A B A B so machine drift hits both;
both get the same threads and the same environment, which makes Debian's torch fair:
  LD_LIBRARY_PATH  -> Debian's libopenblas0-openmp (torch links the reference BLAS, ~2.5 GFLOP/s, otherwise)
  OPENBLAS_CORETYPE=SkylakeX (OpenBLAS 0.3.21 mis-detects this CPU)
  GLIBC_TUNABLES=glibc.malloc.mmap_threshold=... (freed activations stay in the heap instead of being unmapped
                  and page-faulted back every iteration)
Writes the raw lines to results/throughput/compare-<stamp>.json (+ vitbench's HDF5 files next to it) and prints the
table (median over rounds of each side's median img/s). A quick look: the committed comparison in docs/throughput.md
is the `throughput` sweeps' (one process per measurement, ONNX Runtime too), written there by scripts/report.py.

usage: compare_throughput.py [--models resnet50,vit_small_patch16_224,tnt_s_patch16_224] [--batch 32]
                             [--modes infer,train] [--dtypes f32,bf16] [--rounds 2] [--threads 2] [--iters 10]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPENBLAS_DIR = "/usr/lib/x86_64-linux-gnu/openblas-openmp"  # `dpkg -L libopenblas0-openmp`
MMAP_THRESHOLD = 1 << 30  # bytes: allocations below 1 GiB come from the heap and are reused


def fast_torch_env(env):
    """`env` with Debian torch's fair setup: OpenBLAS (OpenMP build) with its SkylakeX kernels and a malloc that
    reuses allocations below 1 GiB (without it torch 1.13's GEMMs on these VMs run ~20x slower)."""
    libs = OPENBLAS_DIR + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    return dict(env, OPENBLAS_CORETYPE="SkylakeX", GLIBC_TUNABLES=f"glibc.malloc.mmap_threshold={MMAP_THRESHOLD}",
                LD_LIBRARY_PATH=libs)


def run_json(cmd, env):
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    sys.stderr.write(p.stderr)
    if p.returncode:
        raise SystemExit(f"compare_throughput: {cmd[0]} failed ({p.returncode})")
    return [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="resnet50,vit_small_patch16_224,tnt_s_patch16_224")
    p.add_argument("--batch", default="32")
    p.add_argument("--modes", default="infer,train")
    p.add_argument("--dtypes", default="f32")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--vitbench", default=str(ROOT / "build" / "release" / "vitbench"))
    p.add_argument("--out", default=str(ROOT / "results" / "throughput"))
    a = p.parse_args()
    if not Path(OPENBLAS_DIR, "libblas.so.3").exists():
        sys.exit(f"compare_throughput: {OPENBLAS_DIR}/libblas.so.3 missing: bash scripts/setup-torch.sh installs "
                 "libopenblas0-openmp")
    # bf16 only where this CPU has it (`vitbench info --capabilities`, which honours ONEDNN_MAX_CPU_ISA).
    caps = dict(l.split(" ", 1) for l in subprocess.run([a.vitbench, "info", "--capabilities"], check=True,
                                                         capture_output=True, text=True).stdout.splitlines())
    wanted = a.dtypes.split(",")
    kept = [d for d in wanted if caps.get(d) == "available"]
    for d in wanted:
        if d not in kept:
            print(f"compare_throughput: {d} left out: {caps.get(d, 'unknown dtype')}", file=sys.stderr)
    if not kept:
        sys.exit("compare_throughput: none of --dtypes is available on this CPU")
    a.dtypes = ",".join(kept)
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), OPENBLAS_CORETYPE="SkylakeX",
               GLIBC_TUNABLES=f"glibc.malloc.mmap_threshold={MMAP_THRESHOLD}")
    torch_env = fast_torch_env(env)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    lines, facts = [], None
    load = [os.getloadavg()[0]]
    raw = out / f"compare-{stamp}.json"

    def save_raw():  # after every run: a failure later keeps what was measured
        raw.write_text(json.dumps({"command": " ".join(sys.argv), "env_both": {k: env[k] for k in
                                   ("OMP_NUM_THREADS", "OPENBLAS_CORETYPE", "GLIBC_TUNABLES")},
                                   "torch_LD_LIBRARY_PATH": torch_env["LD_LIBRARY_PATH"], "torch_facts": facts,
                                   "load_avg_1min": load, "lines": lines}, indent=1) + "\n")

    for r in range(a.rounds):
        for model in a.models.split(","):
            h5 = out / f"compare-{stamp}-r{r}-{model}.h5"
            for l in run_json([a.vitbench, "--threads", str(a.threads), "throughput", "--model", model, "--batch",
                               a.batch, "--mode", a.modes, "--dtype", a.dtypes, "--warmup", str(a.warmup),
                               "--iters", str(a.iters), "--peak-size", "2048", "--json", "--output", str(h5)], env):
                lines.append(dict(l, framework="vitbench", round=r, h5=h5.name))
            save_raw()
            peaks = {(l["dtype"]): l["gflops"] / l["peak_fraction"] for l in lines
                     if l["framework"] == "vitbench" and l["round"] == r and l["model"] == model and l["peak_fraction"]}
            tl = run_json(["/usr/bin/python3", str(ROOT / "scripts" / "torch_throughput.py"), "--model", model,
                           "--batch", a.batch, "--mode", a.modes, "--dtype", a.dtypes, "--threads", str(a.threads),
                           "--warmup", str(a.warmup), "--iters", str(a.iters)] + (["--facts"] if facts is None else []),
                          torch_env)
            for l in tl:
                if "facts" in l:
                    facts = l["facts"]
                    continue
                l["peak_fraction"] = l["gflops"] / peaks[l["dtype"]] if l["dtype"] in peaks else None
                lines.append(dict(l, round=r, peak_gflops_vitbench_run=peaks.get(l["dtype"])))
            load.append(os.getloadavg()[0])
            save_raw()

    # Table: per (model, mode, dtype, batch) the median over rounds of each side's per-round median.
    rows = []
    keys = sorted({(l["model"], l["mode"], l["dtype"], l["batch"]) for l in lines},
                  key=lambda k: (a.models.split(",").index(k[0]), k[1], k[2], k[3]))
    for k in keys:
        side = {fw: [l for l in lines if l["framework"] == fw and (l["model"], l["mode"], l["dtype"], l["batch"]) == k]
                for fw in ("vitbench", "pytorch")}
        v = statistics.median(l["images_per_s"] for l in side["vitbench"])
        t = statistics.median(l["images_per_s"] for l in side["pytorch"])
        vp = statistics.median(l["peak_fraction"] for l in side["vitbench"])
        tp = [l["peak_fraction"] for l in side["pytorch"] if l["peak_fraction"] is not None]
        rounds = " / ".join(f"{x['images_per_s']:.2f}" for x in side["vitbench"])
        trounds = " / ".join(f"{x['images_per_s']:.2f}" for x in side["pytorch"])
        rows.append(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {v:.2f} ({rounds}) | {t:.2f} ({trounds}) | {v / t:.2f} | "
                    f"{100 * vp:.1f} | {100 * statistics.median(tp) if tp else float('nan'):.1f} |")
    table = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {a.threads} threads, {a.rounds} rounds A B A B, "
        f"{a.iters} timed iterations per run; 1-min load average during the run {min(load):.1f}-{max(load):.1f} "
        f"(2 cores, shared). Raw: `results/throughput/{raw.name}`.",
        f"Command: `/usr/bin/python3 scripts/compare_throughput.py {' '.join(sys.argv[1:])}`", "",
        "| model | mode | dtype | batch | vitbench img/s (per round) | PyTorch img/s (per round) | ratio | vitbench % of peak | PyTorch % of peak |",
        "|---|---|---|---|---|---|---|---|---|", *rows])
    print(table)
    print(f"wrote {raw}", file=sys.stderr)


if __name__ == "__main__":
    main()
