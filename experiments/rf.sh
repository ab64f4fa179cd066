#!/usr/bin/env bash
# Issue 6's table: receptive fields of resnet50, vit_small_patch16_224 and tnt_s_patch16_224 at random init
# (seed 0) on 224 inputs: CIFAR-10 test images upsampled 32 -> 224 (bilinear), N images each (default 8),
# maps stored 4x4-summed (56x56) to keep each file small. Then the figures.
# usage: experiments/rf.sh [path/to/vitbench] [N]   (CIFAR10 = the image folder, default ../shared/datasets/cifar10)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
vitbench=${1:-$here/build/release/vitbench}
n=${2:-8}
cifar=${CIFAR10:-$here/../shared/datasets/cifar10}
[[ -d $cifar ]] || { echo "rf.sh: no CIFAR-10 image folder at $cifar (set CIFAR10=...)" >&2; exit 1; }
mkdir -p "$here/results/rf"
for model in resnet50 vit_small_patch16_224 tnt_s_patch16_224; do
  "$vitbench" rf --model "$model" --seed 0 --dataset "folder:$cifar" --images "$n" --upsample \
    --map-downsample 4 --output "$here/results/rf/${model}_random_init.h5"
done
/usr/bin/python3 "$here/scripts/figures.py" "$here/results" --out "$here/results/figures"
