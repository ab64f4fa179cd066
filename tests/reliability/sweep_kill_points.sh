#!/usr/bin/env bash
# kill_points.sh for a sweep: `sweep run` with VITBENCH_KILL_AT_WRITE=n (inherited by every run it starts, so
# each run is SIGKILLed halfway through its n-th file write), then `sweep run` again until every run is complete;
# for every n, from a fresh plan. Each killed run must resume (never fail with an error), and each final record
# must equal the uninterrupted sweep's in every field but the timing ones (compare_records.py names them).
# usage: sweep_kill_points.sh <vitbench> [short|full]   short: n = 2 and the last write; full: every n (>= 30 kills).
set -euo pipefail
vitbench=$1
mode=${2:-full}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# Five tiny ViT runs of 8 steps, evaluated every 2: 6 file writes each (best.h5, 4 checkpoints, the record).
cat > "$dir/sweep.json" <<'JSON'
{"sweep": "kill_points",
 "arms": [{"name": "a"}, {"name": "b", "overrides": ["pos_embed=none"]}, {"name": "c", "overrides": ["depth=2"]},
          {"name": "d", "set": {"mixup": 0.2}}, {"name": "e", "set": {"lr": 0.002}}],
 "axes": {"seed": [0]}, "tiers": {"smoke": {}},
 "base": {"model": "vit_tiny_patch4_32", "overrides": ["img_size=16", "depth=1"],
          "dataset": "synthetic:train=256,test=32,classes=4,size=16", "val_size": 32, "batch": 32, "eval_batch": 32,
          "steps": 8, "eval_every": 2, "warmup_steps": 1, "drop_path": 0.1, "test_every_epoch": false},
 "seconds_per_step": {"vit_tiny_patch4_32": {"seconds": 0.01, "batch": 32}}}
JSON
plan() { "$vitbench" --threads 2 sweep plan "$dir/sweep.json" --tier smoke --out "$1" --allow-dirty > /dev/null; }

# The uninterrupted reference, counting each run's file writes (the log's first column restarts at 1 per process).
plan "$dir/whole"
VITBENCH_KILL_AT_WRITE_LOG="$dir/writes" "$vitbench" sweep run "$dir/whole" --quiet > "$dir/log" 2>&1 \
  || { echo "FAIL: the uninterrupted sweep failed"; cat "$dir/log"; exit 1; }
writes=$(sort -n "$dir/writes" | tail -1 | cut -d' ' -f1)
runs=$(wc -l < "$dir/whole/sweep.jsonl")
if [[ $mode == short ]]; then points=(2 "$writes"); else points=($(seq 1 "$writes")); fi

kills=0 attempts=0
for n in "${points[@]}"; do
  rm -rf "$dir/killed"
  plan "$dir/killed"
  rc=0
  VITBENCH_KILL_AT_WRITE=$n "$vitbench" sweep run "$dir/killed" --quiet > "$dir/log" 2>&1 || rc=$?
  killed=$(grep -c "FAILED after .* (signal 9)" "$dir/log" || true)
  kills=$((kills + killed))
  # A run that ended otherwise than complete or killed (an error on resume, a refusal) is a finding.
  if grep "FAILED after" "$dir/log" | grep -v "(signal 9)"; then echo "FAIL (n=$n): a run failed:"; cat "$dir/log"; exit 1; fi
  ((killed == runs)) || { echo "FAIL (n=$n): $killed of $runs runs were killed"; cat "$dir/log"; exit 1; }
  # Resumed, each run from its last complete checkpoint (or from the start when the kill came before one).
  for ((i = 0; i < 3; ++i)); do
    attempts=$((attempts + 1))
    "$vitbench" sweep run "$dir/killed" --quiet > "$dir/log" 2>&1 && break
  done
  grep -q "$runs complete, 0 interrupted, 0 failed" "$dir/log" || { echo "FAIL (n=$n): not finished"; cat "$dir/log"; exit 1; }
  for run in $(cd "$dir/whole" && ls -d */); do
    /usr/bin/python3 "$here/compare_records.py" "$dir/whole/${run}record.h5" "$dir/killed/${run}record.h5" > /dev/null \
      || { echo "FAIL (n=$n): ${run%/} differs from the uninterrupted run"; \
           /usr/bin/python3 "$here/compare_records.py" "$dir/whole/${run}record.h5" "$dir/killed/${run}record.h5"; exit 1; }
  done
  echo "n=$n: $killed runs killed at their write $n, resumed, records equal (timing fields aside)"
done
echo "sweep_kill_points: $kills kills at ${#points[@]} write indices ($runs runs x $writes writes each), every run resumed, every record equal"
