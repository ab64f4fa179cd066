#!/usr/bin/env bash
# Data parallelism changes nothing but the order of the gradient sums: a ViT (LayerNorm only) with stochastic
# depth, mixup and crop augmentation trained by 2 MPI ranks (global batch B, B/2 each) matches 1 process at batch
# B step by step (loss per step, final parameters, test metrics), over shared memory and over TCP. The tolerance
# is measured, not assumed: it is a multiple of how far the 1-process run moves when only its summation order
# changes (1 thread vs 2 threads in oneDNN's kernels); docs/distributed.md.
# usage: parity.sh <vitbench>
set -euo pipefail
vitbench=$1
here=$(dirname "$0")
source "$here/common.sh"
need_mpi "$vitbench"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

args=(--model vit_tiny_patch4_32 --set img_size=16 depth=2
      --dataset synthetic:train=544,test=64,classes=4,size=16 --val 32 --steps "${STEPS:-12}" --batch 16
      --eval-batch 32 --drop-path 0.1 --mixup 0.8 --crop-pad 2 --lr 2e-3 --warmup-steps 2 --seed 3 -q --json)
run() {  # name, launcher...
  local name=$1
  shift
  local t0=$SECONDS
  "$@" train "${args[@]}" --output "$dir/$name" > "$dir/$name.json" 2> "$dir/$name.log" ||
    { echo "run $name failed:"; cat "$dir/$name.log"; exit 1; }
  echo "$name: $((SECONDS - t0)) s"
}
run one "$vitbench" --threads 1
run reordered "$vitbench" --threads 2
run shm mpi -np 2 "$vitbench" --threads 1
run tcp mpi -np 2 --mca btl self,tcp "$vitbench" --threads 1

/usr/bin/python3 "$here/compare.py" "$dir" one reordered shm tcp
