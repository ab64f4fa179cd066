#!/usr/bin/python3
"""The results report of the experiment sweeps: reads every results/sweeps/<sweep>/<tier>/ folder (sweep.json,
sweep.jsonl and one HDF5 run record per finished run) and writes docs/results/README.md (what ran, per-sweep
tables beside the published figures, the verdict of every claim in scripts/claims.py by the rule of
docs/statistics.md), the same tables as LaTeX (tables/*.tex, booktabs), figures (figures/*.png) and a tidy
runs.csv. The same inputs give byte-identical outputs.

usage: /usr/bin/python3 scripts/report.py [--results results] [--out docs/results] [--strict]
       (or `cmake --build --preset release --target report`)
"""
import argparse
import csv
import io
import json
import math
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import claims as C  # noqa: E402  (scripts/ is on sys.path when run as a script; the tests add it)
import stats as S  # noqa: E402

TIERS = ("smoke", "quick", "standard", "full")  # lowest to highest: the report uses the highest one present
DAGGER = "†"
DPI = 110
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def text(v):
    """An HDF5 attribute as str (h5py gives str or bytes)."""
    return v.decode() if isinstance(v, bytes) else str(v)


# ---- reading --------------------------------------------------------------------------------------------------

@dataclass
class Run:
    """One complete run record, with its sweep.jsonl line's arm, pair and axes."""
    sweep: str
    tier: str
    name: str
    arm: str
    pair: str
    axes: dict
    record: str  # display path, relative to the results folder's parent
    model: str
    config: dict
    attrs: dict
    flags: list = field(default_factory=list)

    def num(self, key, default=math.nan):
        """A numeric root attribute of the record (NaN if absent)."""
        v = self.attrs.get(key)
        return default if v is None else float(v)

    @property
    def test_top1(self):
        return self.num("test_top1")

    @property
    def resolved(self):
        return self.config.get("resolved", {})

    @property
    def train_images(self):
        """The number of training images the run used: resolved.dataset.train_images, else the train_size axis."""
        n = self.resolved.get("dataset", {}).get("train_images")
        return int(n) if n is not None else int(self.axes.get("train_size", 0))

    @property
    def size_key(self):
        """The train size of the run's subset axis (0 = all), how data_scaling groups its runs."""
        return int(self.axes.get("train_size", self.config.get("train_size", 0)))


@dataclass
class TierData:
    """Everything read from one results/sweeps/<sweep>/<tier>/ folder."""
    sweep: str
    tier: str
    folder: str  # display path
    meta: dict
    planned: int
    runs: list
    missing: list  # names of planned runs without a record (not finished yet)
    skipped: list  # (display path, reason): records that are not results
    notes: list


def display_path(path, results_dir):
    """`path` relative to the results folder's parent (e.g. results/sweeps/x/quick/a.h5): no absolute paths."""
    base = os.path.dirname(os.path.abspath(results_dir))
    return os.path.relpath(os.path.abspath(path), base)


def read_jsonl(path, notes):
    """The run lines of sweep.jsonl; a line that is not a JSON object is noted and left out."""
    lines = []
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                notes.append(f"sweep.jsonl line {i}: not JSON ({e.msg})")
                continue
            if isinstance(obj, dict) and "name" in obj and "arm" in obj:
                lines.append(obj)
            else:
                notes.append(f"sweep.jsonl line {i}: no name/arm")
    return lines


def read_record(path):
    """Root attributes (config parsed) of an HDF5 run record, or raises OSError/ValueError."""
    with h5py.File(path, "r") as f:
        attrs = {k: text(v) if isinstance(v, (bytes, str)) else v.tolist() if isinstance(v, (np.ndarray, np.generic))
                 else v for k, v in f.attrs.items()}
    cfg = attrs.pop("config", "{}")
    return attrs, json.loads(cfg)


