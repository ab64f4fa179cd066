#!/usr/bin/env python3
"""Writes the seed inputs of tests/fuzz/corpus/<target>/seed-* (small valid inputs, in each target's input
layout: tests/fuzz/target_*.cpp). Deterministic; run from the project root:
    python3 tests/fuzz/make_seeds.py [--vitbench build/release/vitbench]
The checkpoint seeds need a built vitbench (init and a one-epoch training on synthetic data); the others are
written here byte by byte. Crashes found by fuzzing are committed beside them as crash-<sha1> (docs/reliability.md).
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests/fuzz/corpus"


def put(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data if isinstance(data, bytes) else data.encode())


def idx_pair(n, h, w, labels=None):
    labels = labels if labels is not None else [i % 10 for i in range(n)]
    lab = struct.pack(">II", 0x801, len(labels)) + bytes(labels)
    img = struct.pack(">IIII", 0x803, n, h, w) + bytes((i * 37) % 256 for i in range(n * h * w))
    return struct.pack("<H", len(lab)) + lab + img


def png(w, h, color_type, channels):
    raw = b"".join(b"\0" + bytes((x * 40 + y * 13 + c * 90) % 256 for x in range(w) for c in range(channels))
                   for y in range(h))
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def cache_payload(classes, splits, norm=1):
    def s(t):
        b = t.encode()
        return struct.pack("<Q", len(b)) + b
    out = struct.pack("<Q", len(classes)) + b"".join(s(c) for c in classes)
    for _ in range(2):
        out += struct.pack("<Q", norm) + struct.pack(f"<{norm}f", *([0.5] * norm))
    for name, n, c, h, w in splits:
        out += s(name) + struct.pack("<qqqq", n, c, h, w) + struct.pack(f"<{n}i", *[i % len(classes) for i in range(n)])
        out += bytes((i * 7) % 256 for i in range(n * c * h * w))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vitbench", default=str(ROOT / "build/release/vitbench"))
    args = ap.parse_args()

    for t in ("idx_raw", "idx_gzip"):
        put(t, "3x4x4", idx_pair(3, 4, 4))
        put(t, "2x28x28", idx_pair(2, 28, 28))
        put(t, "empty", idx_pair(0, 28, 28))
    put("idx_gzip", "truncated", idx_pair(3, 4, 4) + b"\xf4")  # last byte > 0xf0: 4 bytes cut off the stream

    names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n".encode()
    rec = lambda label: bytes([label]) + bytes((i * 11) % 256 for i in range(3072))
    put("cifar_bin", "meta-2records", struct.pack("<H", len(names)) + names + rec(3) + rec(9))
    put("cifar_bin", "nometa-1record", struct.pack("<H", 0xffff) + rec(0))

    put("image_folder", "grey-4x4.png", png(4, 4, 0, 1))
    put("image_folder", "rgb-3x2.png", png(3, 2, 2, 3))
    put("image_folder", "rgba-2x2.png", png(2, 2, 6, 4))
    put("image_folder", "greyalpha-5x1.png", png(5, 1, 4, 2))

    put("image_cache", "payload-2classes",
        cache_payload(["a", "b"], [("f/train", 4, 1, 2, 2), ("f/test", 2, 1, 2, 2)]))
    put("image_cache", "payload-rgb", cache_payload(["x", "y", "z"], [("f/train", 3, 3, 4, 4), ("f/test", 1, 3, 4, 4)], 3))
    full = cache_payload(["a"], [("f/train", 1, 1, 1, 1), ("f/test", 1, 1, 1, 1)])
    put("image_cache", "whole-file", b"VBIMGC01" + full + struct.pack("<QQ", len(full), 0))

    for p in sorted((ROOT / "experiments").glob("*.json")):
        put("preset_json", p.stem, p.read_bytes())
    put("preset_json", "bad-key", (ROOT / "tests/cli/bad_preset.json").read_bytes())
    put("preset_json", "overrides", json.dumps({"model": "vit_tiny_patch4_32", "overrides": ["depth=2", "pos_embed=none"],
                                                "batch": 0, "epochs": -1, "seed": 18446744073709551615}))

    small = {"sweep": "fuzz", "base": {"model": "vit_tiny_patch4_32", "dataset": "synthetic:train=96,test=32,size=8",
                                       "val_size": 16, "batch": 16, "epochs": 1, "overrides": ["img_size=8", "depth=1"]},
             "arms": [{"name": "a", "overrides": ["pos_embed=none"]}, {"name": "b", "set": {"lr": 0.01}}],
             "axes": {"seed": [0, 1]}, "seconds_per_step": {"vit_tiny_patch4_32": {"seconds": 0.01, "batch": 16}},
             "tiers": {"smoke": {"set": {"train_size": 32}, "max_hours": 1}}}
    put("sweep_json", "small", json.dumps(small, indent=1))
    small["tiers"]["smoke"]["plan_only"] = True
    small["rf"] = {"images": 2, "batch": 2, "when": {"seed": [0]}}
    put("sweep_json", "plan-only-rf", json.dumps(small, indent=1))
    for p in sorted((ROOT / "experiments/sweeps").glob("*.json")):
        put("sweep_json", p.stem, p.read_bytes())

    put("set_override", "vit", "vit_tiny_patch4_32\npos_embed=learned_2d\ndepth=2\nimg_size=64")
    put("set_override", "resnet", "resnet50_w16_32\nlayers=1,1,1,1\nbase_width=8\nstem=imagenet")
    put("set_override", "tnt", "tnt_s_patch16_224\ntnt_pos=none\ninner_dim=8\ndrop_path=0.5\ndtype=f32")

    # Checkpoints: written by vitbench itself for the tiny models target_checkpoint.cpp loads.
    # train takes num_classes from the data (3 classes); init needs it set.
    vit = ["--model", "vit_tiny_patch4_32", "--set", "depth=1", "--set", "embed_dim=8", "--set", "num_heads=2",
           "--set", "mlp_dim=16", "--set", "img_size=8"]
    res = ["--model", "resnet50_w16_32", "--set", "layers=1,1,1,1", "--set", "base_width=2", "--set", "img_size=8"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in (("vit-init.h5", vit), ("resnet-init.h5", res)):
            subprocess.run([args.vitbench, "init", *model, "--set", "num_classes=3", "--seed", "0", "--output",
                            f"{tmp}/{name}"], check=True, env=env)
            put("checkpoint_h5", name, Path(f"{tmp}/{name}").read_bytes())
        for name, model in (("vit-train-state.h5", vit),):  # (a ResNet one is 250 KB: init covers its counters)
            out = f"{tmp}/{name}.run"
            subprocess.run([args.vitbench, "train", *model, "--dataset", "synthetic:train=48,test=8,size=8,classes=3",
                            "--epochs", "1", "--batch", "16", "--val", "8", "--output", out, "--quiet"],
                           check=True, env=env, stdout=subprocess.DEVNULL)
            put("checkpoint_h5", name, Path(f"{out}/checkpoint.h5").read_bytes())


if __name__ == "__main__":
    main()
