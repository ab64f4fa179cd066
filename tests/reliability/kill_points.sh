#!/usr/bin/env bash
# Kills small synthetic trainings (a ResNet and a ViT) at every HDF5 file write (VITBENCH_KILL_AT_WRITE, halfway
# through the write) and at random moments, resumes each time, and checks that every resume either succeeds or
# is refused with a clear message, and that each finished record equals an uninterrupted run's record in every
# field but the timing ones (compare_records.py names them).
# usage: kill_points.sh <vitbench> [short|full]   short: a handful of kills (fast tier); full: >= 30 per model.
set -euo pipefail
vitbench=$1
mode=${2:-full}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
RANDOM=${KILL_POINTS_SEED:-15}  # reproducible "random" moments; the seed is printed on failure

common=(--dataset synthetic:train=256,test=32,classes=4,size=16 --val 32 --batch 32 --eval-every 2 --seed 3 -q)
declare -A models=(
  [resnet]="--model resnet50_w16_32 --set img_size=16 layers=1,1,1,1 base_width=4 --epochs 2"
  [vit]="--model vit_tiny_patch4_32 --set img_size=16 depth=2 --epochs 2"
)
kills=0

# One attempt in folder $1 with extra environment $2...; resumes when a checkpoint exists. Exit status 137 is
# our kill; 0 a finished run; anything else must be a refusal that names a file.
attempt() {
  local out=$1 model=$2
  shift 2
  local resume=()
  [[ -f "$out/checkpoint.h5" ]] && resume=(--resume)
  local rc=0
  env "$@" "$vitbench" --threads 2 train ${models[$model]} "${common[@]}" --output "$out" "${resume[@]}" \
    > "$dir/log" 2>&1 || rc=$?
  if ((rc != 0 && rc != 137)); then
    if ! grep -q "\.h5" "$dir/log"; then
      echo "FAIL ($model, seed $RANDOM): exit $rc without a message naming a file:"; cat "$dir/log"; exit 1
    fi
    echo "refused (exit $rc): $(tail -1 "$dir/log")"
  fi
  return $rc
}

# Runs to the end in $1, killing at each write index in $3... (one process each), then without kills.
run_killed_at_writes() {
  local out=$1 model=$2
  shift 2
  for n in "$@"; do
    local rc=0
    attempt "$out" "$model" VITBENCH_KILL_AT_WRITE="$n" || rc=$?
    ((rc == 137)) && kills=$((kills + 1))
    ((rc == 0)) && return 0
  done
  attempt "$out" "$model"
}

for model in resnet vit; do
  # The uninterrupted reference, counting its file writes.
  VITBENCH_KILL_AT_WRITE_LOG="$dir/writes" "$vitbench" --threads 2 train ${models[$model]} "${common[@]}" \
    --output "$dir/$model-ref" > "$dir/log" 2>&1 || { echo "FAIL: the uninterrupted $model run failed"; cat "$dir/log"; exit 1; }
  writes=$(wc -l < "$dir/writes")
  # The comparison must be able to fail: one changed loss in a copy of the reference is caught.
  cp "$dir/$model-ref/record.h5" "$dir/altered.h5"
  /usr/bin/python3 -c "import h5py,sys; f=h5py.File(sys.argv[1],'r+'); f['steps/loss'][0] += 1e-6" "$dir/altered.h5"
  if /usr/bin/python3 "$here/compare_records.py" "$dir/$model-ref/record.h5" "$dir/altered.h5" > /dev/null; then
    echo "FAIL: compare_records.py did not notice a changed loss"; exit 1
  fi
  rm -f "$dir/writes"
  before=$kills
  if [[ $mode == short ]]; then points=(2 "$writes"); else points=($(seq 1 "$writes")); fi
  # Kill points: a fresh run killed at write n, then resumed to the end, for each n.
  for n in "${points[@]}"; do
    rm -rf "$dir/$model-k"
    run_killed_at_writes "$dir/$model-k" "$model" "$n"
    /usr/bin/python3 "$here/compare_records.py" "$dir/$model-ref/record.h5" "$dir/$model-k/record.h5"
  done
  # Random moments: one run killed again and again after a random delay until it finishes.
  rm -rf "$dir/$model-r"
  target=$([[ $mode == short ]] && echo 1 || echo $((30 - (kills - before))))
  for ((i = 0; i < 200; ++i)); do
    resume=()
    [[ -f "$dir/$model-r/checkpoint.h5" ]] && resume=(--resume)
    "$vitbench" --threads 2 train ${models[$model]} "${common[@]}" --output "$dir/$model-r" "${resume[@]}" \
      > "$dir/log" 2>&1 &
    pid=$!
    if ((i < target)); then
      sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
      [[ $((RANDOM % 3)) == 0 ]] && sleep 1
      kill -9 $pid 2>/dev/null && kills=$((kills + 1))
    fi
    rc=0
    wait $pid || rc=$?
    if ((rc != 0 && rc != 137)); then
      grep -q "\.h5" "$dir/log" || { echo "FAIL ($model): exit $rc without naming a file:"; cat "$dir/log"; exit 1; }
      echo "refused (exit $rc): $(tail -1 "$dir/log")"
    fi
    [[ -f "$dir/$model-r/record.h5" ]] && break
  done
  [[ -f "$dir/$model-r/record.h5" ]] || { echo "FAIL ($model): no record after 200 attempts"; exit 1; }
  /usr/bin/python3 "$here/compare_records.py" "$dir/$model-ref/record.h5" "$dir/$model-r/record.h5"
  echo "$model: $((kills - before)) kills ($writes file writes per run), every resumed record equals the reference"
done
echo "kill_points ($mode): $kills kills in all"