def load_tier(folder, sweep, tier, results_dir):
    """Read one sweep/tier folder: the plan (sweep.json, sweep.jsonl) and the record of every finished run."""
    notes = []
    meta = {}
    meta_path = os.path.join(folder, "sweep.json")
    if os.path.exists(meta_path):
        try:
            with open(meta_path) as f:
                meta = json.load(f)
        except json.JSONDecodeError as e:
            notes.append(f"sweep.json: not JSON ({e.msg})")
    else:
        notes.append("no sweep.json")
    lines = read_jsonl(os.path.join(folder, "sweep.jsonl"), notes) if os.path.exists(
        os.path.join(folder, "sweep.jsonl")) else []
    if not lines:
        notes.append("no runs in sweep.jsonl")
    runs, missing, skipped, listed = [], [], [], set()
    for line in sorted(lines, key=lambda l: (l.get("index", 0), l["name"])):
        candidates = [line["name"] + ".h5"] + ([line["output"] + ".h5"] if line.get("output") else [])
        path = next((os.path.join(folder, c) for c in candidates if os.path.exists(os.path.join(folder, c))), None)
        listed.update(candidates)
        if path is None:
            missing.append(line["name"])
            continue
        shown = display_path(path, results_dir)
        try:
            attrs, cfg = read_record(path)
        except (OSError, ValueError) as e:
            skipped.append((shown, f"unreadable ({e})"))
            continue
        if int(attrs.get("complete", 0)) != 1:
            skipped.append((shown, f"incomplete (complete = {attrs.get('complete', 'absent')})"))
            continue
        if attrs.get("kind") != "train":
            skipped.append((shown, f"kind = {attrs.get('kind')!r}, not a train record"))
            continue
        if not math.isfinite(float(attrs.get("test_top1", math.nan))):
            skipped.append((shown, "no test_top1"))
            continue
        model = cfg.get("resolved", {}).get("model", {}).get("name", cfg.get("model", ""))
        axes = line.get("axes", {})
        if line.get("model") and model and line["model"] != model:
            skipped.append((shown, f"model {model} differs from its sweep.jsonl line ({line['model']})"))
            continue
        if "seed" in axes and "seed" in attrs and int(attrs["seed"]) != int(axes["seed"]):
            skipped.append((shown, f"seed {attrs['seed']} differs from its sweep.jsonl line ({axes['seed']})"))
            continue
        pair = line.get("pair") or ",".join(f"{k}={v}" for k, v in sorted(axes.items()))
        runs.append(Run(sweep, tier, line["name"], line["arm"], pair, axes, shown, model, cfg, attrs))
    for name in sorted(os.listdir(folder)):
        if name.endswith(".h5") and name not in listed:
            skipped.append((display_path(os.path.join(folder, name), results_dir), "not in sweep.jsonl"))
    return TierData(sweep, tier, display_path(folder, results_dir), meta, len(lines), runs, missing, skipped,
                    notes)


def discover(results_dir):
    """(known, other): known = {sweep: {tier: folder}} for the sweeps in claims.SWEEPS and the tiers in TIERS;
    other = sorted [(sweep, tier, number of .h5 files)] for every other sweep/tier folder (not summarised)."""
    root = os.path.join(results_dir, "sweeps")
    known, other = defaultdict(dict), []
    if not os.path.isdir(root):
        return {}, []
    for sweep in sorted(os.listdir(root)):
        sdir = os.path.join(root, sweep)
        if not os.path.isdir(sdir):
            continue
        for tier in sorted(os.listdir(sdir)):
            tdir = os.path.join(sdir, tier)
            if not os.path.isdir(tdir):
                continue
            if sweep in C.SWEEPS and tier in TIERS:
                known[sweep][tier] = tdir
            else:
                other.append((sweep, tier, sum(n.endswith(".h5") for n in os.listdir(tdir))))
    return dict(known), other


# ---- provenance -------------------------------------------------------------------------------------------------

