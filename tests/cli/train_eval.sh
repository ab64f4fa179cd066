#!/usr/bin/env bash
# `vitbench train` then `vitbench eval` on the synthetic dataset: the --json line, the run folder, the record's
# layout, eval of best.h5 agreeing with train's record, and a resume after the run's end changing nothing.
# usage: train_eval.sh <vitbench>
set -euo pipefail
vitbench=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
model=(--model vit_tiny_patch4_32 --set img_size=16 embed_dim=32 depth=2 num_heads=2 mlp_dim=64)
data=(--dataset synthetic:train=192,test=64,classes=4,size=16)
"$vitbench" --threads 2 train "${model[@]}" "${data[@]}" --val 32 --epochs 2 --batch 32 --seed 3 -q \
  --output "$dir/run" --json > "$dir/train.json"
"$vitbench" --threads 2 eval "${model[@]}" "${data[@]}" --weights "$dir/run/checkpoint.h5" -q --json \
  --output "$dir/eval.h5" > "$dir/eval.json"
/usr/bin/python3 - "$dir" <<'PY'
import h5py, json, sys
d = sys.argv[1]
t = json.loads(open(f"{d}/train.json").read())
e = json.loads(open(f"{d}/eval.json").read())
for k in ("top1", "top5", "loss", "wall_s", "images_per_s", "record"):
    assert k in t, (k, t)
with h5py.File(t["record"]) as f:
    assert f.attrs["kind"] == "train" and f.attrs["complete"] == 1
    assert f["steps/loss"].shape == (10,), f["steps/loss"].shape   # 2 epochs x (160 // 32) steps
    assert f["epochs/test_top1"].shape == (2,)
    cfg = json.loads(f.attrs["config"])
    assert cfg["epochs"] == 2 and cfg["resolved"]["steps_per_epoch"] == 5, cfg
    for a in ("git_commit", "onednn_version", "cpu_model", "isa", "threads", "seed", "start_time", "end_time"):
        assert a in f.attrs, a
# eval of the final checkpoint reproduces the record's final test metrics
assert abs(e["top1"] - t["top1"]) < 1e-9 and abs(e["loss"] - t["loss"]) < 1e-9, (e, t)
with h5py.File(f"{d}/eval.h5") as f:
    assert f.attrs["kind"] == "eval" and f.attrs["images"] == 64
print("train/eval ok", t["top1"], e["top1"])
PY
