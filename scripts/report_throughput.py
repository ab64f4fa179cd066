"""Throughput sweeps in the report (docs/sweeps.md, "Throughput sweeps"): for every case (model, mode, dtype,
batch) vitbench's and PyTorch's images/s per round, the per-round ratio vitbench / PyTorch, and vitbench's share of
the GEMM peak its own process measured. Read from the records alone; scripts/report.py calls it.

A sweep folder is a throughput sweep when its sweep.json says "kind": "throughput". Ratios are taken within a round
(the two frameworks ran back to back, A B A B), so machine drift between rounds cancels; the table shows the median
ratio over rounds with its lowest and highest, never a ratio of medians taken at different times."""
from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass, field
from datetime import datetime

import h5py

TIERS = ("smoke", "quick", "standard", "full")


@dataclass
class Measured:
    name: str
    framework: str
    case: tuple  # (model, mode, dtype, batch)
    round: int
    ips: float  # median images/s of the timed iterations
    peak_fraction: float | None
    attrs: dict
    record: str
    flags: list = field(default_factory=list)

    def wall_s(self):
        try:
            t = [datetime.strptime(self.attrs[k], "%Y-%m-%dT%H:%M:%SZ") for k in ("start_time", "end_time")]
            return (t[1] - t[0]).total_seconds()
        except (KeyError, ValueError):
            return 0.0


@dataclass
class ThroughputTier:
    sweep: str
    tier: str
    folder: str
    meta: dict
    planned: int
    runs: list
    missing: list
    skipped: list  # (record, reason)
    notes: list = field(default_factory=list)
    rf_missing: list = field(default_factory=list)  # (none: a throughput line has no rf step)


def _text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def is_throughput(folder):
    try:
        with open(os.path.join(folder, "sweep.json")) as f:
            return json.load(f).get("kind") == "throughput"
    except (OSError, json.JSONDecodeError):
        return False


def load(folder, sweep, tier, shown):
    """One tier folder: the manifest and each line's record. `shown(path)` is how a path is displayed."""
    with open(os.path.join(folder, "sweep.json")) as f:
        meta = json.load(f)
    with open(os.path.join(folder, "sweep.jsonl")) as f:
        lines = [json.loads(l) for l in f if l.strip()]
    runs, missing, skipped = [], [], []
    for line in sorted(lines, key=lambda l: l["index"]):
        path = os.path.join(folder, line["name"] + ".h5")
        if not os.path.exists(path):
            missing.append(line["name"])
            continue
        c = line["config"]
        case = (c["model"], c["mode"], c["dtype"], int(c["batch"]))
        group = f"throughput/{case[0]}/{case[1]}/{case[2]}/batch{case[3]}"
        try:
            with h5py.File(path, "r") as f:
                attrs = {k: (_text(v) if isinstance(v, (bytes, str)) else v.item() if hasattr(v, "item") else v)
                         for k, v in f.attrs.items()}
                if int(attrs.get("complete", 0)) != 1:
                    skipped.append((shown(path), f"incomplete (complete = {attrs.get('complete', 'absent')})"))
                    continue
                if attrs.get("kind") != "throughput" or group not in f:
                    skipped.append((shown(path), f"not a throughput record of {group}"))
                    continue
                g = f[group].attrs
                ips = float(g["images_per_s_median"])
                peak = float(g["peak_fraction"]) if "peak_fraction" in g and float(g["peak_fraction"]) > 0 else None
        except OSError as e:
            skipped.append((shown(path), f"unreadable ({e})"))
            continue
        runs.append(Measured(line["name"], c["framework"], case, int(c.get("round", 0)), ips, peak, attrs, shown(path)))
    for name in sorted(os.listdir(folder)):
        if name.endswith(".h5") and name[:-3] not in {l["name"] for l in lines}:
            skipped.append((shown(os.path.join(folder, name)), "not in sweep.jsonl"))
    return ThroughputTier(sweep, tier, shown(folder), meta, len(lines), runs, missing, skipped)