class GitAncestry:
    """Answers "is this commit an ancestor of main?" with `git merge-base --is-ancestor` in `repo` (cached)."""

    def __init__(self, repo):
        self.repo = repo
        self.cache = {}
        self.unavailable = None  # the reason, when git cannot answer at all
        try:
            r = subprocess.run(["git", "-C", repo, "rev-parse", "--verify", "--quiet", "main^{commit}"],
                               capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                self.unavailable = f"{repo} has no branch main (or is not a git repository)"
        except (OSError, subprocess.TimeoutExpired) as e:
            self.unavailable = f"git could not be run ({e.__class__.__name__})"

    def is_ancestor(self, commit):
        """True / False, or None when git is unavailable."""
        if self.unavailable:
            return None
        if commit not in self.cache:
            ok = bool(re.fullmatch(r"[0-9a-f]{7,40}", commit))
            r = subprocess.run(["git", "-C", self.repo, "merge-base", "--is-ancestor", commit, "main"],
                               capture_output=True, timeout=60) if ok else None
            self.cache[commit] = r is not None and r.returncode == 0
        return self.cache[commit]


def flag_runs(tiers, git):
    """Mark each run's provenance problems in run.flags (dirty tree, commit not in main); returns the tiers whose
    runs were made on more than one ISA as {(sweep, tier): Counter(isa)}."""
    mixed = {}
    for td in tiers:
        for r in td.runs:
            commit = text(r.attrs.get("git_commit", ""))
            if int(r.attrs.get("git_dirty", 0)) != 0:
                r.flags.append("dirty tree")
            if git.is_ancestor(commit) is False:
                r.flags.append(f"commit {commit[:10] or '(none)'} not an ancestor of main")
        isas = Counter(text(r.attrs.get("isa", "?")) for r in td.runs)
        if len(isas) > 1:
            mixed[(td.sweep, td.tier)] = isas
    return mixed


# ---- MACs per image (equal-compute view) ------------------------------------------------------------------------

class MacsLookup:
    """MACs per image of a run's model: config.resolved's `macs` / `macs_per_image` when the record has it,
    else `vitbench info --model` with the run's overrides (the layer table's total, checked against the record's
    parameter count). `sources` collects where the numbers came from."""

    def __init__(self, vitbench):
        self.vitbench = vitbench
        self.cache = {}
        self.sources = set()  # where the MACs came from, for the README

    def __call__(self, run):
        """(MACs per image, None) or (None, reason)."""
        res = run.resolved
        for holder in (res, res.get("model", {})):
            for key in ("macs_per_image", "macs"):
                if holder.get(key):
                    self.sources.add(f"the records' config.resolved ({key})")
                    return float(holder[key]), None
        if not (self.vitbench and os.access(self.vitbench, os.X_OK)):
            return None, f"no MACs in the records and no vitbench binary at {self.vitbench_shown()}"
        m = res.get("model", {})
        sets = [f"{k}={m[k]}" for k in ("in_chans", "num_classes", "img_size") if k in m]
        sets += list(run.config.get("overrides", []))
        key = (run.model, tuple(sets))
        if key not in self.cache:
            self.cache[key] = self.query(run.model, sets)
        params, mmacs, why = self.cache[key]
        if why:
            return None, why
        if res.get("params") is not None and int(res["params"]) != params:
            return None, f"vitbench info gives {params} parameters for {run.model}, the record {res['params']}"
        self.sources.add(f"`vitbench info --model` ({self.vitbench_shown()}), with each run's overrides")
        return mmacs * 1e6, None

    def vitbench_shown(self):
        return os.path.relpath(self.vitbench, REPO_ROOT) if self.vitbench else "(none)"

    def query(self, model, sets):
        """(params, MMACs, None) from `vitbench info --model`, or (None, None, reason)."""
        argv = [self.vitbench, "info", "--model", model]
        for s in sets:
            argv += ["--set", s]
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, None, f"vitbench info failed ({e.__class__.__name__})"
        m = re.search(r"^\s*total\s+(\d+)\s+([0-9.]+)", r.stdout, re.M)
        if r.returncode != 0 or not m:
            return None, None, f"vitbench info --model {model} gave no total ({r.stderr.strip()[:120]})"
        return int(m.group(1)), float(m.group(2)), None


def training_compute(run, macs):
    """Training compute in MACs: steps x batch x 3 x MACs per image (backward ~ 2 x forward)."""
    return run.num("steps") * float(run.config.get("batch", math.nan)) * 3 * macs


# ---- analysis ---------------------------------------------------------------------------------------------------

@dataclass
class SweepAnalysis:
    """The tier of one sweep the report uses, its arms, sizes and the values by arm/size/pair."""
    data: TierData
    arms: list
    reference: str
    sizes: list  # sorted train-size keys (data_scaling); [None] for sweeps without a size axis
    size_images: dict  # size key -> train images (for the x axis)
    values: dict  # (arm, size key or None) -> {pair: test top-1}
    duplicates: list
    mixed_isa: bool = False  # the tier's runs ran on more than one ISA

    @property
    def scaling(self):
        return self.sizes != [None]


def analyse(td):
    """Group a tier's runs by arm (and train size for data_scaling) and pair."""
    arms = [a for a in td.meta.get("arms", []) if isinstance(a, str)]
    arms += sorted({r.arm for r in td.runs} - set(arms))
    reference = td.meta.get("reference_arm") or C.SWEEPS[td.sweep][0]
    scaling = td.sweep == "data_scaling"
    values, duplicates, size_images = defaultdict(dict), [], {}
    for r in sorted(td.runs, key=lambda r: r.name):
        size = r.size_key if scaling else None
        if scaling:
            size_images.setdefault(size, r.train_images)
        if r.pair in values[(r.arm, size)]:
            duplicates.append(r.record)
            continue
        values[(r.arm, size)][r.pair] = r.test_top1
    sizes = sorted(size_images, key=lambda s: (size_images[s], s)) if scaling else [None]
    return SweepAnalysis(td, arms, reference, sizes, size_images, dict(values), duplicates)


def claim_estimate(claim, an):
    """The Estimate of a claim's effect A - B from one sweep analysis (an empty one when the sweep did not run)."""
    if an is None:
        return S.Estimate(math.nan, math.nan, 0, 2 if claim.effect == C.GAP_SLOPE else 1)
    if claim.effect == C.GAP_SLOPE:
        return gap_slope(an, claim.a, claim.b)
    size = an.sizes[0]  # PAIRED: the only "size" (None); PAIRED_SMALLEST: the smallest train size
    diffs = S.paired_differences(an.values.get((claim.a, size), {}), an.values.get((claim.b, size), {}))
    return S.paired_estimate([d for _, d in diffs])


def gap_slope(an, a, b):
    """Least-squares slope of the paired gap A - B (one point per pair) against log2(train images)."""
    xs, ys = [], []
    for size in an.sizes:
        if an.size_images[size] <= 0:
            continue
        for _, d in S.paired_differences(an.values.get((a, size), {}), an.values.get((b, size), {})):
            xs.append(math.log2(an.size_images[size]))
            ys.append(d)
    return S.slope_estimate(xs, ys)


def claim_runs_flagged(claim, an):
    """Whether any run behind a claim carries a provenance flag, or its sweep mixes ISAs."""
    return an is not None and (an.mixed_isa or any(r.flags for r in an.data.runs if r.arm in (claim.a, claim.b)))


# ---- tables (Markdown and LaTeX from one description) -------------------------------------------------------------

@dataclass
class Table:
    """A table written twice: Markdown in the README and LaTeX (booktabs) in tables/<stem>.tex."""
    stem: str
    caption: str
    header: list
    align: str
    rows: list
    notes: list = field(default_factory=list)

    def markdown(self):
        out = ["| " + " | ".join(self.header) + " |",
               "|" + "|".join("---:" if a == "r" else "---" for a in self.align) + "|"]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in self.rows]
        return "\n".join(out) + "\n" + "".join(f"\n{n}\n" for n in self.notes)

    def latex(self):
        lines = ["% Generated by scripts/report.py; needs \\usepackage{booktabs}.",
                 "\\begin{table}[t]", "\\centering", "\\small",
                 f"\\caption{{{latex_escape(self.caption)}}}",
                 f"\\label{{tab:{self.stem.replace('_', '-')}}}",
                 f"\\begin{{tabular}}{{{self.align}}}", "\\toprule",
                 " & ".join(latex_escape(h) for h in self.header) + " \\\\", "\\midrule"]
        lines += [" & ".join(latex_escape(c) for c in row) + " \\\\" for row in self.rows]
        lines += ["\\bottomrule", "\\end{tabular}"]
        if self.notes:
            lines.append("\\par\\smallskip\\footnotesize " + " ".join(latex_escape(n) for n in self.notes))
        lines.append("\\end{table}")
        return "\n".join(lines) + "\n"


