#!/usr/bin/env bash
# The gradient allreduce's share of a 2-rank training step, repeated (docs/distributed.md, "Overlap"): what
# overlapping the allreduce with the backward pass could save at most. Per model, REPEATS runs of 2 ranks x 1
# thread (batch BATCH, STEPS steps; the first step, which builds the primitives, counts too); per run the step
# time, the allreduce time per step, the part of it spent waiting for the slower rank (record attribute
# allreduce_wait_s: skew, which overlap cannot hide) and the transfer (the rest: the most overlap could hide),
# then the median and the spread (min-max) over the runs. Small presets train on 32x32 synthetic data, the 224
# presets on 224x224.
# usage: scaling_share.sh <vitbench> [out_dir]   (MODELS, REPEATS, STEPS, BATCH override the defaults)
set -euo pipefail
vitbench=$1
out=${2:-out/scaling-share}
mkdir -p "$out"
root=()
[[ $(id -u) -eq 0 ]] && root=(--allow-run-as-root)
mpi=(mpirun "${root[@]}" --oversubscribe --bind-to none -np 2)
repeats=${REPEATS:-3}
models=${MODELS:-"resnet50_w16_32 resnet50_32 vit_tiny_patch4_32 tnt_tiny_patch8_32 resnet50 vit_small_patch16_224 tnt_s_patch16_224"}
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for m in $models; do
  if [[ $m == *_32 ]]; then size=32 steps=${STEPS:-10} batch=${BATCH:-32}; else size=224 steps=${STEPS:-3} batch=${BATCH:-8}; fi
  for r in $(seq 1 "$repeats"); do
    rm -rf "$out/$m-$r"
    "${mpi[@]}" "$vitbench" --threads 1 train --model "$m" --dataset "synthetic:train=$((batch * (steps + 2))),test=16,classes=10,size=$size" \
      --val 16 --eval-batch 16 --steps "$steps" --batch "$batch" --eval-every "$steps" --no-test-every-epoch -q \
      --output "$out/$m-$r" 2> "$out/$m-$r.log" || { cat "$out/$m-$r.log"; exit 1; }
  done
  /usr/bin/python3 - "$out" "$m" "$repeats" <<'PY'
import statistics, sys
import h5py
out, m, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = []
for r in range(1, n + 1):
    a = h5py.File(f"{out}/{m}-{r}/record.h5", "r").attrs
    steps = int(a["steps"])
    step = a["allreduce_s"] / a["allreduce_share"] / steps
    ar, wait = a["allreduce_s"] / steps, a["allreduce_wait_s"] / steps
    rows.append((step, ar, wait, ar - wait))
def stat(i, scale=1e3, share=False):
    v = [(x[i] / x[0] if share else x[i]) * (100 if share else scale) for x in rows]
    return f"{statistics.median(v):.2f} [{min(v):.2f}-{max(v):.2f}]"
print(f"{m:<22} step {stat(0)} ms | allreduce {stat(1)} ms = {stat(1, share=True)}% | "
      f"waiting {stat(2)} ms | transfer {stat(3)} ms = {stat(3, share=True)}% of the step (median [min-max] of {n})")
PY
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
