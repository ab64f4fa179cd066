#!/usr/bin/env bash
# SIGKILL a training run, resume it, and check that it ends exactly as an uninterrupted run with the same seed
# and threads: same per-step losses, same per-epoch training loss and top-1, same final metrics.
# usage: kill_resume.sh <vitbench> [mid-period] [train options...]
#   default: killed in its second epoch, resumed from the first epoch's checkpoint;
#   mid-period: one epoch with --checkpoint-minutes 0.003 (a save every ~0.2 s), killed after the first
#   save, so it resumes from a checkpoint taken between evaluations, the epoch's sums so far included.
set -euo pipefail
vitbench=$1
shift
mode=epoch
if [[ ${1:-} == mid-period ]]; then
  mode=mid-period
  shift
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
args=("$@")
if ((${#args[@]} == 0)); then
  # Epochs of about a second on an idle 2-core machine (a tiny ViT finishes 3 epochs before the kill can land),
  # with BatchNorm running statistics, mixup and shuffling in the state that must survive the kill.
  args=(--model resnet50_w16_32 --set img_size=16 layers=1,1,1,1 --val 32 --batch 32 --mixup 0.2 --seed 5)
  if [[ $mode == epoch ]]; then
    args+=(--dataset synthetic:train=1056,test=64,classes=4,size=16 --epochs 3)
  else  # one epoch of 150 steps (~2.5 s on an idle 2-core Xeon): its only checkpoint before the end is a mid-period one
    args+=(--dataset synthetic:train=4832,test=64,classes=4,size=16 --epochs 1 --checkpoint-minutes 0.003)
  fi
fi
"$vitbench" --threads 2 train "${args[@]}" -q --output "$dir/whole" --json > "$dir/whole.json"

"$vitbench" --threads 2 train "${args[@]}" -q --output "$dir/killed" > "$dir/killed.log" 2>&1 &
pid=$!
# Wait for the first checkpoint, then kill a little later (in the next epoch, or after more steps).
for _ in $(seq 1 6000); do
  [[ -f "$dir/killed/checkpoint.h5" ]] && break
  kill -0 $pid 2>/dev/null || { echo "the run ended before its first checkpoint"; cat "$dir/killed.log"; exit 1; }
  sleep 0.02
done
sleep "${KILL_DELAY:-0.2}"
if ! kill -9 $pid 2>/dev/null; then
  echo "the run finished before it could be killed; increase its size"; exit 1
fi
wait $pid 2>/dev/null || true
[[ ! -f "$dir/killed/record.h5" ]] || { echo "a killed run must not leave a record"; exit 1; }
/usr/bin/python3 - "$dir/killed/checkpoint.h5" "$mode" <<'PY'
import h5py, sys
f = h5py.File(sys.argv[1])
epochs, steps = int(f["train_state/epochs_done"][()]), int(f["train_state/global_step"][()])
partial = int(f["train_state/partial/steps"][()])
print(f"killed with a checkpoint at step {steps}: {epochs} epoch(s) done, {partial} step(s) into the next")
if sys.argv[2] == "mid-period":
    assert epochs == 0 and partial > 0, "expected a checkpoint taken between evaluations"
PY
"$vitbench" --threads 2 train "${args[@]}" -q --output "$dir/killed" --resume --json > "$dir/resumed.json"

/usr/bin/python3 - "$dir" <<'PY'
import h5py, json, sys
d = sys.argv[1]
a, b = json.load(open(f"{d}/whole.json")), json.load(open(f"{d}/resumed.json"))
ra, rb = h5py.File(a["record"]), h5py.File(b["record"])
for name in ("steps/loss", "epochs/train_loss", "epochs/train_top1", "epochs/val_top1"):
    x, y = ra[name][:], rb[name][:]
    assert x.shape == y.shape and (x == y).all(), f"{name} differs: {x} vs {y}"
for k in ("top1", "top5", "loss"):
    assert a[k] == b[k], (k, a[k], b[k])
print(f"uninterrupted: top1 {a['top1']:.2f} top5 {a['top5']:.2f} loss {a['loss']:.6f}")
print(f"killed+resumed: top1 {b['top1']:.2f} top5 {b['top5']:.2f} loss {b['loss']:.6f}")
print(f"identical: {len(ra['steps/loss'])} per-step losses, the per-epoch training loss and top-1 and the final metrics")
PY
