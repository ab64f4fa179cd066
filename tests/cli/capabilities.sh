#!/usr/bin/env bash
# A CPU without bf16, as oneDNN sees one under ONEDNN_MAX_CPU_ISA=AVX2 (issue 18): `info` reports what the CPU
# offers and exits 0; every way of asking for bf16 (throughput, train, init, rf) is refused before any work, with
# the ISA named, a non-zero exit and no output file; a run started on another ISA does not resume.
# usage: capabilities.sh <vitbench>
set -euo pipefail
vitbench=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
expect="$(dirname "$0")/expect.sh"
export ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=2
why="bf16 not available on this CPU: needs avx512_core_bf16 or AMX, oneDNN dispatches to avx2"

"$expect" 0 "^bf16 +not available: needs avx512_core_bf16 or AMX, oneDNN dispatches to avx2$" \
  "$vitbench" info --gemm-size 64 --repeats 1 --output "$dir/info.h5"
/usr/bin/python3 -c "
import h5py; f = h5py.File('$dir/info.h5')
assert f.attrs['complete'] == 1 and f.attrs['isa'] == 'avx2' and f.attrs['isa_cap'] == 'AVX2', dict(f.attrs)
assert f.attrs['capability_f32'] == 'available' and f.attrs['dtypes'] == 'f32', dict(f.attrs)
assert f.attrs['capability_bf16'].startswith('not available: needs avx512_core_bf16'), dict(f.attrs)
assert 'gemm/f32/gflops' in f and 'gemm/bf16' not in f, list(f)
import os; assert f.attrs['cpu_cores'] == len(os.sched_getaffinity(0)), (f.attrs['cpu_cores'], os.sched_getaffinity(0))
print('info.h5 ok')"
"$expect" 0 "^isa avx2$" "$vitbench" info --capabilities
"$expect" 0 "^bf16 not available: " "$vitbench" info --capabilities

refused() {  # refused <output path> <args...>: exit 1, the message, and nothing written at <output path>
  local out=$1
  shift
  "$expect" 1 "$why" "$vitbench" "$@"
  if [[ -e $out ]]; then echo "capabilities.sh: $out was written by a refused command"; exit 1; fi
}
refused "$dir/t.h5" throughput --model vit_tiny_patch4_32 --dtype f32,bf16 --iters 1 --output "$dir/t.h5"
refused "$dir/run" train --model vit_tiny_patch4_32 --set dtype=bf16 --dataset synthetic --epochs 1 --output "$dir/run"
refused "$dir/w.h5" init --model resnet50_w16_32 --set dtype=bf16 --seed 0 --output "$dir/w.h5"
refused "$dir/rf.h5" rf --model vit_tiny_patch4_32 --set dtype=bf16 --dataset synthetic --images 2 --output "$dir/rf.h5"

# A run resumes only on the ISA it started on (other kernels, other rounding: not the same run).
train=(train --model vit_tiny_patch4_32 --set img_size=16 --set depth=1 --dataset synthetic:train=96,test=32 --val 32
       --epochs 2 --batch 32 --quiet --output "$dir/isa")
ONEDNN_MAX_CPU_ISA=SSE41 "$vitbench" "${train[@]}" --stop-after-epochs 1
"$expect" 1 'cannot resume, the settings differ .*resolved.isa: "sse41" in the checkpoint, "avx2" now' "$vitbench" "${train[@]}" --resume
echo "capabilities.sh: ok"
