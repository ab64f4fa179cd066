#!/usr/bin/env bash
# Runs shared between sweeps (scripts/share_runs.py, docs/sweeps.md): a line of sweep B with the id of a finished
# line of sweep A (the same config and threads, planned at the same commit) takes A's record, byte for byte, and
# `sweep run` trains only B's other line; a plan with other threads (other ids) or of another commit, or a machine of
# another CPU kind (paired arms run on one kind), takes nothing.
# usage: share_runs.sh <vitbench>
set -euo pipefail
vitbench=$1
share=$(cd "$(dirname "$0")/../.." && pwd)/scripts/share_runs.py
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sweep_file() {  # name, second arm's overrides
  bash "$(dirname "$0")/two_arm_sweep.sh" "$dir/$1.json" "$1" "[0]" "$2"
}
sweep_file share_a pos_embed=none
sweep_file share_b pos_embed=learned_2d
results=$dir/results/sweeps
"$vitbench" --threads 2 sweep plan "$dir/share_a.json" --tier smoke --out "$dir/a" --allow-dirty
"$vitbench" sweep run "$dir/a" --quiet --collect "$results/share_a/smoke"

"$vitbench" --threads 2 sweep plan "$dir/share_b.json" --tier smoke --out "$dir/b" --allow-dirty
isa=$("$vitbench" info --capabilities | awk '$1 == "isa" {print $2}')
"$vitbench" --threads 2 sweep plan "$dir/share_b.json" --tier smoke --out "$dir/b_other_kind" --allow-dirty
/usr/bin/python3 "$share" "$dir/b_other_kind" --results "$results" --allow-dirty --isa not_$isa | tee "$dir/log"
grep -q "not taken from share_a/ref-seed0-.*: trained on $isa on .*, this machine is not_$isa on" "$dir/log"
"$vitbench" sweep status "$dir/b_other_kind" | grep -q "0 complete"
/usr/bin/python3 "$share" "$dir/b" --results "$results" --allow-dirty --isa "$isa" | tee "$dir/log"
grep -q "ref-seed0-.*: the same run as share_a/ref-seed0-" "$dir/log" || { echo "share_runs: nothing shared"; exit 1; }
"$vitbench" sweep status "$dir/b" | tee "$dir/status"
grep -q "2 runs: 1 complete, 0 interrupted, 0 failed, 1 pending" "$dir/status"
# The time left at the pace the finished (shared) run measured, per model.
grep -Eq "at the pace of the 1 finished runs \(measured / planned: vit_tiny_patch4_32 [0-9]+\.[0-9]{2}x\)" "$dir/status" ||
  { echo "share_runs: no pace in the status"; exit 1; }
"$vitbench" sweep run "$dir/b" --quiet 2> "$dir/run.err"
# The run's start line quotes the plan's estimate and the pace of the finished (shared) run.
grep -Eq "other-seed0-.*: starting \(estimated [0-9.]+ min by the plan; about [0-9.]+ at the pace of the finished runs\)" "$dir/run.err" ||
  { cat "$dir/run.err"; echo "share_runs: no paced estimate on the start line"; exit 1; }
ref_a=$(ls "$results"/share_a/smoke/ref-seed0-*.h5)
ref_b=$(ls -d "$dir"/b/ref-seed0-*)
cmp "$ref_a" "$ref_b/record.h5" || { echo "share_runs: the shared record is not A's"; exit 1; }
[[ ! -e $ref_b/checkpoint.h5 ]] || { echo "share_runs: the shared line was trained again"; exit 1; }
[[ -f $(ls -d "$dir"/b/other-seed0-*)/record.h5 ]]
[[ -z $(/usr/bin/python3 "$share" "$dir/b" --results "$results" --allow-dirty) ]]  # nothing left to share

"$vitbench" --threads 1 sweep plan "$dir/share_b.json" --tier smoke --out "$dir/b1" --allow-dirty
[[ -z $(/usr/bin/python3 "$share" "$dir/b1" --results "$results" --allow-dirty) ]]  # other threads, other ids
"$vitbench" --threads 2 sweep plan "$dir/share_b.json" --tier smoke --out "$dir/b2" --allow-dirty
/usr/bin/python3 - "$dir/b2/sweep.json" <<'PY'
import json, sys
meta = json.load(open(sys.argv[1]))
meta["commit"] = "0" * 40  # planned at another commit than share_a's records
json.dump(meta, open(sys.argv[1], "w"))
PY
[[ -z $(/usr/bin/python3 "$share" "$dir/b2" --results "$results" --allow-dirty) ]]
"$vitbench" sweep status "$dir/b2" | grep -q "0 complete"
if /usr/bin/python3 "$share" "$dir/missing" 2> "$dir/err"; then echo "share_runs: an unplanned folder taken"; exit 1; fi
grep -q "share_runs.py: $dir/missing: no sweep.jsonl (plan the sweep first)" "$dir/err"
echo "share_runs: the same run is taken from the other sweep, byte for byte, and only then"
