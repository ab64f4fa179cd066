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
from collections import defaultdict
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


OTHERS = (("pytorch", "PyTorch"), ("onnxruntime", "ONNX Runtime"))  # the anchors, in column order


def others(td):
    """The anchors this tier measured, in column order."""
    present = {r.framework for r in td.runs}
    return [(fw, label) for fw, label in OTHERS if fw in present]


def ratios(td, case, fw):
    """vitbench / fw images/s of each round where both measured `case`."""
    theirs = {r.round: r.ips for r in td.runs if r.case == case and r.framework == fw}
    return [r.ips / theirs[r.round] for r in sorted(td.runs, key=lambda r: r.round)
            if r.case == case and r.framework == "vitbench" and r.round in theirs]


def dtype_speedups(td, model, mode, batch, fw="vitbench"):
    """bf16 / f32 images/s of one framework's `model` in `mode` at `batch`, per round where both were measured."""
    ips = {d: {r.round: r.ips for r in td.runs if r.framework == fw and r.case == (model, mode, d, batch)}
           for d in ("f32", "bf16")}
    return [ips["bf16"][k] / ips["f32"][k] for k in sorted(ips["bf16"]) if k in ips["f32"] and ips["f32"][k] > 0]


def model_ratios(td, a, b, fw, mode="infer", dtype="f32"):
    """{batch: [images/s of model a / of model b, per round where `fw` measured both]} in one mode and dtype."""
    ips = defaultdict(dict)
    for r in td.runs:
        if r.framework == fw and r.case[1:3] == (mode, dtype) and r.case[0] in (a, b):
            ips[(r.case[0], r.case[3])][r.round] = r.ips
    out = {}
    for batch in sorted({k[1] for k in ips}):
        x, y = ips.get((a, batch), {}), ips.get((b, batch), {})
        rs = [x[k] / y[k] for k in sorted(x) if k in y and y[k] > 0]
        if rs:
            out[batch] = rs
    return out


def relative_rows(td, published):
    """Rows [model a / model b, batch, vitbench ratio, each anchor's ratio, published GPU, published CPU] for the
    published model pairs (claims.RELATIVE_SPEED) this tier measured, f32 inference."""
    out = []
    anchors = [fw for fw, _ in others(td)]
    for p in published:
        mine = model_ratios(td, p.a, p.b, "vitbench")
        for batch, rs in mine.items():
            row = [f"{p.a} / {p.b}", str(batch), ratio_text(rs, bold=True)]
            for fw in anchors:
                theirs = model_ratios(td, p.a, p.b, fw).get(batch)
                row.append(ratio_text(theirs) if theirs else "-")
            out.append(row + [p.gpu_text, p.cpu_text])
    return out


def relative_header(td):
    return (["models", "batch", "vitbench (lowest–highest; rounds)"]
            + [f"{label}" for _, label in others(td)] + ["published, GPU", "published, CPU"])


def header(td):
    h = ["model", "mode", "dtype", "batch", "vitbench img/s (per round)"]
    for _, label in others(td):
        h += [f"{label} img/s (per round)", f"vitbench / {label} (lowest–highest; rounds)"]
    return h + ["vitbench % of GEMM peak"]


def align(td):
    return "llll" + "r" * (len(header(td)) - 4)


def ratio_text(rs, bold=False, unit=""):
    """Per-round ratios as "median (lowest–highest; rounds)", e.g. "**1.30** (1.20–1.40; 2)" or "1.30x (1; ...)"."""
    m = f"{statistics.median(rs):.2f}{unit}"
    spread = f"{min(rs):.2f}–{max(rs):.2f}; " if len(rs) > 1 else ""
    return f"{f'**{m}**' if bold else m} ({spread}{len(rs)})"