def discover(results_dir, shown):
    """{sweep: ThroughputTier of its highest tier with records} and every tier read (for the What-ran table)."""
    root = os.path.join(results_dir, "sweeps")
    used, read = {}, []
    if not os.path.isdir(root):
        return used, read
    for sweep in sorted(os.listdir(root)):
        for tier in TIERS:
            folder = os.path.join(root, sweep, tier)
            if os.path.isdir(folder) and is_throughput(folder):
                td = load(folder, sweep, tier, shown)
                read.append(td)
                if td.runs:
                    used[sweep] = td
    return used, read


def _fmt(v):
    return f"{v:.2f}" if v < 100 else f"{v:.1f}"


def rows(td, dagger="†"):
    """Table rows, one per case in manifest order: medians over rounds, per-round values, ratio median (range)."""
    cases = list(dict.fromkeys(r.case for r in td.runs))
    out = []
    for case in cases:
        side = {fw: sorted((r for r in td.runs if r.case == case and r.framework == fw), key=lambda r: r.round)
                for fw in ("vitbench", "pytorch")}
        v, t = side["vitbench"], side["pytorch"]
        t_by_round = {r.round: r for r in t}
        ratios = [r.ips / t_by_round[r.round].ips for r in v if r.round in t_by_round]
        flagged = any(r.flags for r in v + t)

        def cell(rs):
            if not rs:
                return "-"
            return f"{_fmt(statistics.median(r.ips for r in rs))} ({' / '.join(_fmt(r.ips) for r in rs)})"
        peaks = [r.peak_fraction for r in v if r.peak_fraction]
        ratio = (f"**{statistics.median(ratios):.2f}** ({min(ratios):.2f}–{max(ratios):.2f})" if len(ratios) > 1
                 else f"**{ratios[0]:.2f}**" if ratios else "-")
        out.append([case[0] + (f" {dagger}" if flagged else ""), case[1], case[2], str(case[3]), cell(v), cell(t),
                    ratio, str(len(ratios)), f"{100 * statistics.median(peaks):.1f}" if peaks else "-"])
    return out


HEADER = ["model", "mode", "dtype", "batch", "vitbench img/s (per round)", "PyTorch img/s (per round)",
          "ratio (lowest–highest round)", "rounds paired", "vitbench % of GEMM peak"]
ALIGN = "llllrrrrr"


def caption(td):
    cpus = sorted({r.attrs.get("cpu_model", "?") for r in td.runs})
    isas = sorted({r.attrs.get("isa", "?") for r in td.runs})
    threads = sorted({str(r.attrs.get("threads", "?")) for r in td.runs})
    return (f"Throughput, vitbench vs PyTorch eager ({td.sweep}, tier {td.tier}) on {', '.join(cpus)} "
            f"({', '.join(isas)}), {', '.join(threads)} threads")


def notes(td):
    return ["Ratio = vitbench / PyTorch images/s of the same round (the two ran back to back); bold: the median "
            "over rounds. img/s: the median of each run's timed iterations, then the median over rounds. % of GEMM "
            "peak: the model's FLOP rate over the f32/bf16 GEMM rate vitbench measured in the same process "
            "(docs/throughput.md)."]


def figure(td, plt, save, out):
    """Bars: the median ratio per case with the lowest and highest round as whiskers; 1 = level with PyTorch."""
    cases = list(dict.fromkeys(r.case for r in td.runs))
    labels, med, lo, hi = [], [], [], []
    for case in cases:
        t = {r.round: r.ips for r in td.runs if r.case == case and r.framework == "pytorch"}
        ratios = [r.ips / t[r.round] for r in td.runs if r.case == case and r.framework == "vitbench" and r.round in t]
        if not ratios:
            continue
        m = statistics.median(ratios)
        labels.append(f"{case[0]}\n{case[1]} {case[2]}")
        med.append(m), lo.append(m - min(ratios)), hi.append(max(ratios) - m)
    if not labels:
        return None
    fig, ax = plt.subplots(figsize=(0.75 * len(labels) + 2.5, 3.8))
    ax.bar(range(len(labels)), med, yerr=[lo, hi], capsize=3, color="#4c72b0")
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("vitbench / PyTorch images/s")
    ax.set_title(f"{td.sweep} ({td.tier})", fontsize=9)
    fig.tight_layout()
    return save(fig, out, f"{td.sweep}.png")