LATEX_SUBS = {"\\": "\\textbackslash{}", "&": "\\&", "%": "\\%", "$": "\\$", "#": "\\#", "_": "\\_",
              "{": "\\{", "}": "\\}", "~": "\\textasciitilde{}", "^": "\\textasciicircum{}", "±": "$\\pm$",
              "≈": "$\\approx$", "†": "$^\\dagger$", "≥": "$\\geq$", "≤": "$\\leq$", "−": "$-$",
              "×": "$\\times$", "Δ": "$\\Delta$", "**": "", "`": ""}
LATEX_PATTERN = re.compile("|".join(re.escape(k) for k in sorted(LATEX_SUBS, key=len, reverse=True)))


def latex_escape(s):
    """Plain cell text (with ±, ≈, †, Δ, Markdown bold/code marks) as LaTeX, in one pass."""
    return LATEX_PATTERN.sub(lambda m: LATEX_SUBS[m.group(0)], str(s))


def f2(x, signed=False):
    """A number with 2 decimals ("-" when NaN)."""
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:+.2f}" if signed else f"{x:.2f}"


def ci_text(lo, hi, signed=False):
    return "-" if not (math.isfinite(lo) and math.isfinite(hi)) else f"[{f2(lo, signed)}, {f2(hi, signed)}]"


def arm_rows(an, size, runs_by_arm):
    """Rows (arm, n, mean ± sd, 95% CI, paired difference to the reference, published) at one size."""
    rows = []
    ref = an.values.get((an.reference, size), {})
    for arm in an.arms:
        vals = an.values.get((arm, size), {})
        if not vals and arm != an.reference:
            continue
        s = S.summarize(v for _, v in sorted(vals.items()))
        mark = DAGGER if any(r.flags for r in runs_by_arm.get(arm, [])) else ""
        if arm == an.reference:
            delta = "reference"
        else:
            d = S.paired_estimate([x for _, x in S.paired_differences(vals, ref)])
            lo, hi = d.ci()
            delta = f"{f2(d.value, True)} {ci_text(lo, hi, True)} (n={d.n})" if d.n else "-"
        pub = C.PUBLISHED.get(an.data.sweep, {}).get(arm)
        row = [arm + mark, str(s.n), f"{f2(s.mean)} ± {f2(s.sd)}", ci_text(s.lo, s.hi), delta]
        if not an.scaling:
            row.append(pub.text if pub else "-")
        rows.append(([] if size is None else [str(an.size_images[size])]) + row)
    return rows


def datasets(td):
    """The datasets a tier's runs trained on, e.g. "cifar10 (45000 train images)"."""
    seen = sorted({(r.resolved.get("dataset", {}).get("name", "?"), r.train_images) for r in td.runs})
    names = sorted({n for n, _ in seen})
    if len(seen) == len(names):
        return ", ".join(f"{n} ({k} train images)" for n, k in seen)
    return ", ".join(names) + " (subsets)"


