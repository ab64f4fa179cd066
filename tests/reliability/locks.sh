#!/usr/bin/env bash
# Two processes on one training output folder, on one results file and on one sweep run folder: the second is
# refused with a message naming the holder (pid, host, command); a killed holder's lock file blocks nothing.
# usage: locks.sh <vitbench>
set -euo pipefail
vitbench=$1
dir=$(mktemp -d)
first=
trap '[[ -n $first ]] && { kill -9 -- "-$first" || kill -9 "$first"; } 2>/dev/null; rm -rf "$dir"' EXIT

# Waits for lock file $1 (the first process holds it), failing if process $2 ends first.
wait_lock() {
  for _ in $(seq 1 3000); do
    [[ -s $1 ]] && return 0
    kill -0 "$2" 2>/dev/null || { echo "FAIL: the first process ended before taking $1"; cat "$dir/first.log"; exit 1; }
    sleep 0.01
  done
  echo "FAIL: no lock file $1"; exit 1
}

# Second process: must exit 1 naming the holder's pid and its command.
expect_refused() {
  local what=$1
  shift
  local rc=0
  "$@" > "$dir/second.log" 2>&1 || rc=$?
  if ((rc != 1)) || ! grep -q "is in use by another vitbench process: pid $first on host .*command: .*$what" "$dir/second.log"; then
    echo "FAIL: the second process on $what was not refused as expected (exit $rc):"; cat "$dir/second.log"; exit 1
  fi
  echo "refused: $(tail -1 "$dir/second.log")"
}

train=(train --model vit_tiny_patch4_32 --set img_size=16 depth=2 --dataset synthetic:train=2048,test=32,classes=4,size=16
       --val 32 --batch 32 --epochs 3 -q)
"$vitbench" --threads 1 "${train[@]}" --output "$dir/run" > "$dir/first.log" 2>&1 &
first=$!
wait_lock "$dir/run/.vitbench.lock" $first
expect_refused "$dir/run" "$vitbench" --threads 1 "${train[@]}" --output "$dir/run" --resume
[[ ! -f "$dir/run/record.h5" ]] || { echo "FAIL: the refused process touched the record"; exit 1; }
kill -9 $first; wait $first 2>/dev/null || true
# The kernel dropped the killed holder's lock: its stale lock file does not block the next process, which gets
# past the lock to the (here deliberately unknown) dataset.
[[ -f "$dir/run/.vitbench.lock" ]] || { echo "FAIL: expected the killed holder's lock file to be left behind"; exit 1; }
rc=0
"$vitbench" train --model vit_tiny_patch4_32 --dataset cifar11 --output "$dir/run" > "$dir/second.log" 2>&1 || rc=$?
grep -q "unknown dataset 'cifar11'" "$dir/second.log" || { echo "FAIL: a stale lock blocked a new process:"; cat "$dir/second.log"; exit 1; }
echo "a stale lock file left by a killed holder does not block a new run"

throughput=(throughput --model vit_tiny_patch4_32 --set img_size=16 --batch 2 --iters 100000 --peak-size 0)
"$vitbench" --threads 1 "${throughput[@]}" --output "$dir/t.h5" > "$dir/first.log" 2>&1 &
first=$!
wait_lock "$dir/t.h5.lock" $first
expect_refused "$dir/t.h5" "$vitbench" --threads 1 "${throughput[@]}" --output "$dir/t.h5"
kill -9 $first; wait $first 2>/dev/null || true

# A sweep run folder: a second `sweep run` on it is refused while the first runs (its run child is killed too).
cat > "$dir/s.json" <<'JSON'
{"sweep": "lock_test",
 "base": {"model": "vit_tiny_patch4_32", "overrides": ["img_size=16", "depth=1"], "dataset":
          "synthetic:train=2048,test=32,classes=4,size=16", "val_size": 32, "batch": 32, "steps": 1000},
 "arms": [{"name": "a"}], "axes": {"seed": [0]}, "tiers": {"smoke": {}},
 "seconds_per_step": {"vit_tiny_patch4_32": {"seconds": 0.01, "batch": 32}}}
JSON
"$vitbench" --threads 1 sweep plan "$dir/s.json" --tier smoke --out "$dir/sweep" --allow-dirty > /dev/null
setsid "$vitbench" --threads 1 sweep run "$dir/sweep" --quiet > "$dir/first.log" 2>&1 &
first=$!
wait_lock "$dir/sweep/.vitbench.lock" $first
expect_refused "$dir/sweep" "$vitbench" --threads 1 sweep run "$dir/sweep" --quiet
kill -KILL -- "-$first" 2>/dev/null || true; wait $first 2>/dev/null || true
first=
echo "locks: every second process refused"
