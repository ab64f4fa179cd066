#!/usr/bin/python3
"""The PyTorch side of `vitbench throughput` (issue 5): the same models (tests/parity/torch_models.py, built from
the same preset settings), batch, threads and modes, in PyTorch eager at its fastest eager setting:
torch.inference_mode for inference, an SGD(momentum) step for training (forward / backward / step timed
separately, as ours), channels_last for ResNet, autocast(bfloat16) for bf16. One JSON line per measurement
in the shape of `vitbench throughput --json` (+ framework, samples); GFLOP = 2 x MACs, training = 3 x forward.
Run it through scripts/compare_throughput.py, which sets the BLAS / allocator environment (docs/throughput.md).

usage: torch_throughput.py --model resnet50,vit_small_patch16_224 --batch 32 --mode infer,train
                           --dtype f32,bf16 --threads 2 [--warmup 3 --iters 10] [--facts]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "parity"))
import torch_models as tm  # noqa: E402


def facts() -> dict:
    """What this torch runs on: its build config (oneDNN version), oneDNN availability, the BLAS it loaded."""
    maps = Path("/proc/self/maps").read_text()
    blas = sorted({line.split()[-1] for line in maps.splitlines() if "blas" in line and line.split()[-1].startswith("/")})
    return {"torch_version": torch.__version__, "config": torch.__config__.show(),
            "mkldnn_available": torch.backends.mkldnn.is_available(), "blas_libraries_loaded": blas,
            "num_threads": torch.get_num_threads(),
            "env": {k: os.environ.get(k) for k in ("LD_LIBRARY_PATH", "OPENBLAS_CORETYPE", "GLIBC_TUNABLES",
                                                   "OMP_NUM_THREADS")}}


def init_weights(model: nn.Module, seed: int):
    """Random weights (the parity models start at zero): N(0, 0.02) matrices/kernels, norm weights 1, biases 0."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.fill_(1.0) if "norm" in name or "bn" in name else p.copy_(torch.randn(p.shape, generator=g) * 0.02)


def quantiles(v):
    return float(np.quantile(v, 0.5)), float(np.quantile(v, 0.1)), float(np.quantile(v, 0.9))


def measure(name: str, batch: int, mode: str, dtype: str, warmup: int, iters: int, seed: int) -> dict:
    cfg = tm.PRESETS[name]
    model = tm.build(cfg)
    init_weights(model, seed)
    macs = tm.count_macs(model, cfg)
    x = torch.rand(batch, cfg.in_chans, cfg.img_size, cfg.img_size, generator=torch.Generator().manual_seed(seed + 1)) * 2 - 1
    if cfg.family == "resnet":  # PyTorch's fastest eager CPU layout for convolutions
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=(dtype == "bf16"))
    if dtype == "bf16":
        # torch 1.13's CPU autocast leaves layer_norm out of its cast lists, so a bf16 activation meeting an f32
        # LayerNorm fails ("expected scalar type BFloat16 but found Float"; TNT's word -> patch projection).
        # Run LayerNorm in f32, as vitbench does and as CUDA autocast would.
        for mod in model.modules():
            if isinstance(mod, nn.LayerNorm):
                mod.forward = (lambda m: lambda t: nn.functional.layer_norm(
                    t.float(), m.normalized_shape, m.weight, m.bias, m.eps))(mod)
    total, fwd, bwd, stp = [], [], [], []
    if mode == "infer":
        model.eval()
        with torch.inference_mode(), autocast:
            for i in range(warmup + 1 + iters):
                t0 = time.perf_counter()
                model(x)
                if i > warmup:
                    total.append(time.perf_counter() - t0)
    else:
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
        diff = torch.randn(batch, cfg.num_classes, generator=torch.Generator().manual_seed(seed + 2)) / batch
        for i in range(warmup + 1 + iters):
            t0 = time.perf_counter()
            with autocast:
                out = model(x)
            t1 = time.perf_counter()
            out.float().backward(diff)
            t2 = time.perf_counter()
            opt.step()
            opt.zero_grad(set_to_none=True)
            t3 = time.perf_counter()
            if i > warmup:
                total.append(t3 - t0), fwd.append(t1 - t0), bwd.append(t2 - t1), stp.append(t3 - t2)
    ips = [batch / t for t in total]
    med, p10, p90 = quantiles(ips)
    flop = 2.0 * macs * batch * (3 if mode == "train" else 1)
    line = {"framework": "pytorch", "model": name, "mode": mode, "dtype": dtype, "batch": batch,
            "threads": torch.get_num_threads(), "images_per_s": med, "p10": p10, "p90": p90,
            "gflops": flop * med / batch / 1e9, "peak_fraction": None, "latency_ms": 1e3 * float(np.median(total)),
            "iters": len(total), "total_s": total}
    if mode == "train":
        line.update(forward_ms=1e3 * float(np.median(fwd)), backward_ms=1e3 * float(np.median(bwd)),
                    step_ms=1e3 * float(np.median(stp)), forward_s=fwd, backward_s=bwd, step_s=stp)
    return line


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--batch", default="32")
    p.add_argument("--mode", default="infer")
    p.add_argument("--dtype", default="f32")
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--facts", action="store_true", help="print the torch facts JSON line first")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    for m in a.model.split(","):
        if m not in tm.PRESETS:
            sys.exit(f"torch_throughput: unknown model '{m}'; known: {', '.join(tm.PRESETS)}")
    for d in a.dtype.split(","):
        if d not in ("f32", "bf16"):
            sys.exit(f"torch_throughput: unknown dtype '{d}' (f32 or bf16)")
    if a.facts:
        print(json.dumps({"facts": facts()}), flush=True)
    for m in a.model.split(","):
        for mode in a.mode.split(","):
            for d in a.dtype.split(","):
                for b in a.batch.split(","):
                    line = measure(m, int(b), mode, d, a.warmup, a.iters, a.seed)
                    print(f"torch {m} {mode} {d} batch {b}: {line['images_per_s']:.2f} img/s", file=sys.stderr)
                    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