def sweep_tables(an):
    """The per-arm table of a sweep (per size for data_scaling), and for data_scaling the gap slopes."""
    td = an.data
    runs_by_arm = defaultdict(list)
    for r in td.runs:
        runs_by_arm[r.arm].append(r)
    header = ["arm", "n", "test top-1 mean ± sd", "95% CI", f"paired Δ vs {an.reference} (95% CI)"]
    notes = []
    if an.scaling:
        header = ["train images"] + header
        align = "rlrrrr"
    else:
        header.append("published (ImageNet)")
        align = "lrrrrr"
        sources = sorted({p.source for p in C.PUBLISHED.get(td.sweep, {}).values()})
        if sources:
            notes.append("Published: " + "; ".join(sources) + f". Ours: test top-1 (%) on {datasets(td)}, from "
                         "scratch.")
    rows = [row for size in an.sizes for row in arm_rows(an, size, runs_by_arm)]
    if any(r.flags for r in td.runs):
        notes.append(f"{DAGGER} includes runs with a provenance flag (listed under Provenance).")
    if an.mixed_isa:
        notes.append(f"{DAGGER} {td.sweep} ({td.tier}): the runs ran on more than one ISA (Provenance).")
    tables = [Table(td.sweep, f"{td.sweep} ({td.tier} tier): test top-1 (%) per arm", header, align, rows,
                    notes)]
    if an.scaling:
        srows = []
        for arm in an.arms:
            if arm == an.reference:
                continue
            est = gap_slope(an, an.reference, arm)
            lo, hi = est.ci() if est.df >= 1 and math.isfinite(est.se) else (math.nan, math.nan)
            srows.append([f"{an.reference} − {arm}", str(est.n), f2(est.value, True), ci_text(lo, hi, True)])
        pub = C.PUBLISHED.get(td.sweep, {})
        pnotes = [f"Published: {a}: {pub[a].text} ({pub[a].source})." for a in sorted(pub)]
        tables.append(Table(f"{td.sweep}_gap_slopes",
                            f"{td.sweep} ({td.tier} tier): paired gap (points) vs log2(train images), "
                            "least-squares slope per doubling", ["gap", "points", "slope", "95% CI"], "lrrr", srows,
                            pnotes))
    return tables


def verdict_table(analyses, results):
    """One row per claim: our effect with its 95% CI, MDE, the published effect and the verdict."""
    rows, flagged = [], False
    for claim in C.CLAIMS:
        an = analyses.get(claim.sweep)
        v = results[claim.id]
        mark = DAGGER if claim_runs_flagged(claim, an) else ""
        flagged |= bool(mark)
        what = {C.PAIRED: "A − B", C.PAIRED_SMALLEST: "A − B, smallest size",
                C.GAP_SLOPE: "slope of A − B per doubling"}[claim.effect]
        margin = f" (margin {claim.margin:g})" if claim.margin is not None else ""
        effect = f"{f2(v.effect, True)} {ci_text(v.lo, v.hi, True)}{mark} ({what})"
        if not math.isfinite(v.effect):
            effect = "-"
        rows.append([f"{claim.statement}{margin}", f"{an.data.tier}" if an else "not run", str(v.n), effect,
                     f2(v.mde), f"{claim.published}; {claim.source}", f"**{v.verdict}**: {v.reason}"])
    notes = ["MDE: the smallest true effect a two-sided paired t-test (alpha 0.05) detects with power 0.8 at "
             "this n and sd (docs/statistics.md). Published effects are ImageNet points; ours are test top-1 "
             "points of small models trained from scratch on the sweep's dataset."]
    if flagged:
        notes.append(f"{DAGGER} includes runs with a provenance flag (listed under Provenance).")
    return Table("verdicts", "Published claims and our verdicts", ["claim", "tier", "n", "our effect (95% CI)",
                 "MDE", "published", "verdict"], "llrrrll", rows, notes)


# ---- figures ------------------------------------------------------------------------------------------------------

def save(fig, out, name):
    """PNG without a Software/date chunk, fixed dpi: the same figure gives the same bytes."""
    path = os.path.join(out, name)
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return path


def fig_ablation(an, out):
    """Bars: mean test top-1 per arm with its 95% CI; every run as a dot."""
    arms = [a for a in an.arms if an.values.get((a, None))]
    fig, ax = plt.subplots(figsize=(1.2 * len(arms) + 2.5, 3.6))
    seen = []  # every value drawn, for the y range
    for i, arm in enumerate(arms):
        vals = [v for _, v in sorted(an.values[(arm, None)].items())]
        s = S.summarize(vals)
        err = [[s.mean - s.lo], [s.hi - s.mean]] if s.n >= 2 else None
        ax.bar(i, s.mean, color="C0" if arm != an.reference else "C1", alpha=0.6, yerr=err, capsize=4)
        ax.plot(i + np.linspace(-0.15, 0.15, len(vals)), vals, "k.", ms=4)
        seen += vals + ([s.lo, s.hi] if s.n >= 2 else [])
    lo, hi = min(seen), max(seen)
    ax.set_ylim(max(0.0, lo - 0.5 * (hi - lo) - 1), hi + 0.3 * (hi - lo) + 1)
    ax.set_xticks(range(len(arms)), arms)
    ax.set(ylabel="test top-1 (%)", title=f"{an.data.sweep} ({an.data.tier}): mean, 95% CI, runs")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return save(fig, out, f"{an.data.sweep}.png")


