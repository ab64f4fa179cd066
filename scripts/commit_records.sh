#!/usr/bin/env bash
# Commits each finished run record of running sweeps as it is collected (docs/sweeps.md, "Across sessions and
# machines"): every INTERVAL seconds, for each results/sweeps/<sweep>/<tier>/ given, new record files (with their rf
# files) are committed together with the regenerated report (scripts/report.py -> docs/results/ and the throughput
# tables of docs/throughput.md), and the manifest of a sweep planned or extended meanwhile with its next record, so
# a sweep stopped at any moment resumes on another machine from what is on main.
# Commits only those paths; other changes in the tree stay uncommitted. Runs until killed.
# usage: scripts/commit_records.sh [--interval S] <sweep>/<tier> ...   e.g. data_scaling/standard pe_ablation_tnt/standard
set -euo pipefail
cd "$(dirname "$0")/.."
interval=60
if [[ ${1:-} == --interval ]]; then interval=$2; shift 2; fi
(($#)) || { echo "usage: scripts/commit_records.sh [--interval S] <sweep>/<tier> ..."; exit 2; }
for st in "$@"; do
  [[ $st == */* && -f experiments/sweeps/${st%%/*}.json ]] \
    || { echo "commit_records.sh: $st: not <sweep>/<tier> of a sweep in experiments/sweeps/"; exit 1; }
  [[ -f results/sweeps/$st/sweep.jsonl ]] \
    || echo "commit_records.sh: $st is not planned yet: its records are committed as they appear"
done

untracked_records() { git ls-files --others --exclude-standard "${@/#/results/sweeps/}" | grep '\.h5$' || true; }
# A sweep planned (or extended: scripts/extend_plan.py) while this runs: its manifest goes in with its next record.
new_manifests() {
  git ls-files --others --modified --exclude-standard "${@/#/results/sweeps/}" | grep -E '/sweep\.jsonl?$' || true
}

while true; do
  if [[ -n $(untracked_records "$@") ]]; then
    sleep 20  # a full-data run's rf files land just after its record
    if /usr/bin/python3 scripts/report.py --results results --out docs/results \
      --throughput-doc docs/throughput.md > /tmp/commit_records.report.log 2>&1; then
      # One commit for every new record (the report covers them all): per record its name, test top-1, minutes,
      # CPU and threads; per sweep how many of its planned runs are in and the commit its binary was built from.
      files=$(untracked_records "$@")
      msg=$(/usr/bin/python3 - $files <<'PY'
import json, os, sys
from collections import defaultdict
import h5py
by_dir = defaultdict(list)
for f in sys.argv[1:]:
    by_dir[os.path.dirname(f)].append(f)
heads, lines = [], []
for d, files in sorted(by_dir.items()):
    meta = json.load(open(os.path.join(d, "sweep.json")))
    planned = sum(1 for _ in open(os.path.join(d, "sweep.jsonl")))
    done = sum(f.endswith(".h5") and ".rf" not in f for f in os.listdir(d))
    sweep, tier = d.split("/")[-2:]
    heads.append(f"{sweep} {tier}: {done}/{planned} runs")
    for f in files:
        if ".rf" in f:
            continue
        with h5py.File(f, "r") as h:
            a = h.attrs
            lines.append(f"{sweep}/{os.path.basename(f)[:-3]}: {a['test_top1']:.2f}% test top-1, "
                         f"{a['run_wall_s'] / 60:.1f} min, {a['cpu_model']} ({a['isa']}), {a['threads']} thread(s), "
                         f"clean build of {meta['commit'][:10]}")
print("; ".join(heads) + " (report regenerated)\n\n" + ("\n".join(lines) or "rf results of finished runs"))
PY
)
      git add $files $(new_manifests "$@") docs/results docs/throughput.md
      git commit -q -m "$msg" && echo "$(date -u +%T) $(head -1 <<< "$msg")"
    else
      echo "commit_records.sh: the report failed; nothing committed (/tmp/commit_records.report.log)"
    fi
  fi
  sleep "$interval"
done
