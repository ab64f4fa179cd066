#!/usr/bin/python3
"""Extends a planned sweep tier with more runs (docs/sweeps.md, "Adding seeds to a planned tier"): a manifest is
immutable line by line, but a tier may grow, e.g. more seeds where the verdict rule says they would decide a claim.
`new` is a fresh plan of the edited sweep file (the same sweep, tier, commit, threads and CPU kind, planned by the
same pinned binary into another folder); it must contain every line of the planned folder's manifest unchanged (id,
index, config, output; only the estimated seconds may differ), so every finished, interrupted or failed run keeps its folder and record, and only lines
are added. Then the new sweep.json and sweep.jsonl replace the planned folder's (and the committed copy under
--results), each written to a temporary name and renamed. Anything else is refused, naming the first difference.

usage: extend_plan.py <planned folder> <new plan folder> [--results results/sweeps/<sweep>/<tier>]
"""
import argparse
import sys
from pathlib import Path

from sweep_folder import copy_atomically, load_plan

SAME = ("sweep", "kind", "tier", "commit", "dirty", "threads", "isa")  # sweep.json fields an extension keeps
TIMING = ("est_seconds",)  # manifest fields that are estimates, not the run (a re-measured seconds_per_step)


def problem(old_dir, new_dir):
    """Why the plan in new_dir does not extend the one in old_dir (None when it does)."""
    (old_meta, old), (new_meta, new) = load_plan(old_dir), load_plan(new_dir)
    for k in SAME:
        if old_meta.get(k) != new_meta.get(k):
            return (f"{k} differs: {old_meta.get(k)!r} planned, {new_meta.get(k)!r} now (an extension is planned by "
                    "the same binary, with the same threads, on the same CPU kind)")
    if new_meta.get("plan_only"):
        return "the tier is plan_only (a cluster recipe): nothing runs here to extend"
    by_id = {line["id"]: line for line in new}
    for line in old:
        other = by_id.get(line["id"])
        if other is None:
            return (f"line {line['index']} ({line['name']}) is not in the new plan: the edit changed a planned run "
                    "(extend by adding axis values or arms, not by changing the recipe)")
        changed = sorted(k for k in set(line) | set(other) if k not in TIMING and line.get(k) != other.get(k))
        if changed:
            return (f"line {line['index']} ({line['name']}) changed ({', '.join(changed)}): add new values at the end "
                    "of the outermost axis (e.g. seeds after the planned ones) so planned lines keep their index")
    if len(new) == len(old):
        return "the new plan adds no run"
    return None


def install(new_dir, dest):
    """Copy new_dir's manifest into dest: sweep.jsonl first, then sweep.json (whose run count matches it)."""
    for name in ("sweep.jsonl", "sweep.json"):
        copy_atomically(new_dir / name, dest / name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("planned", type=Path, help="the planned sweep folder (runs/sweeps/<sweep>/<tier>)")
    ap.add_argument("new", type=Path, help="a fresh plan of the edited sweep file, in another folder")
    ap.add_argument("--results", type=Path, help="the committed copy of the manifest to update as well")
    args = ap.parse_args()
    for d in (args.planned, args.new):
        if not (d / "sweep.jsonl").exists() or not (d / "sweep.json").exists():
            sys.exit(f"extend_plan.py: {d}: no sweep.json / sweep.jsonl")
    why = problem(args.planned, args.new)
    if why:
        sys.exit(f"extend_plan.py: {args.new / 'sweep.jsonl'} does not extend {args.planned / 'sweep.jsonl'}: {why}")
    old_n, new_n = len(load_plan(args.planned)[1]), len(load_plan(args.new)[1])
    install(args.new, args.planned)
    if args.results is not None:
        args.results.mkdir(parents=True, exist_ok=True)
        install(args.new, args.results)
    print(f"extend_plan.py: {args.planned}: {old_n} -> {new_n} runs (the {old_n} planned lines unchanged)")


if __name__ == "__main__":
    main()
