#!/usr/bin/python3
"""Where the time of a `vitbench throughput` run goes, per oneDNN primitive, and how close its GEMMs come to the
GEMM peak measured in the same process (issue 5: "the largest fp32 GEMMs of vit_small_patch16_224 at >= 70% of
the measured fp32 GEMM peak"; docs/throughput.md).

It runs `vitbench throughput` with DNNL_VERBOSE=2 (this oneDNN 2.6 prints execution times only with DNNL_VERBOSE;
ONEDNN_VERBOSE is ignored) and reads the `onednn_verbose,exec,...` lines:
  - the peak: the run's own oneDNN matmul at --peak-size^3 (the GEMM peak `vitbench throughput` measures), median
    GFLOP/s of its executions of the matching dtype;
  - the GEMMs: inner products (mb x ic x oc, forward / backward data / backward weights) and matmuls (batched
    M x K x N), grouped by shape, implementation and direction, median time per execution -> GFLOP/s (2 x MACs)
    and % of the peak; sorted by FLOP per execution, largest first;
  - the breakdown: total primitive time per kind / implementation / direction, the untimed first iteration and
    the peak's matmuls excluded (the first `--skip` executions of each shape are dropped).
Time outside oneDNN primitives (our own host loops) is the difference between the iteration time and the sum.

usage: profile_primitives.py --model vit_small_patch16_224 [--batch 32] [--mode infer] [--dtype f32]
                             [--iters 3] [--threads 2] [--top 12] [--vitbench build/release/vitbench] [--json OUT]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def gemm_flop(kind: str, problem: str) -> tuple[float, str] | None:
    """(FLOP per execution, shape label) of an inner product or matmul problem string, else None."""
    if kind == "inner_product":
        m = re.fullmatch(r"mb(\d+)ic(\d+)(?:ih\d+(?:iw\d+)?)?oc(\d+)", problem)
        if not m:
            return None
        mb, ic, oc = map(int, m.groups())
        return 2.0 * mb * ic * oc, f"{mb}x{ic}x{oc} (MxKxN)"
    if kind == "matmul":
        parts = problem.split(":")
        if len(parts) != 3:
            return None
        src, wei = [list(map(int, p.split("x"))) for p in parts[:2]]
        batch = 1
        for d in src[:-2]:
            batch *= d
        m, k, n = src[-2], src[-1], wei[-1]
        return 2.0 * batch * m * k * n, f"{batch}x[{m}x{k}x{n}]"
    return None


def src_dtype(descs: str) -> str:
    m = re.search(r"(?:src|data)_(\w+?):", descs)
    return m.group(1) if m else "?"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--mode", default="infer", choices=["infer", "train"])
    p.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--peak-size", type=int, default=2048)
    p.add_argument("--top", type=int, default=12)
    p.add_argument("--set", action="append", default=[], help="model override, as `vitbench throughput --set`")
    p.add_argument("--vitbench", default=str(ROOT / "build" / "release" / "vitbench"))
    p.add_argument("--json", help="also write the tables as JSON here")
    a = p.parse_args()
    if not Path(a.vitbench).exists():
        sys.exit(f"profile_primitives: {a.vitbench} not found (build first: cmake --build --preset release)")
    cmd = [a.vitbench, "--threads", str(a.threads), "throughput", "--model", a.model, "--batch", str(a.batch),
           "--mode", a.mode, "--dtype", a.dtype, "--warmup", "0", "--iters", str(a.iters), "--peak-size",
           str(a.peak_size), "--peak-repeats", "3", "--no-memory-check", "--json", "--output", os.devnull]
    for s in a.set:
        cmd += ["--set", s]
    print("$ DNNL_VERBOSE=2", " ".join(cmd), file=sys.stderr)
    proc = subprocess.run(cmd, env=dict(os.environ, DNNL_VERBOSE="2", OMP_NUM_THREADS=str(a.threads)),
                          capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        sys.exit(f"profile_primitives: vitbench failed ({proc.returncode})")
    summary = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
    execs = []
    for line in proc.stdout.splitlines():
        if not line.startswith(("onednn_verbose,exec,", "dnnl_verbose,exec,")):
            continue
        f = line.strip().split(",")
        # prefix,exec,engine,kind,impl,prop,descs,attrs,aux,problem,time
        execs.append({"kind": f[3], "impl": f[4], "prop": f[5], "dtype": src_dtype(f[6]), "problem": f[-2],
                      "ms": float(f[-1])})
    if not execs:
        sys.exit("profile_primitives: no onednn_verbose exec lines (is this oneDNN built with verbose support?)")

    peak_problem = ":".join([f"{a.peak_size}x{a.peak_size}"] * 3)
    peak_flop = 2.0 * a.peak_size ** 3
    peak_ms = [e["ms"] for e in execs if e["kind"] == "matmul" and e["problem"] == peak_problem
               and e["dtype"] == a.dtype]
    if not peak_ms:
        sys.exit(f"profile_primitives: no {a.dtype} {peak_problem} matmul in the run (the GEMM peak)")
    # The first of each peak series is vitbench's untimed warm-up; the median of all is robust to it.
    peak = peak_flop / statistics.median(peak_ms) / 1e6
    model_execs = [e for e in execs if not (e["kind"] == "matmul" and e["problem"] == peak_problem)]

    # Drop the untimed first iteration: the first execution of each primitive instance (same kind/prop/problem)
    # happens in it. Shapes executed k times per iteration appear (iters + 1) x k times.
    groups = collections.defaultdict(list)
    for e in model_execs:
        groups[(e["kind"], e["impl"], e["prop"], e["dtype"], e["problem"])].append(e["ms"])
    per_iter = {}
    for k, v in groups.items():
        n_per_iter = max(1, len(v) // (a.iters + 1))
        per_iter[k] = v[n_per_iter:]  # skip the first iteration's executions

    total = sum(sum(v) for v in per_iter.values()) / a.iters
    iter_ms = summary[0]["latency_ms"] if summary else float("nan")
    by_kind = collections.Counter()
    for (kind, impl, prop, dt, _), v in per_iter.items():
        by_kind[(kind, impl, prop, dt)] += sum(v) / a.iters
    print(f"{a.model} {a.mode} {a.dtype} batch {a.batch}, {a.threads} threads: iteration {iter_ms:.1f} ms (median), "
          f"oneDNN primitives {total:.1f} ms, outside primitives {iter_ms - total:.1f} ms; "
          f"{a.dtype} GEMM peak {a.peak_size}^3 in this run {peak:.1f} GFLOP/s")
    print(f"\n{'ms/iter':>9s} {'%':>6s}  kind / implementation / direction / src dtype")
    rows_kind = []
    for (kind, impl, prop, dt), ms in by_kind.most_common():
        print(f"{ms:9.2f} {100 * ms / total:6.1f}  {kind} {impl} {prop} {dt}")
        rows_kind.append({"kind": kind, "impl": impl, "prop": prop, "dtype": dt, "ms_per_iter": ms})

    gemms = []
    for (kind, impl, prop, dt, problem), v in per_iter.items():
        fl = gemm_flop(kind, problem)
        if not fl or not v:
            continue
        med = statistics.median(v)
        gemms.append({"kind": kind, "impl": impl, "prop": prop, "dtype": dt, "shape": fl[1], "problem": problem,
                      "flop": fl[0], "median_ms": med, "gflops": fl[0] / med / 1e6,
                      "peak_fraction": fl[0] / med / 1e6 / peak, "executions_per_iter": len(v) / a.iters})
    gemms.sort(key=lambda g: -g["flop"])
    print(f"\nLargest GEMMs (of {len(gemms)}), median per execution vs the {a.dtype} peak {peak:.1f} GFLOP/s:")
    print(f"{'GFLOP':>8s} {'ms':>8s} {'GFLOP/s':>9s} {'% peak':>7s} {'n/iter':>6s}  shape, direction, implementation")
    for g in gemms[:a.top]:
        print(f"{g['flop'] / 1e9:8.3f} {g['median_ms']:8.2f} {g['gflops']:9.1f} {100 * g['peak_fraction']:7.1f} "
              f"{g['executions_per_iter']:6.0f}  {g['kind']} {g['shape']} {g['prop']} {g['impl']} {g['dtype']}")
    gemm_ms = sum(g["median_ms"] * g["executions_per_iter"] for g in gemms)
    all_flop = sum(g["flop"] * g["executions_per_iter"] for g in gemms)
    print(f"\nAll GEMMs together: {gemm_ms:.1f} ms/iter, {all_flop / gemm_ms / 1e6:.1f} GFLOP/s "
          f"= {100 * all_flop / gemm_ms / 1e6 / peak:.1f}% of peak; {100 * gemm_ms / total:.1f}% of primitive time")
    if a.json:
        Path(a.json).write_text(json.dumps({"command": cmd, "peak_gflops": peak, "iteration_ms": iter_ms,
                                            "primitive_ms": total, "by_kind": rows_kind, "gemms": gemms,
                                            "summary": summary}, indent=1) + "\n")


if __name__ == "__main__":
    main()
