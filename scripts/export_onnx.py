#!/usr/bin/python3
"""Exports a parity model (tests/parity/torch_models.py, the same module and random weights as
scripts/torch_throughput.py) to ONNX for ONNX Runtime's side of the throughput comparison (docs/throughput.md), with
Debian's torch: torch.onnx.export, opset 17, a dynamic batch axis; no `onnx` package needed. Also writes PyTorch's
logits for a fixed 2-image input (<out>.check.input.f32, <out>.check.logits.f32, raw little-endian float32) so that
scripts/ort/ort_throughput.mjs --check can compare ORT's logits with PyTorch's.

usage: export_onnx.py --model vit_small_patch16_224 --out out/onnx/vit_small_patch16_224.onnx [--seed 0]"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "parity"))
import torch_models as tm  # noqa: E402
from torch_throughput import init_weights  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if a.model not in tm.PRESETS:
        sys.exit(f"export_onnx: unknown model '{a.model}'; known: {', '.join(tm.PRESETS)}")
    cfg = tm.PRESETS[a.model]
    model = tm.build(cfg)
    init_weights(model, a.seed)
    if cfg.family == "resnet":
        # N(0, 0.02) kernels shrink a ResNet's activations ~2x per layer, so its logits vanish and the check below
        # could not fail: torchvision's kaiming_normal_(fan_out) instead (the values do not change the speed).
        g = torch.Generator().manual_seed(a.seed + 7)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.Conv2d):
                    fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
                    m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_out) ** 0.5)
    model.eval()
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    x = torch.rand(2, cfg.in_chans, cfg.img_size, cfg.img_size, generator=torch.Generator().manual_seed(a.seed + 1)) * 2 - 1
    tmp = out.with_name(f"{out.name}.partial.{os.getpid()}")  # two sweep lines exporting at once never share it
    with torch.no_grad():
        torch.onnx.export(model, x, str(tmp), opset_version=17, input_names=["images"], output_names=["logits"],
                          dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}})
        logits = model(x)
    x.numpy().astype("<f4").tofile(str(out) + ".check.input.f32")
    logits.numpy().astype("<f4").tofile(str(out) + ".check.logits.f32")
    tmp.rename(out)  # complete only once whole
    print(f"export_onnx: {a.model} -> {out} ({out.stat().st_size / 1e6:.1f} MB, opset 17)", file=sys.stderr)


if __name__ == "__main__":
    main()