def rows(td, dagger="†"):
    """Table rows, one per case in manifest order: medians over rounds, per-round values, ratio median (range)."""
    cases = list(dict.fromkeys(r.case for r in td.runs))
    out = []

    def cell(rs):
        if not rs:
            return "-"
        return f"{_fmt(statistics.median(r.ips for r in rs))} ({' / '.join(_fmt(r.ips) for r in rs)})"

    for case in cases:
        mine = [r for r in td.runs if r.case == case]
        by_fw = {fw: sorted((r for r in mine if r.framework == fw), key=lambda r: r.round)
                 for fw in ["vitbench"] + [fw for fw, _ in OTHERS]}
        row = [case[0] + (f" {dagger}" if any(r.flags for r in mine) else ""), case[1], case[2], str(case[3]),
               cell(by_fw["vitbench"])]
        for fw, _ in others(td):
            row += [cell(by_fw[fw]), ratio_text(rs, bold=True) if (rs := ratios(td, case, fw)) else "-"]
        peaks = [r.peak_fraction for r in by_fw["vitbench"] if r.peak_fraction]
        out.append(row + [f"{100 * statistics.median(peaks):.1f}" if peaks else "-"])
    return out


def caption(td):
    cpus = sorted({r.attrs.get("cpu_model", "?") for r in td.runs})
    isas = sorted({r.attrs.get("isa", "?") for r in td.runs})
    threads = sorted({str(r.attrs.get("threads", "?")) for r in td.runs})
    names = " and ".join(label for _, label in others(td)) or "nothing else"
    return (f"Throughput, vitbench vs {names} ({td.sweep}, tier {td.tier}) on {', '.join(cpus)} "
            f"({', '.join(isas)}), {', '.join(threads)} threads")


def notes(td):
    return ["Ratio = vitbench / the other framework's images/s in the same round (they ran back to back); bold: "
            "the median over rounds, then the lowest and highest round and the number of rounds. img/s: the median "
            "of each run's timed iterations, then the median over rounds. % of GEMM peak: the model's FLOP rate over "
            "the f32/bf16 GEMM rate vitbench measured in the same process (docs/throughput.md)."]


