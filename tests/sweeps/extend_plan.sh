#!/usr/bin/env bash
# Adding seeds to a planned tier (scripts/extend_plan.py, docs/sweeps.md): a fresh plan of the edited sweep file that
# keeps every planned line replaces the manifest (and its committed copy), finished runs stay finished and only the
# new lines run; a plan that changes a planned line, reorders lines, or has other threads is refused, naming why,
# and leaves the manifest as it was. usage: extend_plan.sh <vitbench>
set -euo pipefail
vitbench=$1
extend=$(cd "$(dirname "$0")/../.." && pwd)/scripts/extend_plan.py
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sweep_file() {  # seeds (JSON list), second arm's overrides
  bash "$(dirname "$0")/two_arm_sweep.sh" "$dir/grow.json" grow "$1" "$2"
}
refused() {  # new plan folder, expected reason (regex): the extension is refused and the manifest stays
  local before
  before=$(cat "$dir/a/sweep.jsonl")
  if /usr/bin/python3 "$extend" "$dir/a" "$1" --results "$dir/res" 2> "$dir/err"; then
    echo "extend_plan: $1 was taken"; exit 1
  fi
  grep -Eq "$2" "$dir/err" || { echo "extend_plan: unexpected message:"; cat "$dir/err"; exit 1; }
  [[ $(cat "$dir/a/sweep.jsonl") == "$before" ]] || { echo "extend_plan: a refused plan changed the manifest"; exit 1; }
}
sweep_file "[0]" pos_embed=none
"$vitbench" --threads 2 sweep plan "$dir/grow.json" --tier smoke --out "$dir/a" --allow-dirty
"$vitbench" sweep run "$dir/a" --quiet --collect "$dir/res"
planned=$(cat "$dir/a/sweep.jsonl")

sweep_file "[0, 1]" pos_embed=none  # one more seed: two lines appended
"$vitbench" --threads 2 sweep plan "$dir/grow.json" --tier smoke --out "$dir/more" --allow-dirty
"$vitbench" --threads 1 sweep plan "$dir/grow.json" --tier smoke --out "$dir/threads1" --allow-dirty
refused "$dir/threads1" "threads differs"
sweep_file "[1, 0]" pos_embed=none  # the new seed first: the planned lines would change index
"$vitbench" --threads 2 sweep plan "$dir/grow.json" --tier smoke --out "$dir/reordered" --allow-dirty
refused "$dir/reordered" "line 0 .* changed \(index\)"
sweep_file "[0, 1]" pos_embed=learned_2d  # a planned arm's recipe changed: its lines are not in the new plan
"$vitbench" --threads 2 sweep plan "$dir/grow.json" --tier smoke --out "$dir/changed" --allow-dirty
refused "$dir/changed" "line 1 .* is not in the new plan"

/usr/bin/python3 "$extend" "$dir/a" "$dir/more" --results "$dir/res"
[[ $(head -2 "$dir/a/sweep.jsonl") == "$planned" ]] || { echo "extend_plan: the planned lines changed"; exit 1; }
cmp "$dir/a/sweep.jsonl" "$dir/res/sweep.jsonl"
"$vitbench" sweep status "$dir/a" | tee "$dir/status"
grep -q "4 runs: 2 complete, 0 interrupted, 0 failed, 2 pending" "$dir/status"
"$vitbench" sweep run "$dir/a" --quiet --collect "$dir/res"
[[ $(ls "$dir"/res/*.h5 | wc -l) == 4 ]]
refused "$dir/more" "adds no run"
if /usr/bin/python3 "$extend" "$dir/a" "$dir/missing" 2> "$dir/err"; then echo "extend_plan: no plan taken"; exit 1; fi
grep -q "extend_plan.py: $dir/missing: no sweep.json / sweep.jsonl" "$dir/err"
echo "extend_plan: the tier grew by one seed, its finished runs kept; bad extensions refused"
