#!/usr/bin/env bash
# A stop request (SIGTERM, as Slurm sends at a time limit; SIGINT is Ctrl-C) between two evaluations: the run saves
# its state at the step it reached and exits with 128 + the signal, leaving no record; resumed, it ends exactly as
# an uninterrupted run with the same seed and threads - the same per-step losses, the same per-period training
# loss and top-1 (the stopped period's sums were saved), the same final metrics. `mpi`: 2 ranks, the request sent
# to rank 1 alone, so both ranks must agree to stop at the same step.
# usage: stop_resume.sh <vitbench> [SIGTERM|SIGINT|mpi]
set -euo pipefail
vitbench=$1 mode=${2:-SIGTERM}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Evaluation periods of 20 steps, 80 in all: the request lands inside the third period.
args=(--model resnet50_w16_32 --set img_size=16 layers=1,1,1,1
      --dataset synthetic:train=1600,test=64,classes=4,size=16 --val 32 --steps 80 --eval-every 20 --batch 32
      --mixup 0.2 --seed 5)
# The time of one period is the time between the first two checkpoints (written at steps 20 and 40, each replacing
# the file, so its inode changes); the request goes 0.3 of a period after the second: some steps into the third,
# far from its end, whatever the machine's speed. (A fixed sleep was less than a step on a loaded machine and the
# whole rest of the run on a quiet one; a share of the time to the first checkpoint was mostly start-up under ASan.)
into_third_period() {
  local f=$dir/stopped/checkpoint.h5 t1 first ino
  for _ in $(seq 1 30000); do [[ -f $f ]] && break; sleep 0.02; done
  t1=$EPOCHREALTIME first=$(stat -c %i "$f")
  for _ in $(seq 1 30000); do
    ino=$(stat -c %i "$f" 2>/dev/null || true)
    [[ -n $ino && $ino != "$first" ]] && break
    sleep 0.02
  done
  sleep "$(/usr/bin/python3 -c "import sys; print(0.3 * (float(sys.argv[2]) - float(sys.argv[1])))" \
    "$t1" "$EPOCHREALTIME")"
}
if [[ $mode == mpi ]]; then
  source "$(dirname "$0")/../dist/common.sh"
  need_mpi "$vitbench"
  sig=SIGTERM
  run() { mpi -np 2 "$vitbench" --threads 1 "$@"; }
  run train "${args[@]}" -q --output "$dir/whole" --json > "$dir/whole.json"
  export -f into_third_period
  export dir
  status=0
  mpi -np 2 bash -c 'if [[ $OMPI_COMM_WORLD_RANK == 1 ]]; then (into_third_period; kill -TERM $$) & fi
                     exec "$0" "$@"' "$vitbench" --threads 1 train "${args[@]}" -q --output "$dir/stopped" \
    > "$dir/stopped.log" 2>&1 || status=$?
  ((status != 0)) || { cat "$dir/stopped.log"; echo "stop_resume: the job ended with status 0"; exit 1; }
  grep -q "stopped by a stop request on another rank" "$dir/stopped.log" \
    || { cat "$dir/stopped.log"; echo "stop_resume: rank 0 did not say it stopped"; exit 1; }
else
  sig=$mode
  run() { "$vitbench" --threads 2 "$@"; }
  run train "${args[@]}" -q --output "$dir/whole" --json > "$dir/whole.json"
  # (not through run: $! must be vitbench. A background job of a script ignores SIGINT, and vitbench keeps an
  # ignored SIGINT ignored, so SIGINT is sent to a process that has it at its default: Python resets it.)
  /usr/bin/python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
    "$vitbench" --threads 2 train "${args[@]}" -q --output "$dir/stopped" > "$dir/stopped.log" 2>&1 &
  pid=$!
  into_third_period
  kill -s "$sig" $pid 2>/dev/null || { echo "the run finished before the request; make it longer"; exit 1; }
  status=0
  wait $pid || status=$?
  want=$((128 + $(kill -l "${sig#SIG}")))
  ((status != 0)) || { cat "$dir/stopped.log"; echo "stop_resume: the run had finished when the request came"; exit 1; }
  [[ $status == "$want" ]] || { cat "$dir/stopped.log"; echo "stop_resume: exit status $status, expected $want"; exit 1; }
  grep -q "stopped by $sig" "$dir/stopped.log" || { cat "$dir/stopped.log"; echo "stop_resume: no 'stopped by $sig'"; exit 1; }
fi
cat "$dir/stopped.log"
[[ ! -f "$dir/stopped/record.h5" ]] || { echo "stop_resume: a stopped run must not leave a record"; exit 1; }
step=$(/usr/bin/python3 -c "import h5py, sys; print(h5py.File(sys.argv[1])['train_state/global_step'][()])" \
  "$dir/stopped/checkpoint.h5")
((step % 20 != 0)) || { echo "stop_resume: stopped at step $step, an evaluation: the test did not stop mid-period; retry"; exit 1; }
echo "stopped after step $step of 80"
run train "${args[@]}" -q --output "$dir/stopped" --resume --json > "$dir/resumed.json"

/usr/bin/python3 - "$dir" <<'PY'
import h5py, json, sys
d = sys.argv[1]
a, b = json.load(open(f"{d}/whole.json")), json.load(open(f"{d}/resumed.json"))
fa, fb = h5py.File(a["record"]), h5py.File(b["record"])
for k in ("steps/loss", "steps/lr", "steps/grad_norm", "epochs/train_loss", "epochs/train_top1", "epochs/val_top1",
          "epochs/step"):
    assert fa[k].shape == fb[k].shape and (fa[k][:] == fb[k][:]).all(), f"{k} differs"
for k in ("top1", "top5", "loss"):
    assert a[k] == b[k], (k, a[k], b[k])
print(f"identical to the uninterrupted run: {len(fa['steps/loss'])} per-step losses, "
      f"{len(fa['epochs/train_loss'])} periods' training loss and top-1, test top-1 {b['top1']:.2f}")
PY