def figure(td, plt, save, out):
    """Bars: the median ratio per case and anchor, the lowest and highest round as whiskers; 1 = level."""
    cases = [c for c in dict.fromkeys(r.case for r in td.runs) if any(ratios(td, c, fw) for fw, _ in OTHERS)]
    anchors = others(td)
    if not cases or not anchors:
        return None
    fig, ax = plt.subplots(figsize=(0.9 * len(cases) + 2.5, 3.8))
    width = 0.8 / len(anchors)
    for k, (fw, label) in enumerate(anchors):
        xs, med, lo, hi = [], [], [], []
        for i, case in enumerate(cases):
            rs = ratios(td, case, fw)
            if rs:
                m = statistics.median(rs)
                xs.append(i + (k - (len(anchors) - 1) / 2) * width)
                med.append(m), lo.append(m - min(rs)), hi.append(max(rs) - m)
        ax.bar(xs, med, width, yerr=[lo, hi], capsize=3, label=f"vs {label}")
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xticks(range(len(cases)), [f"{c[0]}\n{c[1]} {c[2]}" for c in cases], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("vitbench / other images/s")
    ax.legend(fontsize=7)
    ax.set_title(f"{td.sweep} ({td.tier})", fontsize=9)
    fig.tight_layout()
    return save(fig, out, f"{td.sweep}.png")


# Issue 13's targets (docs/throughput.md): vitbench / anchor images/s, the median over rounds, per model; every batch
# a sweep measured is checked. (entry, anchor framework, mode, dtype, {model: target ratio})
TARGETS = [
    ("f32 inference vs PyTorch eager", "pytorch", "infer", "f32",
     {"resnet50": 1.15, "vit_small_patch16_224": 1.4, "tnt_s_patch16_224": 2.0}),
    ("f32 inference vs ONNX Runtime", "onnxruntime", "infer", "f32",
     {"resnet50": 1.0, "vit_small_patch16_224": 1.2, "tnt_s_patch16_224": 1.4}),
    ("f32 training step vs PyTorch", "pytorch", "train", "f32",
     {"resnet50": 1.1, "vit_small_patch16_224": 1.35, "tnt_s_patch16_224": 1.35}),
    ("bf16 inference vs PyTorch autocast bf16", "pytorch", "infer", "bf16",
     {"resnet50": 1.3, "vit_small_patch16_224": 1.5, "tnt_s_patch16_224": 1.5}),
    ("bf16 training step vs PyTorch autocast bf16", "pytorch", "train", "bf16",
     {"resnet50": 1.1, "vit_small_patch16_224": 1.4, "tnt_s_patch16_224": 1.4}),
    ("small presets, f32 training step vs PyTorch", "pytorch", "train", "f32",
     {"resnet50_w16_32": 2.0, "vit_tiny_patch4_32": 1.7, "tnt_tiny_patch8_32": 3.5}),
]


def target_rows(td):
    """[entry, model, batch, target, median ratio (lowest-highest; rounds), met / missed by x%] for every target
    case this tier measured on both sides."""
    out = []
    for entry, fw, mode, dtype, by_model in TARGETS:
        for model, target in by_model.items():
            cases = sorted({r.case for r in td.runs if r.case[:3] == (model, mode, dtype)}, key=lambda c: c[3])
            for case in cases:
                rs = ratios(td, case, fw)
                if not rs:
                    continue
                m = statistics.median(rs)
                verdict = "met" if m >= target else f"**missed** by {100 * (1 - m / target):.0f}%"
                out.append([entry, model, str(case[3]), f"≥ {target:.2f}x", ratio_text(rs, unit="x"), verdict])
    return out


def provenance(td):
    """'commit abc123def456, 2026-12-06 11:02-11:41 UTC' of the records shown."""
    commits = sorted({str(r.attrs.get("git_commit", "?"))[:12] for r in td.runs})
    times = sorted(t for r in td.runs for t in (r.attrs.get("start_time"), r.attrs.get("end_time")) if t)
    when = ""
    if times:
        a, b = times[0].replace("T", " ").rstrip("Z"), times[-1].replace("T", " ").rstrip("Z")
        when = f", {a[:16]} to {b[11:16] if a[:10] == b[:10] else b[:16]} UTC"
    rounds = len({r.round for r in td.runs})
    return f"commit {', '.join(commits)}{when}, {rounds} interleaved round{'s' if rounds != 1 else ''}"


DOC_BEGIN, DOC_END = "<!-- throughput-table:begin -->", "<!-- throughput-table:end -->"


def doc_block(tds, markdown_table, relative_markdown=lambda td: ""):
    """The generated part of docs/throughput.md: per throughput sweep, its caption and provenance, the side-by-side
    table, the target table and the models' relative speed beside the published ratios. markdown_table(td),
    relative_markdown(td) -> those tables' Markdown (report.py's Table; "" for none)."""
    L = ["Generated by `scripts/report.py` from the throughput sweeps' records (`results/sweeps/<sweep>/<tier>/`); "
         "do not edit by hand. Re-measure: `bash scripts/sweep.sh experiments/sweeps/<sweep>.json standard` on a "
         "quiet machine, then `cmake --build --preset release --target report`.", ""]
    for td in tds:
        L += [f"#### {td.sweep} ({td.tier})", "", f"{caption(td)}; {provenance(td)}.", "", markdown_table(td)]
        rows_ = target_rows(td)
        if rows_:
            L += ["Against issue 13's targets (median ratio over rounds):", "",
                  "| target | model | batch | wanted | measured | |", "|---|---|---:|---:|---:|---|"]
            L += ["| " + " | ".join(r) + " |" for r in rows_] + [""]
        relative = relative_markdown(td)
        if relative:
            L += ["The models' relative speed (f32 inference) beside the published ratios:", "", relative]
    return "\n".join(L).rstrip("\n") + "\n"


def update_doc(path, block):
    """Replace the text between DOC_BEGIN and DOC_END of `path` by `block`; a file without the markers is refused."""
    with open(path) as f:
        text = f.read()
    if DOC_BEGIN not in text or DOC_END not in text:
        raise SystemExit(f"report.py: {path}: no {DOC_BEGIN} ... {DOC_END} markers to write the throughput table into")
    new = text[:text.index(DOC_BEGIN) + len(DOC_BEGIN)] + "\n" + block + text[text.index(DOC_END):]
    if new != text:
        with open(path, "w") as f:
            f.write(new)
