#!/usr/bin/env bash
# `vitbench init` then `vitbench predict`: logits for good input, and clear errors for bad input (wrong rank,
# wrong image size, a checkpoint of another model, a file that is not HDF5). usage: predict.sh <vitbench>
set -euo pipefail
vitbench=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
expect="$(dirname "$0")/expect.sh"
/usr/bin/python3 - "$dir" <<'PY'
import sys, h5py, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(0)
h5py.File(f"{d}/good.h5", "w")["images"] = rng.standard_normal((3, 3, 32, 32), dtype=np.float32)
h5py.File(f"{d}/rank3.h5", "w")["images"] = rng.standard_normal((3, 32, 32), dtype=np.float32)
h5py.File(f"{d}/size28.h5", "w")["images"] = rng.standard_normal((3, 3, 28, 28), dtype=np.float32)
PY
echo "not HDF5" > "$dir/text.h5"
"$vitbench" init --model vit_tiny_patch4_32 --set depth=2 --seed 1 --output "$dir/vit.h5"
"$vitbench" init --model resnet50_w16_32 --seed 1 --output "$dir/resnet.h5"
vit=(--model vit_tiny_patch4_32 --set depth=2 --weights "$dir/vit.h5")
"$expect" 0 "3 images -> logits \(3, 10\)" "$vitbench" predict "${vit[@]}" --input "$dir/good.h5" --output "$dir/y.h5"
/usr/bin/python3 -c "
import h5py, numpy as np, sys
f = h5py.File('$dir/y.h5'); l = f['logits'][:]
assert l.shape == (3, 10) and np.isfinite(l).all() and f.attrs['complete'] == 1, l
assert np.abs(l[0] - l[1]).max() > 0, 'different images must give different logits'
print('logits ok', l.shape)"
"$expect" 1 "rank3.h5: dataset 'images' has shape \[3, 32, 32\]" "$vitbench" predict "${vit[@]}" --input "$dir/rank3.h5" --output "$dir/y.h5"
"$expect" 1 "size28.h5: dataset 'images' has shape \[3, 3, 28, 28\], model vit_tiny_patch4_32 expects \(N, 3, 32, 32\)" \
  "$vitbench" predict "${vit[@]}" --input "$dir/size28.h5" --output "$dir/y.h5"
"$expect" 1 "resnet.h5: missing key 'cls_token'" "$vitbench" predict "${vit[@]/vit.h5/resnet.h5}" --input "$dir/good.h5" --output "$dir/y.h5"
"$expect" 1 "text.h5: not an HDF5 file" "$vitbench" predict "${vit[@]/vit.h5/text.h5}" --input "$dir/good.h5" --output "$dir/y.h5"
"$expect" 1 "text.h5: not an HDF5 file" "$vitbench" predict "${vit[@]}" --input "$dir/text.h5" --output "$dir/y.h5"
echo "predict.sh: all checks passed"
