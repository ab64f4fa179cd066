#!/usr/bin/env bash
# scripts/experiment.sh (the experiment presets' and the main job's runner): a finished run is copied, not re-run;
# an unfinished record (`complete` = 0: a run killed while writing it) is never taken for a result - resumed from
# its checkpoint when there is one, refused (naming the folder) when there is none.
# usage: experiment.sh <vitbench> <source dir>
set -euo pipefail
vitbench=$1 src=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export VITBENCH_RESULTS=$dir/results OMP_NUM_THREADS=1
cat > "$dir/tiny.json" <<'JSON'
{"model": "vit_tiny_patch4_32", "overrides": ["img_size=16", "depth=1", "embed_dim=32", "num_heads=2", "mlp_dim=64"],
 "dataset": "synthetic:train=96,test=32,classes=4,size=16", "val_size": 32, "epochs": 1, "batch": 32, "seed": 1}
JSON
run() { bash "$src/scripts/experiment.sh" "$vitbench" "$dir/tiny.json" "$dir/run" > "$dir/out.log" 2>&1; }
set_complete() { /usr/bin/python3 -c "import h5py, sys; h5py.File(sys.argv[1], 'a').attrs['complete'] = $2" "$1"; }
fail() { echo "FAIL: $*"; cat "$dir/out.log"; exit 1; }

run || fail "the first run"
[[ -f $dir/results/tiny.h5 ]] || fail "no record copied"
cmp -s "$dir/run/record.h5" "$dir/results/tiny.h5" || fail "the copy differs from the record"
run && grep -q "already complete" "$dir/out.log" || fail "a finished run must be copied, not re-run"

cp "$dir/results/tiny.h5" "$dir/before.h5"
set_complete "$dir/run/record.h5" 0
mv "$dir/run/checkpoint.h5" "$dir/checkpoint.h5"
if run; then fail "an unfinished record without a checkpoint was accepted"; fi
grep -q "$dir/run/record.h5 is an unfinished record" "$dir/out.log" || fail "the refusal does not name the record"
cmp -s "$dir/before.h5" "$dir/results/tiny.h5" || fail "a refused run changed the copied result"

mv "$dir/checkpoint.h5" "$dir/run/checkpoint.h5"
run || fail "resuming an unfinished record from its checkpoint"
/usr/bin/python3 -c "import h5py, sys; sys.exit(int(h5py.File(sys.argv[1]).attrs['complete'] != 1))" "$dir/results/tiny.h5" \
  || fail "the copied record is not complete"
ls -A "$dir/results" | grep -vqx "tiny.h5" && fail "temporary files left in the results folder: $(ls -A "$dir/results")"
echo "experiment.sh: finished run copied, unfinished record refused without a checkpoint and resumed with one"
