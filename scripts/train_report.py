#!/usr/bin/python3
"""Markdown tables of training runs from their HDF5 records (vitbench train's record.h5, or results/train/*.h5):
final test metrics, wall time and images/s per run, then the per-epoch validation/test curve of each.
usage: /usr/bin/python3 scripts/train_report.py [record.h5 | folder ...]   (default: results/train)"""
import json
import math
import pathlib
import sys

import h5py


def records(paths):
    for p in map(pathlib.Path, paths or ["results/train"]):
        yield from sorted(p.glob("*.h5")) if p.is_dir() else [p]


def main(argv):
    runs = []
    for path in records(argv):
        with h5py.File(path) as f:
            if f.attrs.get("kind") != "train" or f.attrs.get("complete") != 1:
                continue
            cfg = json.loads(f.attrs["config"])
            ep = {k: f[f"epochs/{k}"][:] for k in ("val_top1", "test_top1", "wall_s", "images_per_s")}
            runs.append((path, dict(f.attrs), cfg, ep))
    print("| run | model (params) | data (train/val/test) | budget | test top-1 | top-5 | training time | img/s |")
    print("|---|---|---|---|---|---|---|---|")
    for path, a, cfg, ep in runs:
        r = cfg["resolved"]
        d = r["dataset"]
        budget = f"{cfg['steps']} steps" if cfg["steps"] else f"{cfg['epochs']} epochs"
        print(f"| {path.stem} | {r['model']['name']} ({r['params']:,}) | {d['name']} ({d['train_images']}/"
              f"{d['val_images']}/{d['test_images']}) | {budget} x {cfg['batch']} | {a['test_top1']:.2f}% | "
              f"{a['test_top5']:.2f}% | {a['train_wall_s'] / 60:.1f} min | {a['images_per_s']:.0f} |")
    for path, a, cfg, ep in runs:
        print(f"\n{path.stem}: per epoch (val top-1 / test top-1 / cumulative training minutes)")
        t = 0.0
        cells = []
        for v, te, w in zip(ep["val_top1"], ep["test_top1"], ep["wall_s"]):
            t += w
            cells.append(f"{v:.2f} / {'-' if math.isnan(te) else f'{te:.2f}'} / {t / 60:.1f}")
        print("| " + " | ".join(f"epoch {i + 1}" for i in range(len(cells))) + " |")
        print("|" + "---|" * len(cells))
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
