#!/usr/bin/python3
"""Runs shared between sweeps (docs/sweeps.md): a line of one sweep whose run id (a hash of its resolved config and
threads) is the id of a finished line of another sweep of the same tier, planned at the same commit, is the same run:
pe_ablation_vit's learned_1d arm is data_scaling's full-data vit arm, pe_ablation_tnt's both arm its tnt arm. This
copies the other sweep's finished record (and rf results, when this line plans an rf step) into the run folder, so
`vitbench sweep run` counts the line as complete instead of training it again; the record keeps its own provenance
(its `command` names the sweep folder that trained it, which is how the report tells shared runs apart).

A line is left alone when its folder already has a record, a checkpoint or a failed.json (its own run decides), and
a match is refused when the other record is not complete, comes from another commit or a modified tree (unless
--allow-dirty, for development), lacks rf results this line needs, or (with --isa) ran on another CPU kind than this
machine: paired arms run on one CPU kind, so on another kind the line trains here, with its pair. Copies go through
a temporary name and a rename, rf results first, so a killed copy never leaves a record that looks complete.

usage: share_runs.py <sweep run folder> [--results results/sweeps] [--isa ISA] [--allow-dirty]
"""
import argparse
import sys
from pathlib import Path

import h5py

from sweep_folder import copy_atomically, load_plan

RF_FILES = ((".rf.h5", "rf.h5"), (".rf_init.h5", "rf_init.h5"))


def cpu_model():
    """This machine's CPU model as vitbench records it (/proc/cpuinfo's first `model name`)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and ":" in line:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def record_problem(path, commit, allow_dirty, kind=None):
    """Why the record at `path` cannot stand for a line planned at `commit` and run on `kind` ("ISA on CPU model";
    None: any kind), or None when it can."""
    try:
        with h5py.File(path, "r") as f:
            a = f.attrs
            if int(a.get("complete", 0)) != 1:
                return "not complete"
            got = text(a.get("git_commit", ""))
            if got != commit:
                return f"trained at commit {got[:12]}, this sweep is planned at {commit[:12]}"
            if int(a.get("git_dirty", 1)) != 0 and not allow_dirty:
                return "trained from a modified tree"
            theirs = f"{text(a.get('isa', '?'))} on {text(a.get('cpu_model', '?'))}"
            if kind is not None and theirs != kind:
                return f"trained on {theirs}, this machine is {kind} (paired arms run on one CPU kind)"
    except (OSError, KeyError, ValueError) as e:
        return f"unreadable ({e})"
    return None


def candidates(results, meta):
    """id -> [(other sweep folder, its line)] over the other sweeps of the same tier planned at the same commit."""
    out = {}
    for jsonl in sorted(results.glob(f"*/{meta['tier']}/sweep.jsonl")):
        folder = jsonl.parent
        try:
            other, lines = load_plan(folder)
        except (OSError, ValueError):
            continue
        if other.get("sweep") == meta["sweep"] or other.get("commit") != meta["commit"]:
            continue
        for line in lines:
            out.setdefault(line["id"], []).append((folder, line))
    return out


def share(folder, results, allow_dirty, kind=None):
    """Copy the shared runs into `folder`; returns the number copied. Prints one line per line shared or refused.
    kind: this machine's "ISA on CPU model" (None: records of any kind are taken)."""
    meta, lines = load_plan(folder)
    if meta.get("kind", "train") != "train" or (meta.get("dirty") and not allow_dirty):
        return 0  # throughput measurements are taken on their own machine time, never borrowed
    found = candidates(results, meta)
    shared = 0
    for line in lines:
        out = folder / line["output"]
        if any((out / f).exists() for f in ("record.h5", "checkpoint.h5", "failed.json")):
            continue
        for other_folder, other in found.get(line["id"], []):
            record = other_folder / f"{other['name']}.h5"
            if not record.exists():
                continue
            where = f"{other_folder.parent.name}/{other['name']}"
            why = record_problem(record, meta["commit"], allow_dirty, kind)
            rf = [(other_folder / f"{other['name']}{src}", out / dst) for src, dst in RF_FILES if line.get("rf")]
            if why is None and rf and (other.get("rf") != line["rf"] or not all(s.exists() for s, _ in rf)):
                why = "its rf step differs or its rf results are missing"
            if why is not None:
                print(f"share_runs: {line['name']}: not taken from {where}: {why}")
                continue
            out.mkdir(parents=True, exist_ok=True)
            for src, dst in rf:
                copy_atomically(src, dst)
            copy_atomically(record, out / "record.h5")  # last: the record marks the run complete
            print(f"share_runs: {line['name']}: the same run as {where} (id {line['id']}), its record taken")
            shared += 1
            break
    return shared


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="a planned sweep folder (runs/sweeps/<sweep>/<tier>)")
    ap.add_argument("--results", type=Path, default=Path("results/sweeps"),
                    help="where finished sweeps' records are collected (default: results/sweeps)")
    ap.add_argument("--isa", help="the ISA oneDNN dispatches to on the machine that will run the sweep (`vitbench "
                    "info --capabilities`): take records of this CPU kind only (that ISA and this /proc/cpuinfo model)")
    ap.add_argument("--allow-dirty", action="store_true", help="share records of a modified tree (development)")
    args = ap.parse_args()
    if not (args.folder / "sweep.jsonl").exists():
        sys.exit(f"share_runs.py: {args.folder}: no sweep.jsonl (plan the sweep first)")
    share(args.folder, args.results, args.allow_dirty, f"{args.isa} on {cpu_model()}" if args.isa else None)


if __name__ == "__main__":
    main()