def curve(ax, xs_by_size, an, arm):
    """Mean and 95% band of one arm against per-size x values."""
    xs, means, los, his = [], [], [], []
    for size in an.sizes:
        vals = [v for _, v in sorted(an.values.get((arm, size), {}).items())]
        if not vals or size not in xs_by_size:
            continue
        s = S.summarize(vals)
        xs.append(xs_by_size[size])
        means.append(s.mean)
        los.append(s.lo if s.n >= 2 else s.mean)
        his.append(s.hi if s.n >= 2 else s.mean)
    if xs:
        (line,) = ax.plot(xs, means, "o-", label=arm)
        ax.fill_between(xs, los, his, color=line.get_color(), alpha=0.2, lw=0)


def fig_scaling(an, compute, out):
    """Test top-1 against train images (log x), mean and 95% band per arm; beside it the same against training
    compute (MACs) when `compute` ({(arm, size): MACs}) is given."""
    panels = 2 if compute else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 3.8), squeeze=False)
    ax = axes[0][0]
    for arm in an.arms:
        curve(ax, an.size_images, an, arm)
    ax.set_xscale("log", base=2)
    ax.set(xlabel="train images", ylabel="test top-1 (%)", title=f"{an.data.sweep} ({an.data.tier})")
    if compute:  # a fixed step budget puts all sizes of an arm at one compute: points labelled by size, no lines
        ax2 = axes[0][1]
        for i, arm in enumerate(an.arms):
            for size in an.sizes:
                vals = [v for _, v in sorted(an.values.get((arm, size), {}).items())]
                if not vals or (arm, size) not in compute:
                    continue
                s = S.summarize(vals)
                err = [[s.mean - s.lo], [s.hi - s.mean]] if s.n >= 2 else None
                x = compute[(arm, size)]
                ax2.errorbar([x], [s.mean], yerr=err, fmt="o", color=f"C{i}", capsize=3,
                             label=arm if size == an.sizes[0] else None)
                ax2.annotate(str(an.size_images[size]), (x, s.mean), textcoords="offset points", xytext=(5, -3),
                             fontsize=7)
        ax2.set_xscale("log")
        ax2.set(xlabel="training compute (MACs = steps x batch x 3 x MACs/image)", ylabel="test top-1 (%)",
                title="equal training compute view")
    for a in axes[0]:
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, out, f"{an.data.sweep}.png")


def scaling_compute(an, macs):
    """({(arm, size): mean training compute in MACs}, None) or (None, why the view is skipped)."""
    by = defaultdict(list)
    for r in sorted(an.data.runs, key=lambda r: r.name):
        m, why = macs(r)
        if m is None:
            return None, why
        c = training_compute(r, m)
        if not math.isfinite(c):
            return None, f"{r.record}: no steps or batch"
        by[(r.arm, r.size_key)].append(c)
    return {k: float(np.mean(v)) for k, v in sorted(by.items())}, None


# ---- CSV --------------------------------------------------------------------------------------------------------

FIXED_COLUMNS = ["sweep", "tier", "name", "arm", "pair", "model"]
VALUE_COLUMNS = ["seed", "test_top1", "test_top5", "test_loss", "steps", "batch", "train_images", "params",
                 "train_wall_s", "run_wall_s", "git_commit", "git_dirty", "isa", "cpu_model", "threads", "flags",
                 "record"]


def csv_text(tiers):
    """runs.csv: one row per complete run of every summarised sweep and tier, every axis a column."""
    axis_names = sorted({k for td in tiers for r in td.runs for k in r.axes if k != "seed"})
    axis_cols = [a if a not in FIXED_COLUMNS + VALUE_COLUMNS else f"axis_{a}" for a in axis_names]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FIXED_COLUMNS + axis_cols + VALUE_COLUMNS)
    sweeps, order = list(C.SWEEPS), {t: i for i, t in enumerate(TIERS)}
    runs = sorted((r for td in tiers for r in td.runs),
                  key=lambda r: (sweeps.index(r.sweep), order[r.tier], r.size_key, int(r.attrs.get("seed", 0)), r.arm,
                                 r.name))
    for r in runs:
        vals = {"seed": r.attrs.get("seed"), "test_top1": r.num("test_top1"), "test_top5": r.num("test_top5"),
                "test_loss": r.num("test_loss"), "steps": r.attrs.get("steps"), "batch": r.config.get("batch"),
                "train_images": r.train_images, "params": r.resolved.get("params"),
                "train_wall_s": r.num("train_wall_s"), "run_wall_s": r.num("run_wall_s"),
                "git_commit": r.attrs.get("git_commit"), "git_dirty": r.attrs.get("git_dirty"),
                "isa": r.attrs.get("isa"), "cpu_model": r.attrs.get("cpu_model"), "threads": r.attrs.get("threads"),
                "flags": "; ".join(r.flags), "record": r.record}
        w.writerow([csv_cell(v) for v in (r.sweep, r.tier, r.name, r.arm, r.pair, r.model)] +
                   [csv_cell(r.axes.get(a)) for a in axis_names] + [csv_cell(vals[c]) for c in VALUE_COLUMNS])
    return buf.getvalue()


def csv_cell(v):
    """A CSV cell: floats as their shortest exact repr, NaN and None empty."""
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return "" if v is None else str(v)


# ---- the README ---------------------------------------------------------------------------------------------------

