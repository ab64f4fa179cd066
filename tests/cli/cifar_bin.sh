#!/usr/bin/env bash
# `vitbench data --dataset cifar10:<dir>` on a tiny CIFAR-10 in the official binary layout (2 records per train
# batch file, 3 in test_batch.bin), from the batches folder and from its parent; then a truncated batch file
# and a missing one give errors naming the file. usage: cifar_bin.sh <vitbench>
set -euo pipefail
vitbench=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
expect="$(dirname "$0")/expect.sh"
bin="$dir/cifar-10-batches-bin"
/usr/bin/python3 -c "
import os, sys
d = sys.argv[1]
os.makedirs(d)
def batch(name, first, n):  # records: label byte (k % 10), then 3072 pixel bytes (R, G, B planes of 32x32)
    with open(os.path.join(d, name), 'wb') as f:
        for k in range(first, first + n):
            f.write(bytes([k % 10]) + bytes((k * 7 + i) % 256 for i in range(3072)))
for b in range(5):
    batch(f'data_batch_{b + 1}.bin', 2 * b, 2)
batch('test_batch.bin', 0, 3)
open(os.path.join(d, 'batches.meta.txt'), 'w').write('airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n')
" "$bin"
"$expect" 0 "train +10 images of 3x32x32" "$vitbench" data --dataset "cifar10:$bin"
"$expect" 0 "9 truck +train +1  test +0" "$vitbench" data --dataset "cifar10:$dir"
"$expect" 0 "augment +crop_pad 4, hflip on" "$vitbench" data --dataset "cifar10:$dir"
truncate -s 3000 "$bin/data_batch_3.bin"
"$expect" 1 "data_batch_3.bin: 3000 bytes is not a whole number of 3073-byte records" \
  "$vitbench" data --dataset "cifar10:$dir"
rm "$bin/test_batch.bin"
"$expect" 1 "test_batch.bin: no such file" "$vitbench" data --dataset "cifar10:$dir"
echo "cifar_bin.sh: all checks passed"
