#!/usr/bin/python3
"""The suite's figure script: reads every vitbench HDF5 result under the given files/folders (default results/)
and writes PNG figures to results/figures/. One function per figure, grouped by the `kind` attribute of the
results they read (FIGURES below); a new kind of result adds its functions there. Needs only h5py and
matplotlib (Debian: python3-h5py, python3-matplotlib); run with /usr/bin/python3 or `ninja figures`.
"""
import argparse
import json
import os
import sys
from collections import defaultdict

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

SCHEMA = "vitbench-result/1"
FAMILY_ORDER = {"resnet": 0, "vit": 1, "tnt": 2}


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def find_results(paths):
    """Every complete vitbench result (path, kind) under `paths`, sorted by path."""
    files = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs[:] = [d for d in dirs if d != "sweeps"]  # sweep records: scripts/report.py summarises them
                files += [os.path.join(root, n) for n in names if n.endswith(".h5")]
        elif p.endswith(".h5"):
            files.append(p)
        else:
            sys.exit(f"figures.py: {p}: not a folder or .h5 file")
    out = []
    for f in sorted(files):
        try:
            with h5py.File(f, "r") as h:
                if text(h.attrs.get("schema", "")) == SCHEMA and int(h.attrs.get("complete", 0)) == 1:
                    out.append((f, text(h.attrs["kind"])))
        except OSError as e:
            print(f"figures.py: skipping {f}: {e}", file=sys.stderr)
    return out


# ---- kind = rf ---------------------------------------------------------------------------------------------

def load_rf(path):
    """One rf result as plain Python/numpy values."""
    with h5py.File(path, "r") as h:
        r = {"path": path, "model": text(h.attrs["model"]), "family": text(h.attrs["family"]),
             "checkpoint": text(h.attrs["checkpoint"]), "images": int(h.attrs["images"]),
             "upsampled": bool(h.attrs["upsampled"]), "img_size": int(h.attrs["img_size"])}
        r["label"] = r["model"] + ("" if r["checkpoint"] == "random init" else " (trained)")
        t = h["theoretical"]
        r["tap_names"] = json.loads(text(t["tap_size"].attrs["taps"]))
        r["tap_size"] = t["tap_size"][:]
        r["tap_whole"] = t["tap_whole_image"][:]
        e = h["erf"]
        r["names"] = json.loads(text(e["maps"].attrs["layers"]))
        r["maps"] = e["maps"][:]
        for k in ("depth", "words", "side90", "theoretical_size", "tap"):
            r[k] = e[k][:]
        r["attention"] = {k: h["attention"][k][:] for k in h.get("attention", {})}
    return r


def sort_rf(results):
    return sorted(results, key=lambda r: (FAMILY_ORDER.get(r["family"], 9), r["model"], r["checkpoint"]))


def rf_rows(results):
    """Heat-map rows: each result's main stream (stem/blocks, patch tokens), and TNT's words as a row of its own."""
    rows = []
    for r in sort_rf(results):
        for words in (False, True):
            idx = [i for i in range(len(r["names"])) if bool(r["words"][i]) == words]
            if idx:
                rows.append((r, idx, r["label"] + (" words" if words else "")))
    return rows


def fig_erf_grid(results, out):
    """ERF maps by depth: a row per model (TNT's words a row of their own), columns at depth 0, 1/4, ..., 1."""
    fractions = [0.0, 0.25, 0.5, 0.75, 1.0]
    rows = rf_rows(results)
    fig, axes = plt.subplots(len(rows), len(fractions), figsize=(2.2 * len(fractions), 2.3 * len(rows)),
                             squeeze=False)
    for row, (r, idx, label) in enumerate(rows):
        depths = r["depth"][idx]
        for col, f in enumerate(fractions):
            ax = axes[row][col]
            i = idx[int(np.argmin(np.abs(depths - f)))]
            m = r["maps"][i]
            # Square-root colours: the tails of a transformer's map are faint next to its own patch.
            ax.imshow(m / m.max() if m.max() > 0 else m, cmap="inferno", norm=matplotlib.colors.PowerNorm(0.5, 0, 1))
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"{r['names'][i]}\nERF90 {int(r['side90'][i])} px", fontsize=7)
            if col == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.suptitle("Effective receptive field (|d centre unit / d input|; per map: / max, square-root colours) by depth\n"
                 "an empty map (-1) is a LayerNorm output whose all-ones gradient is 0 (docs/receptive_fields.md)",
                 fontsize=9)
    fig.tight_layout()
    return save(fig, out, "rf_erf_grid.png")