def short_list(values, n=3):
    """Sorted distinct values, at most n, then '+k more'."""
    vals = sorted(set(values))
    return ", ".join(vals[:n]) + (f" +{len(vals) - n} more" if len(vals) > n else "") if vals else "-"


def what_ran_table(tiers, used, other):
    """One row per sweep and tier folder: finished/planned runs, machine-hours, commits, CPU, ISA, threads, dates."""
    rows = []
    for td in tiers:
        runs = td.runs
        hours = sum(r.num("run_wall_s", 0.0) for r in runs) / 3600
        starts = [text(r.attrs["start_time"]) for r in runs if "start_time" in r.attrs]
        ends = [text(r.attrs["end_time"]) for r in runs if "end_time" in r.attrs]
        isas = Counter(text(r.attrs.get("isa", "?")) for r in runs)
        rows.append([td.sweep, td.tier + (" (used)" if used.get(td.sweep) is td else ""),
                     f"{len(runs)} / {td.planned}", str(len(td.skipped)), f"{hours:.2f}",
                     short_list(text(r.attrs.get("git_commit", ""))[:10] for r in runs),
                     short_list(text(r.attrs.get("cpu_model", "?")) for r in runs),
                     ", ".join(f"{k} ({v})" for k, v in sorted(isas.items())) or "-",
                     short_list(str(r.attrs.get("threads", "?")) for r in runs),
                     f"{min(starts)} .. {max(ends)}" if starts and ends else "-"])
    for sweep, tier, n in other:
        rows.append([sweep, tier, f"{n} records", "-", "-", "-", "-", "-", "-", "not summarised"])
    return Table("what_ran", "What ran", ["sweep", "tier", "runs finished / planned", "skipped", "machine-hours",
                 "commits", "CPU", "ISA (runs)", "threads", "records from .. to"], "llrrrlllll", rows)


def write_readme(path, tiers, what_ran, analyses, tables, verdicts, figures, mixed, git, compute_notes):
    """docs/results/README.md."""
    total_h = sum(r.num("run_wall_s", 0.0) for td in tiers for r in td.runs) / 3600
    L = ["# Results of the experiment sweeps", "",
         "Generated by `scripts/report.py` from `results/sweeps/` (`cmake --build --preset release --target "
         "report`); do not edit by hand. How the statistics and the verdicts are computed: "
         "[docs/statistics.md](../statistics.md). Tables as LaTeX (booktabs): `tables/`; one row per run: "
         "[runs.csv](runs.csv).", ""]
    if not what_ran.rows:
        L += ["No sweep results yet (`results/sweeps/<sweep>/<tier>/` is empty or absent).", ""]
    L += ["## What ran", "",
          "Each sweep is summarised from its highest tier with finished runs (full > standard > quick > smoke), "
          f"marked *(used)*. Machine-hours = sum of the records' `run_wall_s`: {total_h:.2f} h in all.", ""]
    if what_ran.rows:
        L += [what_ran.markdown()]
    L += ["## Verdicts", "", verdicts.markdown()]
    for sweep in analyses:  # claims.SWEEPS order
        an = analyses[sweep]
        title = sweep + (f" {DAGGER}" if (sweep, an.data.tier) in mixed else "")
        desc = an.data.meta.get("description") or C.SWEEPS[sweep][1]
        L += [f"## {title}", "", f"{desc.rstrip('.')}.", "",
              f"Tier **{an.data.tier}**, reference arm `{an.reference}`, {len(an.data.runs)} of {an.data.planned} "
              f"planned runs finished; data: {datasets(an.data)}.", ""]
        for t in tables[sweep]:
            L += [t.markdown()]
        for fig in figures.get(sweep, []):
            L += [f"![{sweep}](figures/{fig})", ""]
        if sweep in compute_notes:
            L += [compute_notes[sweep], ""]
    L += ["## Provenance", ""]
    if git.unavailable:
        L += [f"Commits could not be checked against main: {git.unavailable}.", ""]
    flagged = sorted((r.record, "; ".join(r.flags)) for td in tiers for r in td.runs if r.flags)
    L += [f"Flagged records ({DAGGER} in the tables):" + (" none." if not flagged else ""), ""]
    L += [f"- `{p}`: {why}" for p, why in flagged] + ([""] if flagged else [])
    for (sweep, tier), isas in sorted(mixed.items()):
        L += [f"- {DAGGER} {sweep} ({tier}): runs on more than one ISA ("
              + ", ".join(f"{k}: {v}" for k, v in sorted(isas.items()))
              + "); paired arms must share a CPU kind.", ""]
    skipped = sorted((p, why) for td in tiers for p, why in td.skipped)
    L += ["Skipped records (not results):" + (" none." if not skipped else ""), ""]
    L += [f"- `{p}`: {why}" for p, why in skipped] + ([""] if skipped else [])
    notes = [f"- {td.folder}: {n}" for td in tiers for n in td.notes]
    notes += [f"- {td.folder}: {len(td.missing)} planned run(s) without a record yet" for td in tiers if td.missing]
    notes += [f"- {an.data.folder}: duplicate record for a pair, left out: `{p}`" for an in analyses.values()
              for p in an.duplicates]
    known_ids = {c.id for c in C.CLAIMS}
    notes += [f"- {td.folder}: sweep.json names claim `{c}`, which scripts/claims.py does not define"
              for td in tiers for c in td.meta.get("claims", []) if c not in known_ids]
    if notes:
        L += ["Notes:", ""] + notes + [""]
    with open(path, "w") as f:
        f.write("\n".join(L).rstrip("\n") + "\n")


