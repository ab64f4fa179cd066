#!/usr/bin/env bash
# SIGKILL a training run in the middle of an epoch, resume it, and check that it ends exactly as an
# uninterrupted run with the same seed and threads: same per-step losses, same final metrics.
# usage: kill_resume.sh <vitbench> [train options...]   (default: a tiny ViT on the synthetic dataset)
set -euo pipefail
vitbench=$1
shift
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
args=("$@")
if ((${#args[@]} == 0)); then
  # Epochs of about a second on an idle 2-core machine (a tiny ViT finishes 3 epochs before the kill can land),
  # with BatchNorm running statistics, mixup and shuffling in the state that must survive the kill.
  args=(--model resnet50_w16_32 --set img_size=16 layers=1,1,1,1
        --dataset synthetic:train=1056,test=64,classes=4,size=16 --val 32 --epochs 3 --batch 32 --mixup 0.2 --seed 5)
fi
"$vitbench" --threads 2 train "${args[@]}" -q --output "$dir/whole" --json > "$dir/whole.json"

"$vitbench" --threads 2 train "${args[@]}" -q --output "$dir/killed" > "$dir/killed.log" 2>&1 &
pid=$!
# Wait for the first epoch's checkpoint, then kill somewhere in the next epoch.
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
echo "killed pid $pid after $(/usr/bin/python3 -c "import h5py; print(h5py.File('$dir/killed/checkpoint.h5')['train_state/epochs_done'][()])") epoch(s)"
"$vitbench" --threads 2 train "${args[@]}" -q --output "$dir/killed" --resume --json > "$dir/resumed.json"

/usr/bin/python3 - "$dir" <<'PY'
import h5py, json, sys
d = sys.argv[1]
a, b = json.load(open(f"{d}/whole.json")), json.load(open(f"{d}/resumed.json"))
la = h5py.File(a["record"])["steps/loss"][:]
lb = h5py.File(b["record"])["steps/loss"][:]
assert la.shape == lb.shape and (la == lb).all(), "per-step losses differ"
for k in ("top1", "top5", "loss"):
    assert a[k] == b[k], (k, a[k], b[k])
print(f"uninterrupted: top1 {a['top1']:.2f} top5 {a['top5']:.2f} loss {a['loss']:.6f}")
print(f"killed+resumed: top1 {b['top1']:.2f} top5 {b['top5']:.2f} loss {b['loss']:.6f}")
print(f"identical: {len(la)} per-step losses and the final metrics")
PY