def fig_erf_side(results, out):
    """ERF-90% side vs depth, one curve per model, plus the CNNs' theoretical receptive field."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    img = 0
    for r in sort_rf(results):
        img = max(img, r["img_size"])
        for words, style in ((False, "-o"), (True, ":^")):
            idx = [i for i in range(len(r["names"])) if bool(r["words"][i]) == words and r["side90"][i] > 0]
            if idx:
                ax.plot(r["depth"][idx], r["side90"][idx], style, ms=3,
                        label=f"{r['label']}{' words' if words else ''} ERF 90%")
        if r["family"] == "resnet":
            n = len(r["tap_size"])
            ax.plot(np.arange(n) / max(n - 1, 1), r["tap_size"], "k--", lw=1, label=f"{r['model']} theoretical RF")
    if img:
        ax.axhline(img, color="grey", lw=0.8)
        ax.text(0.0, img, " image side", va="bottom", fontsize=7, color="grey")
    ax.set_xlabel("depth (blocks below the tap / blocks)")
    ax.set_ylabel("side of the centred square (px)")
    ax.set_title("ERF-90% side vs depth", fontsize=10)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return save(fig, out, "rf_erf90_vs_depth.png")


def fig_attention_distance(results, out):
    """Mean attention distance: block on x, one dot per head; TNT's outer (patches) and inner (words) apart."""
    panels = [(r, k) for r in sort_rf(results) for k in ("outer", "inner") if k in r["attention"]]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), squeeze=False)
    for ax, (r, k) in zip(axes[0], panels):
        d = r["attention"][k]  # (blocks, heads)
        for h in range(d.shape[1]):
            ax.scatter(np.arange(1, d.shape[0] + 1), d[:, h], s=10)
        ax.set_title(f"{r['label']}: {'patches' if k == 'outer' else 'words'}", fontsize=8)
        ax.set_xlabel("block")
        ax.set_ylabel("mean attention distance (px)")
        ax.set_ylim(0, max(1.15 * float(d.max()), 1.0))
    fig.tight_layout()
    return save(fig, out, "rf_attention_distance.png")


def table_erf90(results, out):
    """Markdown table of the ERF-90% side (px) at each depth, one column per model (words a column of their own)."""
    cols = rf_rows(results)
    depths = sorted({round(float(r["depth"][i]), 3) for r, idx, _ in cols for i in idx})
    lines = ["| depth | " + " | ".join(label for _, _, label in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for d in depths:
        cells = []
        for r, idx, _ in cols:
            hit = [i for i in idx if round(float(r["depth"][i]), 3) == d]
            cells.append(" ".join(f"{r['names'][i]} {int(r['side90'][i]) if r['side90'][i] > 0 else '-'}"
                                  for i in hit))
        lines.append(f"| {d:.3f} | " + " | ".join(cells) + " |")
    notes = [f"- {r['label']}: {r['checkpoint']}, {r['images']} images"
             f"{' upsampled to ' + str(r['img_size']) if r['upsampled'] else ''} ({os.path.basename(r['path'])})"
             for r in sort_rf(results)]
    path = os.path.join(out, "rf_erf90.md")
    with open(path, "w") as f:
        f.write("ERF-90% side (px) by depth\n\n" + "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n")
    return path


# ---- kind = train -------------------------------------------------------------------------------------------

def load_train(path):
    with h5py.File(path) as f:
        cfg = json.loads(text(f.attrs["config"]))
        r = {k: f[f"epochs/{k}"][:] for k in ("val_top1", "test_top1", "wall_s")}
        r.update(name=os.path.splitext(os.path.basename(path))[0], model=cfg["resolved"]["model"]["name"],
                 dataset=cfg["resolved"]["dataset"]["name"], final_top1=float(f.attrs["test_top1"]))
    return r


def fig_train_curves(results, out):
    """Validation (solid) and test (dashed) top-1 against cumulative training minutes, one panel per dataset."""
    datasets = sorted({r["dataset"] for r in results})
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4), squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        for r in (r for r in results if r["dataset"] == ds):
            t = np.cumsum(r["wall_s"]) / 60
            (line,) = ax.plot(t, r["val_top1"], "o-", label=f"{r['name']} ({r['model']}) val")
            ax.plot(t, r["test_top1"], "x--", color=line.get_color(), label=f"test, final {r['final_top1']:.2f}%")
        ax.set(title=ds, xlabel="training time (min)", ylabel="top-1 (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, out, "train_curves.png")


# ---- dispatch ----------------------------------------------------------------------------------------------

# kind -> (loader, [figure functions]); each figure function takes every result of its kind and the folder.
FIGURES = {
    "rf": (load_rf, [fig_erf_grid, fig_erf_side, fig_attention_distance, table_erf90]),
    "train": (load_train, [fig_train_curves]),
}


def save(fig, out, name):
    path = os.path.join(out, name)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", default=["results"], help="result files or folders (default: results)")
    ap.add_argument("--out", default=None, help="output folder (default: <first folder>/figures)")
    args = ap.parse_args()
    out = args.out or os.path.join(args.paths[0] if os.path.isdir(args.paths[0]) else ".", "figures")
    os.makedirs(out, exist_ok=True)
    by_kind = defaultdict(list)
    for path, kind in find_results(args.paths):
        by_kind[kind].append(path)
    written = []
    for kind, paths in sorted(by_kind.items()):
        if kind not in FIGURES:
            continue
        loader, figures = FIGURES[kind]
        results = [loader(p) for p in paths]
        for f in figures:
            p = f(results, out)
            if p:
                written.append(p)
    for p in written:
        print(f"wrote {p}")
    if not written:
        print("figures.py: no results with figures found in " + ", ".join(args.paths))


if __name__ == "__main__":
    main()