# ---- main ---------------------------------------------------------------------------------------------------------

def build(results_dir, out, strict=False, repo=REPO_ROOT, vitbench=None):
    """Read results_dir, write the report into out; returns a list of error strings (non-empty only if strict
    and some record is flagged: then nothing is written)."""
    known, other = discover(results_dir)
    tiers = [load_tier(folder, sweep, tier, results_dir)  # claims.SWEEPS order, then tiers from low to high
             for sweep in C.SWEEPS if sweep in known
             for tier, folder in sorted(known[sweep].items(), key=lambda t: TIERS.index(t[0]))]
    git = GitAncestry(repo)
    mixed = flag_runs(tiers, git)
    if strict:
        errors = [f"{r.record}: {f}" for td in tiers for r in td.runs for f in r.flags]
        errors += [f"{s}/{t}: runs on more than one ISA ({', '.join(sorted(c))})"
                   for (s, t), c in sorted(mixed.items())]
        if git.unavailable and any(td.runs for td in tiers):
            errors.append(f"cannot check the commits against main: {git.unavailable}")
        if errors:
            return errors
    used = {}
    for td in tiers:  # ascending tier order: the last one with runs wins
        if td.runs:
            used[td.sweep] = td
    analyses = {sweep: analyse(used[sweep]) for sweep in C.SWEEPS if sweep in used}
    for an in analyses.values():
        an.mixed_isa = (an.data.sweep, an.data.tier) in mixed
    results = {c.id: S.verdict(c.kind, claim_estimate(c, analyses.get(c.sweep)), c.d_pub, c.margin,
                               unit="points" if c.effect == C.GAP_SLOPE else "seeds") for c in C.CLAIMS}

    os.makedirs(os.path.join(out, "tables"), exist_ok=True)
    os.makedirs(os.path.join(out, "figures"), exist_ok=True)
    macs = MacsLookup(vitbench if vitbench is not None else os.path.join(repo, "build", "release", "vitbench"))
    tables, figures, compute_notes, written = {}, defaultdict(list), {}, set()
    verdicts = verdict_table(analyses, results)
    what_ran = what_ran_table(tiers, used, other)
    for sweep, an in analyses.items():
        tables[sweep] = sweep_tables(an)
        if an.scaling:
            compute, why = scaling_compute(an, macs)
            if compute is None:
                compute_notes[sweep] = f"Equal-compute view skipped: {why}."
            else:
                compute_notes[sweep] = ("Equal-compute view (right): training compute = steps x batch x 3 x MACs "
                                        "per image (forward + backward ~ 3 forward passes); MACs from "
                                        + ", ".join(sorted(macs.sources)) + ".")
            path = fig_scaling(an, compute, os.path.join(out, "figures"))
        else:
            path = fig_ablation(an, os.path.join(out, "figures"))
        figures[sweep].append(os.path.basename(path))
        written.add(path)
    for t in [what_ran, verdicts] + [t for ts in tables.values() for t in ts]:
        path = os.path.join(out, "tables", t.stem + ".tex")
        with open(path, "w") as f:
            f.write(t.latex())
        written.add(path)
    for sub, ext in (("tables", ".tex"), ("figures", ".png")):  # drop what an earlier report wrote and this one not
        for name in os.listdir(os.path.join(out, sub)):
            path = os.path.join(out, sub, name)
            if name.endswith(ext) and path not in written:
                os.remove(path)
    with open(os.path.join(out, "runs.csv"), "w") as f:
        f.write(csv_text(tiers))
    write_readme(os.path.join(out, "README.md"), tiers, what_ran, analyses, tables, verdicts, figures, mixed, git,
                 compute_notes)
    return []


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results", help="the results folder holding sweeps/ (default: results)")
    ap.add_argument("--out", default="docs/results", help="output folder (default: docs/results)")
    ap.add_argument("--strict", action="store_true",
                    help="refuse (exit 1, write nothing) if a record is from a dirty tree, from a commit that is "
                         "not an ancestor of main, or if a sweep mixes ISAs")
    ap.add_argument("--repo", default=REPO_ROOT, help="git repository whose main the commits must be in "
                                                      "(default: this checkout)")
    ap.add_argument("--vitbench", default=None,
                    help="vitbench binary for MACs per image (default: <repo>/build/release/vitbench)")
    args = ap.parse_args(argv)
    errors = build(args.results, args.out, args.strict, args.repo, args.vitbench)
    if errors:
        print("report.py: --strict: refusing these records:\n  " + "\n  ".join(errors), file=sys.stderr)
        return 1
    print(f"report.py: wrote {os.path.join(args.out, 'README.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
