#!/usr/bin/env bash
# `vitbench rf` end to end on synthetic data: random init and a checkpoint (`init` then `--weights`), the result
# file's datasets and provenance, the figure script on it, and clear errors (channel mismatch, images smaller than
# the model without --upsample). usage: rf.sh <vitbench> <source dir>
set -euo pipefail
vitbench=$1 src=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
expect="$(dirname "$0")/expect.sh"
data=synthetic:test=20,size=32,channels=3,classes=4
vit=(--model vit_tiny_patch4_32 --set depth=2)
"$expect" 0 "wrote .*random.h5" "$vitbench" rf "${vit[@]}" --seed 3 --dataset "$data" --images 2 \
  --map-downsample 2 --output "$dir/random.h5"
"$vitbench" init "${vit[@]}" --seed 4 --output "$dir/ckpt.h5"
"$expect" 0 "vit_tiny_patch4_32 \(.*ckpt.h5\), 2 test images" "$vitbench" rf "${vit[@]}" --weights "$dir/ckpt.h5" \
  --dataset "$data" --images 2 --layers blocks.1 --output "$dir/trained.h5"
/usr/bin/python3 - "$dir" <<'PY'
import sys, json, h5py, numpy as np
d = sys.argv[1]
with h5py.File(f"{d}/random.h5") as f:
    assert f.attrs["kind"] == "rf" and f.attrs["complete"] == 1 and f.attrs["checkpoint"] == "random init"
    assert f.attrs["seed"] == 3 and f.attrs["images"] == 2 and f.attrs["upsampled"] == 0
    assert f["erf/maps"].shape == (3, 16, 16), f["erf/maps"].shape
    assert json.loads(f["erf/maps"].attrs["layers"]) == ["patch_embed", "blocks.0", "blocks.1"]
    assert f["attention/outer"].shape == (2, 3)
    assert (f["erf/side90"][:] > 0).all() and np.isfinite(f["erf/sigma"][:]).all()
with h5py.File(f"{d}/trained.h5") as f:
    assert f.attrs["checkpoint"].endswith("ckpt.h5") and f["erf/maps"].shape == (1, 32, 32)
print("rf results ok")
PY
/usr/bin/python3 "$src/scripts/figures.py" "$dir" --out "$dir/figures"
for png in rf_erf_grid rf_erf90_vs_depth rf_attention_distance; do [[ -s $dir/figures/$png.png ]]; done
"$expect" 1 "synthetic:test=20,size=32,channels=1.* has 1 channel\(s\), model vit_tiny_patch4_32 expects in_chans=3" \
  "$vitbench" rf "${vit[@]}" --dataset "${data/channels=3/channels=1}" --images 2 --output "$dir/x.h5"
"$expect" 1 "images are 16x16, model vit_tiny_patch4_32 takes 32x32: pass --upsample" \
  "$vitbench" rf "${vit[@]}" --dataset "${data/size=32/size=16}" --images 2 --output "$dir/x.h5"
"$expect" 0 "upsampled 16->32" "$vitbench" rf "${vit[@]}" --dataset "${data/size=32/size=16}" --images 2 --upsample \
  --layers blocks.0 --output "$dir/up.h5"
echo "rf.sh: all checks passed"
