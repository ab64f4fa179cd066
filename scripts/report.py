#!/usr/bin/python3
"""The results report of the experiment sweeps: reads every results/sweeps/<sweep>/<tier>/ folder (sweep.json,
sweep.jsonl and one HDF5 run record per finished run) and writes docs/results/README.md (what ran, per-sweep
tables beside the published figures, receptive fields after training vs at random init from the runs' rf step
(`<run>.rf.h5`, `<run>.rf_init.h5`), the verdict of every claim in scripts/claims.py by the rule of
docs/statistics.md, the runs trained twice compared step by step), the same tables as LaTeX (tables/*.tex,
booktabs), figures (figures/*.png) and a tidy runs.csv. The same inputs give byte-identical outputs.

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
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402

import claims as C  # noqa: E402  (scripts/ is on sys.path when run as a script; the tests add it)
import stats as S  # noqa: E402
import report_throughput as RT  # noqa: E402

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
    rf: dict = field(default_factory=dict)  # "trained" / "init" -> RfRecord, when the run's rf step wrote them
    id: str = ""  # the sweep.jsonl line's run id (a hash of the resolved config and threads)

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
    rf_planned: int = 0  # sweep.jsonl lines with an rf step
    rf_missing: list = field(default_factory=list)  # rf files of finished runs with an rf step that are absent


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


def root_attrs(f):
    """The root attributes of an open HDF5 file as plain Python values."""
    return {k: text(v) if isinstance(v, (bytes, str)) else v.tolist() if isinstance(v, (np.ndarray, np.generic))
            else v for k, v in f.attrs.items()}


def read_record(path):
    """Root attributes (config parsed) of an HDF5 run record, or raises OSError/ValueError. Two summaries of the
    per-step series are added when the record has them: `train_loss_end` (mean training loss over the last tenth
    of the steps) and `grad_norm_max` (the largest global gradient norm before clipping after the warm-up: the
    spikes of an unstable run, not the large norms of the first steps); `train_top1_end`, the training top-1
    (augmented batches) over the last evaluation interval, from epochs/train_top1; and `_curve`, the learning curve
    ({"step", "val_top1", "train_top1"}: one value per evaluation; "loss": steps/loss, one per step) when the record
    has them; `_steps`, the per-step training loss and gradient norm as stored (for the same-run comparison)."""
    with h5py.File(path, "r") as f:
        attrs = root_attrs(f)
        steps = attrs["_steps"] = {k: f[f"steps/{k}"][:] for k in ("loss", "grad_norm") if f"steps/{k}" in f}
        cfg = json.loads(attrs.pop("config", "{}"))
        if len(loss := steps.get("loss", ())) > 0:
            attrs["train_loss_end"] = float(np.mean(loss[-max(1, len(loss) // 10):]))
        if len(norms := steps.get("grad_norm", ())) > 0:
            warmup = int(cfg.get("resolved", {}).get("warmup_steps", 0) or 0)
            attrs["grad_norm_max"] = float(np.max(norms[warmup:] if warmup < len(norms) else norms))
        if "epochs/train_top1" in f and f["epochs/train_top1"].shape[0] > 0:
            attrs["train_top1_end"] = float(f["epochs/train_top1"][-1])
        if all(k in f for k in ("epochs/step", "epochs/val_top1", "epochs/train_top1")):
            curve = {k: f[f"epochs/{k}"][:].astype(float) for k in ("step", "val_top1", "train_top1")}
            if len({len(v) for v in curve.values()}) == 1 and len(curve["step"]) > 0 and "loss" in steps:
                attrs["_curve"] = {**curve, "loss": steps["loss"].astype(float)}
    return attrs, cfg


# ---- receptive fields: the rf step of a sweep's runs (`kind = rf` results, docs/receptive_fields.md) ----------------

RF_FILES = {"trained": ".rf.h5", "init": ".rf_init.h5"}  # the run's final weights; the same model at random init
ERF_GROWTH_CLAIM = next(c for c in C.CLAIMS if c.effect == C.RF_ERF_GROWTH)
RF_DATASETS = ("erf/maps", "erf/depth", "erf/words", "erf/side90", "erf/area90", "erf/centre", "erf/theoretical_size",
               "theoretical/layer_size", "theoretical/layer_jump")  # what the report reads (besides attention/*)


def uniform_attention_distance(grid, spacing):
    """Mean attention distance (px) of a head that attends uniformly to every token of a grid x grid layout with
    token centres `spacing` px apart (query included, as vitbench rf counts it): the mean Euclidean distance over all
    ordered (query, key) pairs. Along one axis c(0) = grid index pairs are 0 apart and c(d) = 2 (grid - d) are d apart:
        D = spacing / grid^4 * sum_{dx, dy = 0}^{grid - 1} c(dx) c(dy) sqrt(dx^2 + dy^2)."""
    d = np.arange(grid, dtype=float)
    c = np.where(d == 0, grid, 2 * (grid - d))
    return float(spacing * (np.outer(c, c) * np.hypot.outer(d, d)).sum() / grid ** 4)


@dataclass
class Attention:
    """Mean attention distance (px) of one attention kind ("outer": patches, "inner": TNT's words): (blocks, heads),
    and the token grid it was measured on (grid x grid tokens, `spacing` px apart)."""
    dist: np.ndarray
    grid: int
    spacing: float

    @property
    def uniform(self):
        return uniform_attention_distance(self.grid, self.spacing)


@dataclass
class RfRecord:
    """What the report reads of a `kind = rf` result: per measured tap its name, relative depth, word flag (TNT),
    ERF side90 (px, NaN for an empty map), area90 (share of the image), centre pixel and theoretical field side
    (px; the image side after attention); per attention kind the distances and their token grid."""
    attrs: dict
    taps: list
    depth: np.ndarray
    words: np.ndarray
    side90: np.ndarray
    area90: np.ndarray
    centre: np.ndarray
    theoretical: np.ndarray
    attention: dict  # "outer" / "inner" -> Attention

    @property
    def img_size(self):
        return int(self.attrs["img_size"])

    def side(self, i):
        """ERF side90 (px) at tap i."""
        return float(self.side90[i])

    def fill90(self, i):
        """ERF 90%-mass pixels / pixels of the theoretical field inside the image, at tap i (both squares about the
        tap's centre pixel)."""
        side = in_image(self.centre[i], self.theoretical[i], self.img_size)
        return float(self.area90[i]) * self.img_size ** 2 / side ** 2 if side > 0 else math.nan


def in_image(centre, size, image):
    """Pixels of [0, image - 1] within a window of `size` pixels centred on `centre` (integer or half-integer)."""
    half = (size - 1) / 2
    return max(0, min(image - 1, math.floor(centre + half)) - max(0, math.ceil(centre - half)) + 1)


def read_rf(path):
    """An RfRecord from a `kind = rf` HDF5 result, or raises OSError/ValueError saying what is wrong."""
    with h5py.File(path, "r") as f:
        attrs = root_attrs(f)
        if attrs.get("kind") != "rf":
            raise ValueError(f"kind = {attrs.get('kind')!r}, not an rf result")
        if int(attrs.get("complete", 0)) != 1:
            raise ValueError(f"incomplete (complete = {attrs.get('complete', 'absent')})")
        absent = [k for k in RF_DATASETS if k not in f]
        if absent:
            raise ValueError(f"not an rf result of the known layout (no {', '.join(absent)})")
        try:
            taps = json.loads(text(f["erf/maps"].attrs["layers"]))
            cols = {k: np.asarray(f[f"erf/{k}"][()], dtype=float)
                    for k in ("depth", "words", "side90", "area90", "centre", "theoretical_size")}
            jumps = dict(zip(json.loads(text(f["theoretical/layer_size"].attrs["layers"])),
                             f["theoretical/layer_jump"][()].tolist()))
            attention = {}
            for kind in ("outer", "inner"):
                if f"attention/{kind}" in f:
                    ds = f[f"attention/{kind}"]
                    attention[kind] = (np.asarray(ds[()], dtype=float), json.loads(text(ds.attrs["layers"])))
            img = int(attrs["img_size"])
        except KeyError as e:  # an attribute: erf/maps or theoretical/layer_size `layers`, attention `layers`, img_size
            raise ValueError(f"not an rf result of the known layout (attribute {e} absent)") from None
    if any(len(v) != len(taps) for v in cols.values()):
        raise ValueError(f"erf/* lengths differ from the {len(taps)} taps")
    spacing = {}
    for kind, (dist, names) in attention.items():
        steps = {jumps.get(n) for n in names}
        if dist.ndim != 2 or len(names) != dist.shape[0] or None in steps or len(steps) != 1:
            raise ValueError(f"attention/{kind}: layers {names} do not match its rows or theoretical/layer_jump")
        spacing[kind] = float(steps.pop())
    if "inner" in spacing and "outer" not in spacing:
        raise ValueError("attention/inner without attention/outer (the words' grid is the patch / word stride)")
    grids = {}  # tokens per side: patches of the image, words of a patch
    if "outer" in spacing:
        grids["outer"] = img / spacing["outer"]
    if "inner" in spacing:
        grids["inner"] = spacing["outer"] / spacing["inner"]
    if any(g != int(g) for g in grids.values()):
        raise ValueError(f"token spacings {spacing} do not tile the {img}-pixel image")
    side90 = np.where(cols["side90"] < 0, math.nan, cols["side90"])  # -1: an empty map
    return RfRecord(attrs, taps, cols["depth"], cols["words"], side90, cols["area90"], cols["centre"],
                    cols["theoretical_size"],
                    {k: Attention(attention[k][0], int(grids[k]), spacing[k]) for k in attention})


def attach_rf(run, line, folder, results_dir, skipped):
    """Read the run's rf results (`<name>.rf.h5`, `<name>.rf_init.h5`) into run.rf; returns the names of the files
    its sweep.jsonl line plans (an "rf" key) that are absent. One that is unreadable or not this run's is skipped."""
    missing = []
    for kind, suffix in RF_FILES.items():
        path = os.path.join(folder, line["name"] + suffix)
        if not os.path.exists(path):
            if "rf" in line:
                missing.append(line["name"] + suffix)
            continue
        shown = display_path(path, results_dir)
        try:
            rec = read_rf(path)
        except OSError as e:
            skipped.append((shown, f"rf result: unreadable ({e})"))
            continue
        except ValueError as e:
            skipped.append((shown, f"rf result: {e}"))
            continue
        random_init = rec.attrs.get("checkpoint") == "random init"
        if rec.attrs.get("model") != run.model:
            skipped.append((shown, f"rf of model {rec.attrs.get('model')}, the run trained {run.model}"))
        elif random_init != (kind == "init"):
            skipped.append((shown, f"checkpoint {rec.attrs.get('checkpoint')!r}: expected "
                                   + ("random init" if kind == "init" else "the trained weights")))
        elif kind == "init" and int(rec.attrs.get("seed", -1)) != int(run.attrs.get("seed", -2)):
            skipped.append((shown, f"random init seed {rec.attrs.get('seed')}, the run's seed {run.attrs.get('seed')}"))
        else:
            run.rf[kind] = rec
    return missing


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
    runs, missing, skipped, listed, rf_missing = [], [], [], set(), []
    for line in sorted(lines, key=lambda l: (l.get("index", 0), l["name"])):
        candidates = [line["name"] + ".h5"] + ([line["output"] + ".h5"] if line.get("output") else [])
        path = next((os.path.join(folder, c) for c in candidates if os.path.exists(os.path.join(folder, c))), None)
        listed.update(candidates + [line["name"] + suffix for suffix in RF_FILES.values()])
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
        runs.append(Run(sweep, tier, line["name"], line["arm"], pair, axes, shown, model, cfg, attrs,
                        id=str(line.get("id", ""))))
        rf_missing += attach_rf(runs[-1], line, folder, results_dir, skipped)
    for name in sorted(os.listdir(folder)):
        if name.endswith(".h5") and name not in listed:
            skipped.append((display_path(os.path.join(folder, name), results_dir), "not in sweep.jsonl"))
    return TierData(sweep, tier, display_path(folder, results_dir), meta, len(lines), runs, missing, skipped,
                    notes, sum("rf" in line for line in lines), rf_missing)


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
    """Mark each run's provenance problems in run.flags (dirty tree, commit not in main, a pair whose runs ran on
    more than one CPU kind = ISA and CPU model); returns the tiers whose runs were made on more than one ISA as
    {(sweep, tier): Counter(isa)}."""
    mixed = {}
    for td in tiers:
        kinds = defaultdict(set)  # pair -> {"isa on cpu model"} (training runs; throughput measurements have none)
        for r in td.runs:
            kind = f"{text(r.attrs.get('isa', '?'))} on {text(r.attrs.get('cpu_model', '?'))}"
            kinds[getattr(r, "pair", None)].add(kind)
        for r in td.runs:
            commit = text(r.attrs.get("git_commit", ""))
            if int(r.attrs.get("git_dirty", 0)) != 0:
                r.flags.append("dirty tree")
            if git.is_ancestor(commit) is False:
                r.flags.append(f"commit {commit[:10] or '(none)'} not an ancestor of main")
            if getattr(r, "pair", None) is not None and len(kinds[r.pair]) > 1:
                r.flags.append(f"its pair ({r.pair}) ran on more than one CPU kind: {'; '.join(sorted(kinds[r.pair]))}")
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
    rf: dict = field(default_factory=dict)  # arm -> RfArm: the runs with rf results
    rf_notes: list = field(default_factory=list)

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
    an = SweepAnalysis(td, arms, reference, sizes, size_images, dict(values), duplicates)
    an.rf, an.rf_notes = rf_arms(td, arms)
    return an


@dataclass
class RfArm:
    """The rf results of one arm at one train size: its runs (in seed order) with their trained / init records."""
    arm: str
    model: str
    train_images: int
    runs: list

    def records(self, kind):
        """The arm's RfRecords of one kind ("trained" or "init"), in seed order."""
        return [r.rf[kind] for r in self.runs if kind in r.rf]

    def taps(self):
        """[(tap name, a record that has it, its index there)]: every measured tap, in the records' order."""
        out, seen = [], set()
        for rec in self.records("trained") + self.records("init"):
            for i, name in enumerate(rec.taps):
                if name not in seen:
                    seen.add(name)
                    out.append((name, rec, i))
        return out

    def tap_values(self, kind, tap, value):
        """value(record, index) of `tap` over the arm's records of one kind, NaN values left out."""
        vals = [value(rec, rec.taps.index(tap)) for rec in self.records(kind) if tap in rec.taps]
        return [v for v in vals if v is not None and math.isfinite(v)]


def rf_arms(td, arms):
    """({arm: RfArm}, notes): per arm the runs with rf results at the largest train size that has any (data_scaling
    plans the rf step for its full-data runs only); other sizes with rf results are noted and left out."""
    out, notes = {}, []
    for arm in arms:
        runs = [r for r in td.runs if r.arm == arm and r.rf]
        if not runs:
            continue
        sizes = sorted({r.train_images for r in runs})
        if len(sizes) > 1:
            notes.append(f"{arm}: rf results at {len(sizes)} train sizes; the table uses {sizes[-1]} images")
        runs = sorted((r for r in runs if r.train_images == sizes[-1]), key=lambda r: (int(r.attrs.get("seed", 0)),
                                                                                       r.name))
        out[arm] = RfArm(arm, runs[0].model, sizes[-1], runs)
    return out, notes


def block_attention(rec, i):
    """The head distances (px) of the attention inside the block whose output is tap i (TNT: the inner attention for
    a word tap, the outer one for a patch tap), or None for a stem / embedding tap or a model without attention.
    Tap depth = blocks up to it / blocks, so block b = depth x blocks (1-based)."""
    att = rec.attention.get("inner" if rec.words[i] else "outer")
    if att is None or rec.depth[i] <= 0:
        return None
    b = round(float(rec.depth[i]) * att.dist.shape[0])
    return att.dist[b - 1] if 1 <= b <= att.dist.shape[0] else None


def fill_tap(ra):
    """The deepest non-word tap whose theoretical field lies wholly inside the image (so the ERF's share of it is
    not cut by the image border), from the arm's first trained record; None if there is none."""
    recs = ra.records("trained") if ra else []
    if not recs:
        return None
    rec = recs[0]
    inside = [i for i in range(len(rec.taps)) if not rec.words[i]
              and in_image(rec.centre[i], rec.theoretical[i], rec.img_size) == rec.theoretical[i]]
    return rec.taps[max(inside, key=lambda i: (rec.depth[i], i))] if inside else None


def erf_growth(rec):
    """Least-squares slope of log ERF side90 on log theoretical side over the non-word taps whose theoretical field
    lies wholly inside the image (beyond them the border cuts both): 0.5 is Luo et al.'s sqrt(depth), 1 an ERF that
    keeps its share of the field. NaN with fewer than three such taps."""
    xs, ys = [], []
    for i in range(len(rec.taps)):
        side, field = float(rec.side90[i]), float(rec.theoretical[i])
        if (not rec.words[i] and side > 0 and field > 0
                and in_image(rec.centre[i], rec.theoretical[i], rec.img_size) == rec.theoretical[i]):
            xs.append(math.log(field))
            ys.append(math.log(side))
    return S.slope_estimate(xs, ys).value if len(xs) >= 3 else math.nan


def rf_claim_values(claim, ra, kind="trained"):
    """The per-seed values behind a receptive-field claim, from arm ra's records of one kind (an empty list when the
    arm has none): the slope of the mean-over-heads patch attention distance on block 1..B (px per block), block 1's
    farthest head / the uniform distance, the ERF fill90 at fill_tap, or the ERF growth slope (erf_growth)."""
    if claim.effect == C.RF_ERF_FILL:
        tap = fill_tap(ra)
        return ra.tap_values(kind, tap, RfRecord.fill90) if tap else []
    if claim.effect == C.RF_ERF_GROWTH:
        return [v for v in (erf_growth(rec) for rec in (ra.records(kind) if ra else [])) if math.isfinite(v)]
    vals = []
    for rec in ra.records(kind) if ra else []:
        att = rec.attention.get("outer")
        if att is None:
            continue
        if claim.effect == C.RF_ATTN_SLOPE:
            vals.append(S.slope_estimate(np.arange(1, att.dist.shape[0] + 1), att.dist.mean(axis=1)).value)
        else:
            vals.append(float(att.dist[0].max()) / att.uniform)
    return [v for v in vals if math.isfinite(v)]


def claim_estimate(claim, an):
    """The Estimate of a claim's effect A - B from one sweep analysis (an empty one when the sweep did not run)."""
    if an is None:
        return S.Estimate(math.nan, math.nan, 0, 2 if claim.effect == C.GAP_SLOPE else 1)
    if claim.effect in C.RF_EFFECTS:
        return S.one_sample_estimate(rf_claim_values(claim, an.rf.get(claim.a)), claim.threshold)
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
              "×": "$\\times$", "Δ": "$\\Delta$", "–": "--", "**": "", "`": ""}
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
    own = C.ARM_REFERENCES.get(an.data.sweep, {})  # arms compared with another arm than the sweep's reference
    for arm in an.arms:
        vals = an.values.get((arm, size), {})
        if not vals and arm != an.reference:
            continue
        s = S.summarize(v for _, v in sorted(vals.items()))
        mark = DAGGER if any(r.flags for r in runs_by_arm.get(arm, [])) else ""
        ref_arm = own.get(arm, an.reference)
        if arm == ref_arm or arm in own.values():
            delta = "reference"
        else:
            ref = an.values.get((ref_arm, size), {})
            d = S.paired_estimate([x for _, x in S.paired_differences(vals, ref)])
            lo, hi = d.ci()
            delta = f"{f2(d.value, True)} {ci_text(lo, hi, True)} (n={d.n})" if d.n else "-"
            if own:
                delta += f" vs {ref_arm}"
        pub = C.PUBLISHED.get(an.data.sweep, {}).get(arm)
        row = [arm + mark, str(s.n), f"{f2(s.mean)} ± {f2(s.sd)}", ci_text(s.lo, s.hi), delta]
        if not an.scaling and an.data.sweep in C.PUBLISHED:
            row.append(pub.text if pub else "-")
        if size is not None:
            at_size = [r for r in runs_by_arm.get(arm, []) if r.size_key == size]
            train = S.summarize(x for x in (r.num("train_top1_end") for r in at_size) if math.isfinite(x))
            row = [str(an.size_images[size]), epochs_cell(at_size)] + row[:4] + [f2(train.mean)] + row[4:]
        rows.append(row)
    return rows


def epochs_cell(runs):
    """Passes over the training subset: total steps x batch / train images (equal steps give small subsets many
    epochs and large ones few); "-" without runs, "a–b" when the runs differ."""
    eps = sorted({float(f"{r.resolved.get('total_steps', 0) * r.config.get('batch', 0) / r.train_images:.3g}")
                  for r in runs if r.train_images > 0})
    return "-" if not eps else f"{eps[0]:g}" if len(eps) == 1 else f"{eps[0]:g}–{eps[-1]:g}"


def datasets(td):
    """The datasets a tier's runs trained on, e.g. "cifar10 (45000 train images)"."""
    seen = sorted({(r.resolved.get("dataset", {}).get("name", "?"), r.train_images) for r in td.runs})
    names = sorted({n for n, _ in seen})
    if len(seen) == len(names):
        return ", ".join(f"{n} ({k} train images)" for n, k in seen)
    return ", ".join(names) + " (subsets)"


def sweep_tables(an, tp_used=None):
    """The per-arm table of a sweep (per size for data_scaling), and for data_scaling the gap slopes."""
    td = an.data
    runs_by_arm = defaultdict(list)
    for r in td.runs:
        runs_by_arm[r.arm].append(r)
    versus = "its f32 arm" if C.ARM_REFERENCES.get(td.sweep) else an.reference
    header = ["arm", "n", "test top-1 mean ± sd", "95% CI", f"paired Δ vs {versus} (95% CI)"]
    notes, align = [], "lrrrr"
    if an.scaling:
        header = ["train images", "epochs"] + header[:4] + ["train top-1 (end)"] + header[4:]
        align = "rrlrrrrr"
        notes.append("Epochs: total steps x batch / train images. Every run takes the same number of optimizer "
                     "steps (docs/sweeps.md); a large subset is then seen only a few times, so a gap that does not "
                     "close at the large sizes may be a training budget too short for them rather than an effect of "
                     "the data (the figure's equal-compute view plots the same runs against their training MACs). "
                     "Train top-1 (end): mean over seeds of the training top-1 on the augmented batches of the last "
                     "evaluation interval; near 100 the subset is memorised, at or below the test top-1 the model "
                     "under-fits it and the budget, not the data, limits it.")
    elif td.sweep in C.PUBLISHED:
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
    rules = [r for r in C.BF16_RULES if r.sweep == td.sweep]
    if rules:
        tables.append(bf16_table(an, rules, tp_used or {}))
    return tables


def paired_speedups(an, a, b):
    """Per pair: training images/s of arm a's run / arm b's run (the records' images_per_s)."""
    speed = {arm: {r.pair: r.num("images_per_s") for r in an.data.runs if r.arm == arm} for arm in (a, b)}
    return [x / speed[b][p] for p, x in sorted(speed[a].items())
            if p in speed[b] and math.isfinite(x) and speed[b][p] > 0]


def bf16_speedups(an, rule, tp_used):
    """(bf16/f32 training speed-ups, where they come from): vitbench's training step at the runs' batch in a
    throughput sweep (quiet machine, rounds), else the paired training runs' images_per_s."""
    batch = int(an.data.runs[0].config.get("batch", 0)) if an.data.runs else 0
    for sweep, td in sorted(tp_used.items()):
        ups = RT.dtype_speedups(td, rule.model, "train", batch)
        if ups:
            return ups, f"{sweep} ({td.tier})"
    return paired_speedups(an, rule.bf16, rule.f32), "runs"


def bf16_table(an, rules, tp_used):
    """The bf16 rule per model (claims.Bf16Rule): paired top-1 change with its 95% CI, the speed-up, and whether
    the sweeps may train that model in bf16."""
    rows, sources = [], set()
    for rule in rules:
        f32, bf16 = an.values.get((rule.f32, None), {}), an.values.get((rule.bf16, None), {})
        d = S.paired_estimate([x for _, x in S.paired_differences(bf16, f32)])
        lo, hi = d.ci() if d.n >= 2 else (math.nan, math.nan)
        ups, source = bf16_speedups(an, rule, tp_used)
        ups = sorted(ups)
        up = float(np.median(ups)) if ups else math.nan
        speed = f"{up:.2f}x ({ups[0]:.2f}–{ups[-1]:.2f}; {len(ups)}; {source})" if ups else "-"
        sources.add(source)
        why = []
        if d.n < 2:
            why.append(f"needs >= 2 pairs, have {d.n}")
        elif not (-C.BF16_MARGIN <= lo and hi <= C.BF16_MARGIN):
            why.append(f"95% CI not within ±{C.BF16_MARGIN:g}")
        if not up >= C.BF16_MIN_SPEEDUP:
            why.append(f"speed-up {up:.2f}x < {C.BF16_MIN_SPEEDUP:g}x" if ups else "no speed measured")
        decision = "**yes**" if not why else "**no**: " + "; ".join(why)
        rows.append([rule.model, str(d.n), f2(S.summarize(f32.values()).mean), f2(S.summarize(bf16.values()).mean),
                     f"{f2(d.value, True)} {ci_text(lo, hi, True)}" if d.n else "-", speed, decision])
    notes = [f"The bf16 rule (docs/statistics.md): a sweep may train a model in bf16 where bf16 is >= "
             f"{C.BF16_MIN_SPEEDUP:g}x as fast as f32 and the 95% interval of the paired top-1 change lies within "
             f"±{C.BF16_MARGIN:g} points. Speed-up: bf16 / f32 training images/s, median (lowest–highest; how many; "
             "from where)."]
    if any(src != "runs" for src in sources):
        notes.append("From a throughput sweep: vitbench's training step at the runs' batch, bf16 over f32 of the "
                     "same round (a quiet machine, one process per measurement).")
    if "runs" in sources:
        notes.append("From the runs: each bf16 run's images_per_s over its paired f32 run's (evaluation excluded); "
                     "only as steady as the machine was while they ran.")
    return Table(f"{an.data.sweep}_rule", f"{an.data.sweep} ({an.data.tier} tier): may the sweeps train in bf16?",
                 ["model", "pairs", "f32 top-1", "bf16 top-1", "paired Δ bf16 − f32 (95% CI)", "bf16 speed-up",
                  "sweeps may use bf16"], "lrrrrrl", rows, notes)


def lr_probe_choice(an):
    """model -> (chosen arm, its peak lr): per model, the lr_probe arm with the best mean validation top-1 (the
    recipe rule, claims.LR_PROBE); ties go to the lower rate."""
    best = {}
    for arm in an.arms:
        runs = [r for r in an.data.runs if r.arm == arm]
        vals = [r.num("best_val_top1") for r in runs if math.isfinite(r.num("best_val_top1"))]
        if not vals:
            continue
        lr = float(runs[0].config.get("lr", math.nan))
        key = (float(np.mean(vals)), -lr)
        if runs[0].model not in best or key > best[runs[0].model][0]:
            best[runs[0].model] = (key, arm, lr)
    return {model: (arm, lr) for model, (_, arm, lr) in best.items()}


def lr_table(an, analyses):
    """lr_probe: per model and peak learning rate, the validation top-1 the rate is chosen by, the test top-1, the
    end-of-training loss and the largest gradient norm; which rate the recipe rule picks, and which the other
    sweeps' runs of that model trained with (from their records)."""
    chosen = lr_probe_choice(an)
    used = defaultdict(set)  # (model, lr) -> sweeps whose runs trained that model at that lr
    for sweep, other in analyses.items():
        if sweep != an.data.sweep:
            for r in other.data.runs:
                used[(r.model, float(r.config.get("lr", math.nan)))].add(f"{sweep} ({other.data.tier})")
    mean = lambda runs, key: float(np.mean([r.num(key) for r in runs])) if runs else math.nan  # noqa: E731
    rows = []
    by_model = defaultdict(list)
    for arm in an.arms:
        runs = [r for r in an.data.runs if r.arm == arm]
        if runs:
            by_model[runs[0].model].append((float(runs[0].config.get("lr", math.nan)), arm, runs))
    for model in sorted(by_model):
        for lr, arm, runs in sorted(by_model[model]):
            mark = DAGGER if any(r.flags for r in runs) else ""
            pick = "**chosen**" if chosen.get(model, (None,))[0] == arm else ""
            rows.append([model, f"{lr:g}", arm + mark, str(len(runs)), f2(mean(runs, "best_val_top1")),
                         f2(mean(runs, "test_top1")), f"{mean(runs, 'train_loss_end'):.3f}",
                         f"{mean(runs, 'grad_norm_max'):.1f}", pick,
                         ", ".join(sorted(used.get((model, lr), ()))) or "-"])
    steps = sorted({int(r.num("steps")) for r in an.data.runs})
    notes = ["The recipe rule (docs/sweeps.md, The recipe): each model trains at the peak rate with the "
             "best mean validation top-1 here (ties: the lower rate); the test split is shown, never used to choose. "
             f"Runs of {'/'.join(map(str, steps))} steps; train loss: mean over the last tenth of the steps (label "
             "smoothing 0.1 included); grad norm: the largest global norm after the warm-up. Used by: the sweeps whose "
             "records trained that model at that rate."]
    return Table(f"{an.data.sweep}_{an.data.tier}", f"{an.data.sweep} ({an.data.tier} tier): peak learning rate",
                 ["model", "peak lr", "arm", "n", "val top-1 (best)", "test top-1", "train loss (end)",
                  "grad norm (max)", "rule", "used by"], "lrlrrrrrll", rows, notes)


def fig_lr(an, out):
    """Validation (chosen by) and test top-1 against the peak learning rate, one line per model."""
    fig, ax = plt.subplots(figsize=(5.4, 3.6))
    by_model = defaultdict(list)
    for r in an.data.runs:
        by_model[r.model].append((float(r.config.get("lr", math.nan)), r.num("best_val_top1"), r.test_top1))
    for i, model in enumerate(sorted(by_model)):
        pts = sorted(by_model[model])
        lrs = sorted({p[0] for p in pts})
        val = [np.mean([p[1] for p in pts if p[0] == lr]) for lr in lrs]
        test = [np.mean([p[2] for p in pts if p[0] == lr]) for lr in lrs]
        ax.plot(lrs, val, "o-", color=f"C{i}", label=f"{model} val (chooses)")
        ax.plot(lrs, test, "s--", color=f"C{i}", alpha=0.6, label=f"{model} test")
    ax.set_xscale("log")
    ax.set(xlabel="peak learning rate (batch 64; SGD for the ResNet, AdamW otherwise)", ylabel="top-1 (%)",
           title=f"{an.data.sweep} ({an.data.tier})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, out, f"{an.data.sweep}.png")


def verdict_table(analyses, results):
    """One row per claim: our effect with its 95% CI, MDE, the published effect and the verdict."""
    rows, flagged = [], False
    for claim in C.CLAIMS:
        an = analyses.get(claim.sweep)
        v = results[claim.id]
        mark = DAGGER if claim_runs_flagged(claim, an) else ""
        flagged |= bool(mark)
        ra = an.rf.get(claim.a) if an else None
        what = {C.PAIRED: "A − B", C.PAIRED_SMALLEST: "A − B, smallest size",
                C.GAP_SLOPE: "slope of A − B per doubling", C.RF_ATTN_SLOPE: "px per block, trained",
                C.RF_GLOBAL_HEAD: f"block-1 farthest head / uniform, trained; vs {claim.threshold:g}",
                C.RF_ERF_FILL: f"ERF fill90 at {fill_tap(ra)}, trained; vs {claim.threshold:g}",
                C.RF_ERF_GROWTH: f"slope of log ERF side90 on log theoretical side, trained; vs {claim.threshold:g}, "
                                 f"sqrt(depth) {C.LUO_EXPONENT:g}"}[claim.effect]
        margin = f" (margin {claim.margin:g})" if claim.margin is not None else ""
        # a threshold claim shows its value (estimate + threshold), unsigned; a difference or slope its signed effect
        t, signed = claim.threshold, claim.threshold == 0
        effect = f"{f2(v.effect + t, signed)} {ci_text(v.lo + t, v.hi + t, signed)}{mark} ({what})"
        if not math.isfinite(v.effect):
            effect = "-"
        rows.append([f"{claim.statement}{margin}", f"{an.data.tier}" if an else "not run", str(v.n), effect,
                     f2(v.mde), f"{claim.published}; {claim.source}", f"**{v.verdict}**: {v.reason}"])
    notes = ["MDE: the smallest true effect a two-sided paired t-test (alpha 0.05) detects with power 0.8 at "
             "this n and sd (docs/statistics.md); for the RF claims a one-sample t-test over seeds, in the "
             "claim's units. Published effects are ImageNet points; ours are test top-1 points of small models "
             "trained from scratch on the sweep's dataset. RF claims: see Receptive fields after training."]
    if flagged:
        notes.append(f"{DAGGER} includes runs with a provenance flag (listed under Provenance).")
    return Table("verdicts", "Published claims and our verdicts", ["claim", "tier", "n", "our effect (95% CI)",
                 "MDE", "published", "verdict"], "llrrrll", rows, notes)


def rf_cell(values, digits=1):
    """Mean over seeds with its 95% interval when there are >= 2 ("-" when there are none)."""
    s = S.summarize(values)
    if s.n == 0:
        return "-"
    mean = f"{s.mean:.{digits}f}"
    return mean if s.n < 2 else f"{mean} [{s.lo:.{digits}f}, {s.hi:.{digits}f}]"


def heads_cell(rows):
    """'nearest–farthest' head: the per-seed min and max over heads, each averaged over seeds."""
    if not rows:
        return "-"
    return f"{np.mean([r.min() for r in rows]):.1f}–{np.mean([r.max() for r in rows]):.1f}"


def rf_table(an, ra):
    """Per tap of one arm: theoretical field, ERF side90 trained vs random init and, for a transformer, the mean
    attention distance of the block (mean over heads, nearest and farthest head) trained vs random init beside the
    uniform-attention distance; for a CNN the ERF fill90 instead."""
    td = an.data
    attention = any(rec.attention for kind in RF_FILES for rec in ra.records(kind))
    header = ["tap", "depth", "theoretical RF (px)", "ERF side90 trained (px)", "ERF side90 random init (px)"]
    header += (["attention distance trained (px)", "trained heads", "attention distance random init (px)",
                "random-init heads", "uniform (px)"]
               if attention else ["ERF fill90 trained", "ERF fill90 random init"])
    rows = []
    for tap, first, i in ra.taps():
        row = [tap, f"{first.depth[i]:.2f}", f"{first.theoretical[i]:g}"]
        row += [rf_cell(ra.tap_values(kind, tap, RfRecord.side)) for kind in RF_FILES]
        if attention:
            for kind in RF_FILES:
                heads = [h for rec in ra.records(kind) if tap in rec.taps
                         for h in [block_attention(rec, rec.taps.index(tap))] if h is not None]
                row += [rf_cell([h.mean() for h in heads]), heads_cell(heads)]
            att = first.attention.get("inner" if first.words[i] else "outer")
            row.append(f"{att.uniform:.1f}" if att is not None and block_attention(first, i) is not None else "-")
        else:
            row += [rf_cell(ra.tap_values(kind, tap, RfRecord.fill90), 2) for kind in RF_FILES]
        rows.append(row)
    n = {kind: len(ra.records(kind)) for kind in RF_FILES}
    notes = [f"Mean over seeds [95% CI] of {n['trained']} trained and {n['init']} random-init result(s) "
             f"({ra.train_images} train images)."]
    if attention:
        notes.append("Attention distance of block i+1 in row blocks.i: the block's heads averaged (heads: the "
                     "nearest–farthest head, each "
                     "averaged over seeds); TNT's word rows (.inner) are the inner attention between the words of "
                     "a patch, its patch rows the outer attention. Uniform: every token attended equally.")
    else:
        notes.append("ERF fill90: pixels holding 90% of the ERF mass / pixels of the theoretical field inside the "
                     "image (the whole image once the field outgrows it).")
        growth = {kind: rf_cell(rf_claim_values(ERF_GROWTH_CLAIM, ra, kind), 2) for kind in RF_FILES}
        notes.append(f"ERF growth: the least-squares slope of log side90 on log theoretical RF over the taps whose "
                     f"field lies inside the image, trained {growth['trained']}, random init {growth['init']} "
                     f"(Luo et al.'s sqrt(depth) gives {C.LUO_EXPONENT:g}; an ERF keeping its share of the field, 1).")
    if any(r.flags for r in ra.runs):
        notes.append(f"{DAGGER} includes runs with a provenance flag (listed under Provenance).")
    return Table(f"{td.sweep}_rf_{ra.arm}", f"{td.sweep} ({td.tier} tier): receptive fields of {ra.arm} "
                 f"({ra.model}) after training vs at random init", header, "lrr" + "r" * (len(header) - 3), rows,
                 notes)


def uniform_check(ra):
    """Per attention kind of an arm: (kind, grid, spacing, uniform distance, lowest and highest random-init head
    over every block and seed, or NaN when there is no random-init record)."""
    out = []
    for kind in ("outer", "inner"):
        atts = [rec.attention[kind] for rec in ra.records("trained") + ra.records("init") if kind in rec.attention]
        if not atts:
            continue
        heads = np.concatenate([rec.attention[kind].dist.ravel() for rec in ra.records("init")
                                if kind in rec.attention] or [np.full(1, math.nan)])
        out.append((kind, atts[0].grid, atts[0].spacing, atts[0].uniform, float(heads.min()), float(heads.max())))
    return out


def rf_section(an, tables, figures):
    """The README section "Receptive fields after training" (Markdown lines), or [] when no run planned an rf step
    and none has rf results."""
    td = an.data
    if not (td.rf_planned or an.rf):
        return []
    with_rf = sum(len(ra.runs) for ra in an.rf.values())
    L = ["## Receptive fields after training", "",
         f"{td.sweep}, tier **{td.tier}**: {td.rf_planned} planned run(s) measure receptive fields after training "
         f"(`vitbench rf`, docs/receptive_fields.md) on the same test images twice: with the run's final weights "
         f"(`<run>.rf.h5`) and with the same model at random init, the run's seed (`<run>.rf_init.h5`); "
         f"{with_rf} finished run(s) have rf results."
         + (f" {len(td.rf_missing)} rf file(s) of finished runs are missing (Provenance, Notes)."
            if td.rf_missing else ""), ""]
    if not an.rf:
        return L + ["No rf results yet.", ""]
    L += ["ERF size: side90, the side (px) of the smallest square about the unit's centre pixel that holds 90% of "
          "the gradient mass (the scalar the rf figures use). Mean attention distance: the attention-weighted "
          "distance (px) from each query token to every key, cls token left out, averaged over queries and images "
          "(ViT Fig. 7). Its baseline is uniform attention: on a G x G token grid with centres s px apart, the "
          "expected distance from a query to a key drawn uniformly (the query itself included) is", "",
          "D = s / G^4 · Σ_{dx,dy=0}^{G−1} c(dx) c(dy) √(dx² + dy²), with c(0) = G and c(d) = 2 (G − d) "
          "(the number of ordered index pairs d apart along one axis).", ""]
    checks = [f"{ra.arm} {'patches' if kind == 'outer' else 'words'} ({g} x {g}, {sp:g} px apart): "
              f"D = {u:.2f} px; random-init heads {lo:.2f}–{hi:.2f} px ({lo / u:.3f}–{hi / u:.3f} x D)"
              for ra in an.rf.values() for kind, g, sp, u, lo, hi in uniform_check(ra)]
    if checks:
        L += ["At random init attention is close to uniform, so every head sits near D (lowest–highest head over "
              "all blocks and seeds):", ""] + [f"- {c}" for c in checks] + [""]
    for ra, t in zip(an.rf.values(), tables):
        L += [f"### {ra.arm} ({ra.model})", "", t.markdown()]
    for fig in figures:
        L += [f"![receptive fields](figures/{fig})", ""]
    L += [f"- {n}" for n in an.rf_notes] + ([""] if an.rf_notes else [])
    return L


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


CURVE_SMOOTH = 50  # steps in the training loss's moving average


def fig_curves(an, out):
    """Learning curves, one column per train size: above, validation top-1 (solid: mean over seeds, band: lowest to
    highest seed) and training top-1 on the augmented batches (dotted: mean) at each evaluation; below, the training
    loss per step (moving average over CURVE_SMOOTH steps, mean over seeds). Whether a budget left a model still
    climbing, and whether the arms' order holds through training. None if no run has them."""
    runs_of = lambda arm, size: sorted(  # noqa: E731 (the runs analyse() kept, duplicates left out)
        (r for r in an.data.runs if (r.size_key if an.scaling else None) == size and "_curve" in r.attrs
         and r.record not in an.duplicates and (arm is None or r.arm == arm)), key=lambda r: r.name)
    sizes = [size for size in an.sizes if runs_of(None, size)]
    if not sizes:
        return None
    fig, axes = plt.subplots(2, len(sizes), figsize=(3.6 * len(sizes) + 0.6, 6.2), squeeze=False, sharey="row",
                             sharex="col")
    for ax, lax, size in zip(axes[0], axes[1], sizes):
        for i, arm in enumerate(an.arms):
            runs = runs_of(arm, size)
            steps = {tuple(r.attrs["_curve"]["step"]) for r in runs}
            if len(steps) != 1:  # no run, or seeds evaluated at different steps: nothing to average
                continue
            step = runs[0].attrs["_curve"]["step"]
            val = np.array([r.attrs["_curve"]["val_top1"] for r in runs])
            train = np.array([r.attrs["_curve"]["train_top1"] for r in runs])
            ax.plot(step, val.mean(axis=0), "o-", ms=3, color=f"C{i}", label=f"{arm} (n={len(runs)})")
            if len(runs) > 1:
                ax.fill_between(step, val.min(axis=0), val.max(axis=0), color=f"C{i}", alpha=0.2, lw=0)
            ax.plot(step, train.mean(axis=0), ".:", ms=3, color=f"C{i}")
            losses = [r.attrs["_curve"]["loss"] for r in runs]
            if len({len(v) for v in losses}) == 1 and len(losses[0]) >= CURVE_SMOOTH:
                smooth = np.convolve(np.mean(losses, axis=0), np.ones(CURVE_SMOOTH) / CURVE_SMOOTH, mode="valid")
                lax.plot(np.arange(CURVE_SMOOTH, len(losses[0]) + 1), smooth, "-", color=f"C{i}", lw=1, label=arm)
        images = an.size_images.get(size)
        ax.set(title=f"{images} train images" if an.scaling and images else an.data.sweep)
        lax.set(xlabel="optimizer step")
        for a in (ax, lax):
            a.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("top-1 (%): val solid, train dotted")
    axes[1][0].set_ylabel(f"training loss (mean of {CURVE_SMOOTH} steps)")
    fig.tight_layout()
    return save(fig, out, f"{an.data.sweep}_curves.png")


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


RF_STYLE = {"trained": dict(ls="-", label="trained"), "init": dict(ls="--", label="random init")}  # line styles


def fig_rf_erf(an, out):
    """ERF side90 against relative depth: one colour per arm, trained solid, random init dashed (mean over seeds,
    95% band), TNT's word taps as triangles; the image side dotted."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    handles = []
    for c, ra in enumerate(an.rf.values()):
        taps = ra.taps()
        for words in sorted({int(first.words[i]) for _, first, i in taps}):
            for kind, style in RF_STYLE.items():
                xs, means, los, his = [], [], [], []
                for tap, first, i in taps:
                    s = S.summarize(ra.tap_values(kind, tap, RfRecord.side))
                    if first.words[i] != words or s.n == 0:
                        continue
                    xs.append(float(first.depth[i]))
                    means.append(s.mean)
                    los.append(s.lo if s.n >= 2 else s.mean)
                    his.append(s.hi if s.n >= 2 else s.mean)
                if xs:
                    ax.plot(xs, means, ls=style["ls"], marker="^" if words else "o", ms=4, color=f"C{c}")
                    ax.fill_between(xs, los, his, color=f"C{c}", alpha=0.12, lw=0)
        handles.append(plt.Line2D([], [], color=f"C{c}", marker="o", label=f"{ra.arm} ({ra.model})"))
    handles += [plt.Line2D([], [], color="k", **style) for style in RF_STYLE.values()]
    if any(first.words[i] for ra in an.rf.values() for _, first, i in ra.taps()):
        handles.append(plt.Line2D([], [], color="k", marker="^", ls="none", label="TNT words"))
    size = max(rec.img_size for ra in an.rf.values() for rec in ra.records("trained") + ra.records("init"))
    ax.axhline(size, color="grey", ls=":", lw=1)
    handles.append(plt.Line2D([], [], color="grey", ls=":", label=f"image side ({size} px)"))
    ax.set(xlabel="relative depth (blocks up to the tap / blocks; 0 = stem or embedding)",
           ylabel="ERF side90 (px)", title=f"{an.data.sweep} ({an.data.tier}): ERF size, trained vs random init")
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, fontsize=7)
    fig.tight_layout()
    return save(fig, out, f"{an.data.sweep}_rf_erf.png")


def fig_rf_attention(an, out):
    """ViT Fig. 7 style: per transformer arm and attention kind, the mean attention distance of every head (dots,
    every seed) by block, trained (filled, left) vs random init (hollow, right), the mean over heads and seeds as a
    line, the uniform-attention distance as a horizontal line. None when no arm has attention."""
    panels = [(c, ra, kind) for c, ra in enumerate(an.rf.values()) for kind in ("outer", "inner")
              if any(kind in rec.attention for k in RF_FILES for rec in ra.records(k))]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.8), squeeze=False)
    for ax, (c, ra, kind) in zip(axes[0], panels):
        top, uniform, blocks = 0.0, None, 1
        for k, dx in (("trained", -0.12), ("init", 0.12)):
            dists = [rec.attention[kind] for rec in ra.records(k) if kind in rec.attention]
            for att in dists:
                blocks, heads = max(blocks, att.dist.shape[0]), att.dist.shape[1]
                face = f"C{c}" if k == "trained" else "none"
                ax.scatter(np.repeat(np.arange(1, att.dist.shape[0] + 1), heads) + dx, att.dist.ravel(), s=10,
                           facecolors=face, edgecolors=f"C{c}", linewidths=0.7)
                top, uniform = max(top, float(att.dist.max())), att.uniform
            if dists and len({a.dist.shape[0] for a in dists}) == 1:
                mean = np.mean([a.dist.mean(axis=1) for a in dists], axis=0)
                dots = "filled" if k == "trained" else "hollow"
                ax.plot(np.arange(1, len(mean) + 1) + dx, mean, color=f"C{c}", lw=1, ls=RF_STYLE[k]["ls"],
                        label=f"{RF_STYLE[k]['label']} ({dots} dots; line: mean of the heads)")
        ax.axhline(uniform, color="k", ls=":", lw=1, label=f"uniform attention ({uniform:.1f} px)")
        ax.set_ylim(0, 1.1 * max(top, uniform))
        ax.set(xlabel="block", ylabel="mean attention distance (px)",
               title=f"{ra.arm} ({ra.model}): {'patches' if kind == 'outer' else 'words (inner)'}")
        ax.set_xlim(0.5, blocks + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return save(fig, out, f"{an.data.sweep}_rf_attention.png")


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


def run_seconds(r):
    """A run's wall time: a training record's run_wall_s, a throughput record's end - start time. A training record
    without `sessions` (written before it existed) holds in run_wall_s its last process's time only, short for a
    run resumed after a kill or a stop; its training time over every session (train_wall_s) bounds it from below."""
    if isinstance(r, RT.Measured):
        return r.wall_s()
    if "sessions" in r.attrs:
        return r.num("run_wall_s", 0.0)
    return max(r.num("run_wall_s", 0.0), r.num("train_wall_s", 0.0))


def core_seconds(r):
    """A run's cost in core-seconds: its wall time x the threads it ran on (its cores: a sweep runs its jobs beside
    each other on disjoint cores, so two 1-thread runs side by side on a 2-core machine cost one machine-second per
    second, not two)."""
    return run_seconds(r) * max(1, int(r.attrs.get("threads", 1)))


MACHINE_CORES = 2  # the machines of the first sweeps (2 cores on every kind), for records that name no cpu_cores


def machine_cores(r):
    """The logical CPUs of the machine a run ran on: its record's cpu_cores (since 2026-12-07), else MACHINE_CORES."""
    return int(r.attrs.get("cpu_cores", 0)) or MACHINE_CORES


def exec_folder(r):
    """The run folder of the `sweep exec <folder>` that trained a record (a record shared by scripts/share_runs.py
    keeps the command of the folder that trained it), or None if its command names none."""
    m = re.search(r"\bsweep exec (\S+)", text(r.attrs.get("command", "")))
    return os.path.normpath(m.group(1)) if m else None


def trained_in(r, td, sweeps):
    """The other sweep whose folder trained a record that `td` shares (scripts/share_runs.py: the same run id at the
    same commit), from the `sweep exec <folder>` of its command; None for td's own runs."""
    folder = exec_folder(r)
    name = os.path.basename(os.path.dirname(folder)) if folder else ""
    return name if name != td.sweep and name in sweeps else None


def own_runs(td, sweeps):
    """(td's runs it trained itself, {other sweep: how many of its runs td shares})."""
    own, shared = [], Counter()
    for r in td.runs:
        other = trained_in(r, td, sweeps)
        if other:
            shared[other] += 1
        else:
            own.append(r)
    return own, shared


def own_hours(td, sweeps):
    """(core-hours, machine-hours) of the runs td trained itself (a run shared with another sweep counts in that
    sweep's); a run's machine-hours are its core-hours / the cores of the machine it ran on."""
    own = own_runs(td, sweeps)[0]
    return (sum(core_seconds(r) for r in own) / 3600, sum(core_seconds(r) / machine_cores(r) for r in own) / 3600)


def what_ran_table(tiers, used, other):
    """One row per sweep and tier folder: finished/planned runs, machine-hours, commits, CPU, ISA, threads, dates.
    Runs shared with another sweep count in its hours, not twice."""
    rows, sweeps = [], {td.sweep for td in tiers}
    for td in tiers:
        runs = td.runs
        shared = own_runs(td, sweeps)[1]
        core_h, machine_h = own_hours(td, sweeps)
        starts = [text(r.attrs["start_time"]) for r in runs if "start_time" in r.attrs]
        ends = [text(r.attrs["end_time"]) for r in runs if "end_time" in r.attrs]
        isas = Counter(text(r.attrs.get("isa", "?")) for r in runs)
        rows.append([td.sweep, td.tier + (" (used)" if used.get(td.sweep) is td else ""),
                     f"{len(runs)} / {td.planned}"
                     + "".join(f" ({n} from {o})" for o, n in sorted(shared.items())), str(len(td.skipped)),
                     f"{core_h:.2f}",
                     f"{machine_h:.2f}",
                     short_list(text(r.attrs.get("git_commit", ""))[:10] for r in runs),
                     short_list(text(r.attrs.get("cpu_model", "?")) for r in runs),
                     ", ".join(f"{k} ({v})" for k, v in sorted(isas.items())) or "-",
                     short_list(str(r.attrs.get("threads", "?")) for r in runs),
                     f"{min(starts)} .. {max(ends)}" if starts and ends else "-"])
    for sweep, tier, n in other:
        rows.append([sweep, tier, f"{n} records", "-", "-", "-", "-", "-", "-", "-", "not summarised"])
    return Table("what_ran", "What ran", ["sweep", "tier", "runs finished / planned", "skipped", "core-hours",
                 "machine-hours", "commits", "CPU", "ISA (runs)", "threads", "records from .. to"], "llrrrrlllll", rows)


def kinds_note(td):
    """For a training sweep whose runs ran on more than one CPU kind (ISA and CPU model): which seeds ran where.
    Empty otherwise."""
    if td.meta.get("kind", "train") != "train":
        return ""
    seeds = defaultdict(set)  # "cpu model (isa)" -> seeds
    for r in td.runs:
        kind = f"{text(r.attrs.get('cpu_model', '?'))} ({text(r.attrs.get('isa', '?'))})"
        seeds[kind].add(int(r.attrs.get("seed", -1)))
    if len(seeds) < 2:
        return ""
    where = "; ".join(f"{kind}: seed{'s' if len(s) > 1 else ''} {', '.join(map(str, sorted(s)))}"
                      for kind, s in sorted(seeds.items()))
    return (f"Ran on more than one CPU kind ({where}). Paired arms run on one kind (docs/sweeps.md; a pair that did "
            "not is flagged †), so the paired differences and the verdicts compare runs of one CPU; an arm's mean "
            "and sd pool the kinds.")


def machines_text(runs):
    """Where records ran, e.g. "Intel(R) Xeon(R) Processor (avx512_core_bf16), 2 threads": every speed figure names
    its CPU; several kinds are listed with their record counts."""
    kinds = Counter((text(r.attrs.get("cpu_model", "?")), text(r.attrs.get("isa", "?")),
                     str(r.attrs.get("threads", "?"))) for r in runs)
    parts = [f"{cpu} ({isa}), {th} thread{'' if th == '1' else 's'}" + (f" ({n} records)" if len(kinds) > 1 else "")
             for (cpu, isa, th), n in sorted(kinds.items())]
    return "; ".join(parts) or "-"


def relative_speed_table(td):
    """Model over model images/s (f32 inference) within each framework, beside the published ratios; None when the
    tier measured none of the published pairs."""
    rows = RT.relative_rows(td, C.RELATIVE_SPEED)
    if not rows:
        return None
    return Table(f"{td.sweep}_{td.tier}_models", f"Relative speed of the models, f32 inference ({td.sweep}, tier "
                 f"{td.tier}) beside the published ratios", RT.relative_header(td), "lr" + "r" * (len(rows[0]) - 2),
                 rows, ["Images/s of the first model / the second, each framework on its own, per round (both models "
                        "in the same round), then the median over rounds with the lowest and highest. The papers' "
                        "absolute figures come from other hardware (a V100; a 10-core desktop CPU at batch 1), so "
                        "only the ratio between models is compared; ours are at the sweep's batch on this CPU, so a "
                        "batch-1 or GPU ratio is context, not a target."])


def throughput_section(td, table, figure, mixed, relative=None):
    """README lines of a throughput sweep: what it measures, the table, the models' relative speed beside the
    published ratios, the figure."""
    title = td.sweep + (f" {DAGGER}" if (td.sweep, td.tier) in mixed else "")
    L = [f"## {title}", "", td.meta.get("description", "").rstrip(".") + ".", "",
         f"Tier **{td.tier}**, {len(td.runs)} of {td.planned} planned measurements; {len(td.missing)} without a "
         f"record yet. Measured on {machines_text(td.runs)}. Throughput is only meaningful from a quiet machine: "
         "this sweep runs with nothing else on the CPU (docs/sweeps.md).", "", table.markdown()]
    if relative is not None:
        L += [relative.markdown()]
    if figure:
        L += [f"![{td.sweep}](figures/{os.path.basename(figure)})", ""]
    return L


THROUGHPUT_COLUMNS = ["sweep", "tier", "name", "framework", "model", "mode", "dtype", "batch", "round",
                      "images_per_s", "peak_fraction", "git_commit", "git_dirty", "isa", "cpu_model", "threads",
                      "flags", "record"]


def throughput_csv_text(tds):
    """throughput_runs.csv: one row per finished throughput measurement of every throughput sweep and tier."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(THROUGHPUT_COLUMNS)
    for td in tds:
        for r in td.runs:
            w.writerow([csv_cell(v) for v in (td.sweep, td.tier, r.name, r.framework, *r.case, r.round, r.ips,
                                              r.peak_fraction, r.attrs.get("git_commit"), r.attrs.get("git_dirty"),
                                              r.attrs.get("isa"), r.attrs.get("cpu_model"), r.attrs.get("threads"),
                                              "; ".join(r.flags), r.record)])
    return buf.getvalue()


def steps_comparison(a, b):
    """How the per-step training loss and gradient norm of two trainings of one run compare."""
    sa, sb = a.attrs.get("_steps", {}), b.attrs.get("_steps", {})
    if not sa or set(sa) != set(sb):
        return "not comparable (per-step series absent)"
    if any(len(sa[k]) != len(sb[k]) for k in sa):
        return "differ: " + ", ".join(f"{k} has {len(sa[k])} vs {len(sb[k])} steps" for k in sorted(sa)
                                      if len(sa[k]) != len(sb[k]))
    if all(np.array_equal(sa[k], sb[k], equal_nan=True) for k in sa):
        return f"identical ({len(next(iter(sa.values())))} steps)"
    k = "loss" if "loss" in sa and not np.array_equal(sa["loss"], sb["loss"], equal_nan=True) else "grad_norm"
    d = np.abs(sa[k].astype(float) - sb[k].astype(float))
    first = int(np.flatnonzero(~((sa[k] == sb[k]) | (np.isnan(sa[k]) & np.isnan(sb[k]))))[0])
    return f"differ from step {first}: max |Δ {k}| = {np.nanmax(d):.3g}"


def same_run_table(tiers):
    """Runs trained more than once: one run id (its resolved config and threads) trained by two run folders - two
    sweeps, or one sweep's pair re-run on another machine - not copied (scripts/share_runs.py). None if there is
    none. Same seed, threads and recipe should give the same training bit for bit on one ISA (docs/sweeps.md)."""
    by_id = defaultdict(dict)
    for td in tiers:
        for r in td.runs:
            if r.id:
                by_id[r.id].setdefault(exec_folder(r) or r.record, r)  # one record per training

    def where(r):
        return (f"`{r.record}`: {text(r.attrs.get('cpu_model', '?'))} ({text(r.attrs.get('isa', '?'))}), "
                f"{text(r.attrs.get('git_commit', ''))[:10]}")

    rows = []
    for rid, trained in sorted(by_id.items(), key=lambda t: sorted(r.record for r in t[1].values())):
        first, *others = sorted(trained.values(), key=lambda r: r.record)
        rows += [[rid[:8], f"{first.model}, seed {first.attrs.get('seed')}, {first.attrs.get('threads')} thread(s)",
                  where(first), where(r), steps_comparison(first, r), f"{first.test_top1:.2f} / {r.test_top1:.2f}"]
                 for r in others]
    if not rows:
        return None
    return Table("same_run_twice", "Runs trained twice (one run id, two trainings): the per-step training loss and "
                 "gradient norm compared bit for bit", ["run id", "run", "trained (1)", "trained (2)",
                                                        "per-step loss and gradient norm", "test top-1 (1 / 2)"],
                 "lllllr", rows)


def write_readme(path, tiers, what_ran, analyses, tables, verdicts, figures, mixed, git, compute_notes, rf_sections,
                 tp_sections=(), curve_figures=None, same_run=None):
    """docs/results/README.md."""
    hours = [own_hours(td, {t.sweep for t in tiers}) for td in tiers]
    total_h, total_m = sum(h for h, _ in hours), sum(m for _, m in hours)
    L = ["# Results of the experiment sweeps", "",
         "Generated by `scripts/report.py` from `results/sweeps/` (`cmake --build --preset release --target "
         "report`); do not edit by hand. How the statistics and the verdicts are computed: "
         "[docs/statistics.md](../statistics.md). Tables as LaTeX (booktabs): `tables/`; one row per run: "
         "[runs.csv](runs.csv).", ""]
    if not what_ran.rows:
        L += ["No sweep results yet (`results/sweeps/<sweep>/<tier>/` is empty or absent).", ""]
    L += ["## What ran", "",
          "Each sweep is summarised from its highest tier with finished runs (full > standard > quick > smoke), "
          f"marked *(used)*. Core-hours = the sum over runs of `run_wall_s` x threads (a sweep's parallel jobs run on "
          "disjoint cores; `run_wall_s` counts a resumed run's earlier sessions up to their last checkpoint; a record "
          "that predates `sessions` holds the last session only, so max(`run_wall_s`, `train_wall_s`) stands in); "
          "machine-hours = a run's core-hours / the logical CPUs of its machine (the record's "
          f"`cpu_cores`; {MACHINE_CORES}, as on the machines of the first sweeps, for records that predate it), the time "
          f"the machine was busy: {total_h:.2f} core-hours, {total_m:.2f} machine-hours in all. A run that "
          "is the same run in two sweeps (the same run id at the same commit, e.g. a full-data arm of data_scaling "
          "as the reference arm of a position-encoding ablation; docs/sweeps.md) is trained once: it counts in both "
          "sweeps' results (\"k from <sweep>\") and in the hours of the sweep that trained it.", ""]
    if what_ran.rows:
        L += [what_ran.markdown()]
    L += ["## Verdicts", "", verdicts.markdown()]
    for sweep in analyses:  # claims.SWEEPS order
        an = analyses[sweep]
        title = sweep + (f" {DAGGER}" if (sweep, an.data.tier) in mixed else "")
        desc = an.data.meta.get("description") or C.SWEEPS[sweep][1]
        L += [f"## {title}", "", f"{desc.rstrip('.')}.", "",
              f"Tier **{an.data.tier}**, " + ("" if sweep == C.LR_PROBE else f"reference arm `{an.reference}`, ")
              + f"{len(an.data.runs)} of {an.data.planned} "
              f"planned runs finished; data: {datasets(an.data)}.", ""]
        if kinds_note(an.data):
            L += [kinds_note(an.data), ""]
        for t in tables[sweep]:
            L += [t.markdown()]
        for fig in figures.get(sweep, []):
            L += [f"![{sweep}](figures/{fig})", ""]
        if sweep in compute_notes:
            L += [compute_notes[sweep], ""]
        if sweep in (curve_figures or {}):
            L += ["Learning curves: validation top-1 (solid: mean over seeds; band: lowest to highest seed) and "
                  "training top-1 on the augmented batches (dotted) at each evaluation; below, the training loss "
                  f"(label smoothing included; moving average over {CURVE_SMOOTH} steps, mean over seeds).", "",
                  f"![{sweep} learning curves](figures/{curve_figures[sweep]})", ""]
        L += rf_sections.get(sweep, [])
    L += list(tp_sections)
    if same_run is not None:
        L += ["## Runs trained twice", "",
              "A run's id is a hash of its resolved config and threads (docs/sweeps.md), so a run trained by two run "
              "folders - two sweeps that plan it, or a pair re-run whole on another machine - checks reproducibility: "
              "the same seed, threads and recipe on one ISA should give the same training bit for bit, whatever the "
              "CPU model. Records copied from the sweep that trained them (scripts/share_runs.py) are one training "
              "and are not listed.", "", same_run.markdown()]
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
    notes += [f"- {td.folder}: rf step result missing: `{name}`" for td in tiers for name in td.rf_missing]
    notes += [f"- {an.data.folder}: duplicate record for a pair, left out: `{p}`" for an in analyses.values()
              for p in an.duplicates]
    known_ids = {c.id for c in C.CLAIMS} | {r.id for r in C.BF16_RULES}
    notes += [f"- {td.folder}: sweep.json names claim `{c}`, which scripts/claims.py does not define"
              for td in tiers for c in td.meta.get("claims", []) if c not in known_ids]
    if notes:
        L += ["Notes:", ""] + notes + [""]
    with open(path, "w") as f:
        f.write("\n".join(L).rstrip("\n") + "\n")


# ---- main ---------------------------------------------------------------------------------------------------------

def build(results_dir, out, strict=False, repo=REPO_ROOT, vitbench=None, throughput_doc=None):
    """Read results_dir, write the report into out (and the throughput sweeps' tables into throughput_doc's marked
    block, if given); returns a list of error strings (non-empty only if strict and some record is flagged: then
    nothing is written)."""
    known, other = discover(results_dir)
    shown = lambda path: display_path(path, results_dir)  # noqa: E731
    tp_used, tp_read = RT.discover(results_dir, shown)  # throughput sweeps (kind = throughput): their own section
    other = [o for o in other if not RT.is_throughput(os.path.join(results_dir, "sweeps", o[0], o[1]))]
    tiers = [load_tier(folder, sweep, tier, results_dir)  # claims.SWEEPS order, then tiers from low to high
             for sweep in C.SWEEPS if sweep in known
             for tier, folder in sorted(known[sweep].items(), key=lambda t: TIERS.index(t[0]))]
    git = GitAncestry(repo)
    mixed = flag_runs(tiers + tp_read, git)
    if strict:
        errors = [f"{r.record}: {f}" for td in tiers + tp_read for r in td.runs for f in r.flags]
        errors += [f"{s}/{t}: runs on more than one ISA ({', '.join(sorted(c))})"
                   for (s, t), c in sorted(mixed.items())]
        if git.unavailable and any(td.runs for td in tiers + tp_read):
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
                               unit="points" if c.effect == C.GAP_SLOPE else "seeds", against=c.threshold)
               for c in C.CLAIMS}

    os.makedirs(os.path.join(out, "tables"), exist_ok=True)
    os.makedirs(os.path.join(out, "figures"), exist_ok=True)
    macs = MacsLookup(vitbench if vitbench is not None else os.path.join(repo, "build", "release", "vitbench"))
    tables, figures, compute_notes, written, curve_figures = {}, defaultdict(list), {}, set(), {}
    verdicts = verdict_table(analyses, results)
    same_run = same_run_table([td for td in tiers if td.runs])
    what_ran = what_ran_table(tiers + tp_read, {**used, **tp_used}, other)
    tp_tables = {sweep: Table(f"{sweep}_{td.tier}", RT.caption(td), RT.header(td), RT.align(td), RT.rows(td, DAGGER),
                              RT.notes(td)) for sweep, td in tp_used.items()}
    tp_relative = {sweep: t for sweep, td in tp_used.items() if (t := relative_speed_table(td)) is not None}
    tp_sections = []
    for sweep, td in tp_used.items():
        path = RT.figure(td, plt, save, os.path.join(out, "figures"))
        if path:
            written.add(path)
        tp_sections += throughput_section(td, tp_tables[sweep], path, mixed, tp_relative.get(sweep))
    rf_tables, rf_sections = {}, {}
    for sweep, an in analyses.items():
        tables[sweep] = sweep_tables(an, tp_used)
        rf_tables[sweep] = [rf_table(an, ra) for ra in an.rf.values()]
        rf_figures = [fig(an, os.path.join(out, "figures")) for fig in (fig_rf_erf, fig_rf_attention)] if an.rf else []
        rf_figures = [path for path in rf_figures if path]
        written.update(rf_figures)
        rf_sections[sweep] = rf_section(an, rf_tables[sweep], [os.path.basename(p) for p in rf_figures])
        if sweep == C.LR_PROBE:
            tables[sweep] = [lr_table(an, analyses)]
            path = fig_lr(an, os.path.join(out, "figures"))
        elif an.scaling:
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
        if sweep != C.LR_PROBE and (path := fig_curves(an, os.path.join(out, "figures"))):
            curve_figures[sweep] = os.path.basename(path)
            written.add(path)
    for t in [what_ran, verdicts] + ([same_run] if same_run else []) + \
            [t for ts in list(tables.values()) + list(rf_tables.values()) for t in ts] + \
            list(tp_tables.values()) + list(tp_relative.values()):
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
    with open(os.path.join(out, "throughput_runs.csv"), "w") as f:
        f.write(throughput_csv_text(tp_read))
    write_readme(os.path.join(out, "README.md"), tiers + tp_read, what_ran, analyses, tables, verdicts, figures, mixed,
                 git, compute_notes, rf_sections, tp_sections, curve_figures, same_run)
    if throughput_doc and tp_used:
        RT.update_doc(throughput_doc, RT.doc_block(
            tp_used.values(), lambda td: tp_tables[td.sweep].markdown(),
            lambda td: tp_relative[td.sweep].markdown() if td.sweep in tp_relative else ""))
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
    ap.add_argument("--throughput-doc", default=None,
                    help="also write the throughput sweeps' tables between the throughput-table markers of this file "
                         "(the report target: docs/throughput.md)")
    args = ap.parse_args(argv)
    errors = build(args.results, args.out, args.strict, args.repo, args.vitbench, args.throughput_doc)
    if errors:
        print("report.py: --strict: refusing these records:\n  " + "\n  ".join(errors), file=sys.stderr)
        return 1
    print(f"report.py: wrote {os.path.join(args.out, 'README.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
