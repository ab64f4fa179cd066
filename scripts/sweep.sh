#!/usr/bin/env bash
# Runs one tier of a sweep (docs/sweeps.md) with a vitbench built from a clean checkout of one commit on main:
# the commit the sweep was planned with if its manifest exists, else HEAD. The checkout and its build live in
# build/sweep-bin/<commit>/ (a git worktree; built once). Finished records are copied to results/sweeps/<name>/<tier>/
# as each run ends, so an interrupted sweep resumes anywhere (commit them).
# usage: scripts/sweep.sh experiments/sweeps/<name>.json <smoke|quick|standard|full> [--threads N] [--jobs J]
#                        [--retry-failed] [--extend] [--index LINES]
# --threads: each run's threads when planning (fixed by the plan: part of every run's id); --jobs: runs at once
# (training sweeps; default nproc / the plan's threads, e.g. 2 for a 1-thread plan on 2 cores); --extend: add the
# runs the edited sweep file plans beyond the planned manifest (e.g. more seeds; scripts/extend_plan.py checks that
# every planned line stays as it is); --index: run only these manifest lines, e.g. 12-19 (`sweep run --index`).
set -euo pipefail
cd "$(dirname "$0")/.."
sweep=${1:?usage: scripts/sweep.sh <sweep file> <tier> [--threads N] [--jobs J] [--retry-failed] [--extend] [--index LINES]}
tier=${2:?tier: smoke, quick, standard or full}
shift 2
threads=$(nproc) jobs=() retry=() extend=0 lines=()
while (($#)); do
  case $1 in
    --threads) threads=$2; shift 2 ;;
    --jobs) jobs=(--jobs "$2"); shift 2 ;;
    --retry-failed) retry=(--retry-failed); shift ;;
    --extend) extend=1; shift ;;
    --index) lines=(--index "$2"); shift 2 ;;
    *) echo "sweep.sh: unknown option $1"; exit 2 ;;
  esac
done
[[ -f $sweep ]] || { echo "sweep.sh: $sweep: no such sweep file"; exit 1; }
name=$(basename "$sweep" .json)
plan_field() {  # plan_field <sweep.json> <key> [default]: one field of a plan's sweep.json
  /usr/bin/python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(m[sys.argv[2]] if len(sys.argv) < 4
else m.get(sys.argv[2], sys.argv[3]))" "$@"
}
dir=runs/sweeps/$name/$tier
results=results/sweeps/$name/$tier

# On another machine (runs/ is not committed): the committed manifest and finished records in results/ restore the
# sweep folder, so the sweep resumes with its planned commit and does not run a finished run again.
if [[ ! -f $dir/sweep.jsonl && -f $results/sweep.jsonl ]]; then
  echo "sweep.sh: restoring $dir from the committed $results"
  /usr/bin/python3 - "$results" "$dir" <<'PY'
import json, shutil, sys
from pathlib import Path
res, run = Path(sys.argv[1]), Path(sys.argv[2])
run.mkdir(parents=True, exist_ok=True)
for f in ("sweep.json", "sweep.jsonl"):
    shutil.copy2(res / f, run / f)
for line in (res / "sweep.jsonl").read_text().splitlines():
    name = json.loads(line)["name"]
    for src, dst in ((".h5", "record.h5"), (".rf.h5", "rf.h5"), (".rf_init.h5", "rf_init.h5")):
        if (res / (name + src)).exists():
            (run / name).mkdir(exist_ok=True)
            shutil.copy2(res / (name + src), run / name / dst)
PY
fi
if [[ -f $dir/sweep.json ]]; then
  commit=$(plan_field "$dir/sweep.json" commit)
else
  commit=$(git rev-parse HEAD)
fi
git merge-base --is-ancestor "$commit" main \
  || { echo "sweep.sh: commit $commit is not on main: sweeps run only committed code on main"; exit 1; }

bin_root=build/sweep-bin/${commit:0:12}
vitbench=$bin_root/build/vitbench
if [[ ! -x $vitbench ]]; then
  echo "sweep.sh: building vitbench at ${commit:0:12} in $bin_root (a clean checkout; once per commit)"
  git worktree prune  # forget checkouts whose folder is gone (e.g. a cleaned build/)
  [[ -d $bin_root/src ]] || git worktree add --detach "$bin_root/src" "$commit" >/dev/null
  cmake -S "$bin_root/src" -B "$bin_root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$bin_root/build" --target vitbench
fi

if [[ ! -f $dir/sweep.jsonl ]]; then
  "$vitbench" --threads "$threads" sweep plan "$sweep" --tier "$tier" --out "$dir"
elif ((extend)); then  # plan the edited sweep file anew with the plan's binary and threads; keep every planned line
  planned_threads=$(plan_field "$dir/sweep.json" threads)
  rm -rf "$dir.extend"
  "$vitbench" --threads "$planned_threads" sweep plan "$sweep" --tier "$tier" --out "$dir.extend"
  /usr/bin/python3 scripts/extend_plan.py "$dir" "$dir.extend" --results "$results" || { rm -rf "$dir.extend"; exit 1; }
  rm -rf "$dir.extend"
fi
if [[ $(plan_field "$dir/sweep.json" plan_only False) == True ]]; then
  echo "sweep.sh: tier $tier of $name is planned, not run here (a cluster recipe): $dir/sweep.jsonl"
  mkdir -p "$results" && cp "$dir/sweep.json" "$dir/sweep.jsonl" "$results/"
  exit 0
fi
# Fill the cores: a training sweep planned with fewer threads than the machine has runs nproc / threads lines at once
# unless --jobs says otherwise. Binaries from 24532dc on do that themselves; a sweep pinned to an older commit gets it
# here (binaries older than --jobs run one at a time; a throughput sweep always does).
if ((${#jobs[@]} == 0)) \
  && [[ $(plan_field "$dir/sweep.json" kind train) == train ]] \
  && "$vitbench" sweep run --help 2>&1 | grep -q -- --jobs; then
  per_run=$(plan_field "$dir/sweep.json" threads)
  ((per_run > 0 && $(nproc) / per_run > 1)) && jobs=(--jobs $(($(nproc) / per_run)))
fi
# A line that is the same run as a finished line of another sweep (the same id at the same commit: e.g.
# pe_ablation_vit's learned_1d arm is data_scaling's full-data vit arm), trained on this CPU kind, takes that record
# instead of training again.
/usr/bin/python3 scripts/share_runs.py "$dir" --results results/sweeps \
  --isa "$("$vitbench" info --capabilities | awk '$1 == "isa" {print $2}')"
if ((${#lines[@]})) && ! "$vitbench" sweep run --help 2>&1 | grep -q -- --index; then
  echo "sweep.sh: --index: this sweep's binary (${commit:0:12}) predates \`sweep run --index\`; run single lines with"
  echo "  $vitbench sweep exec $dir --index N  (then copy <run>/record.h5 to $results/<run>.h5)"
  exit 2
fi
"$vitbench" sweep run "$dir" --collect "$results" "${jobs[@]}" "${retry[@]}" "${lines[@]}"
