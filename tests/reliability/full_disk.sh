#!/usr/bin/env bash
# train, rf, throughput and a sweep writing to a full disk (a small tmpfs) end with exit 1 and an error naming the
# file and "No space left on device" (not a crash), leave no partial file and keep the last good checkpoint
# loadable; a read-only output folder is refused before any work starts. Needs root for mount (CI has it); else skipped.
# usage: full_disk.sh <vitbench>
set -euo pipefail
vitbench=$1
mnt=$(mktemp -d)
log=$(mktemp)
sweep=$(mktemp --suffix=.json)
trap 'umount "$mnt" 2>/dev/null; rmdir "$mnt"; rm -f "$log" "$sweep"' EXIT
if ! mount -t tmpfs -o size=1000k tmpfs "$mnt" 2>/dev/null; then
  echo "VITBENCH_SKIP: cannot mount a tmpfs here (needs root)"; exit 0
fi

# $1: expected message (extended regex); the rest: the command. Must exit 1 with that message.
expect_error() {
  local regex=$1 rc=0
  shift
  "$@" > "$log" 2>&1 || rc=$?
  if ((rc != 1)) || ! grep -Eq "$regex" "$log"; then
    echo "FAIL: expected exit 1 and /$regex/, got exit $rc:"; cat "$log"; exit 1
  fi
  echo "ok: $(grep -E "$regex" "$log" | tail -1)"
}
no_partial() {
  if find "$mnt" -name '*.partial' | grep -q .; then echo "FAIL: a partial file was left behind"; ls -laR "$mnt"; exit 1; fi
}

# A tiny ResNet: best.h5 ~190 KB, checkpoint.h5 ~550 KB, so the first evaluation's files fit in 1000 KB and the
# second checkpoint's temporary copy does not: the disk fills in the middle of the run.
train=(train --model resnet50_w16_32 --set img_size=16 layers=1,1,1,1 base_width=4
       --dataset synthetic:train=128,test=16,classes=4,size=16 --val 16 --batch 16 --steps 4 --eval-every 2 -q)
expect_error "$mnt/run/checkpoint\.h5: cannot write .*No space left on device" "$vitbench" "${train[@]}" --output "$mnt/run"
no_partial
[[ ! -f "$mnt/run/record.h5" ]] || { echo "FAIL: a record was written to a full disk"; exit 1; }
/usr/bin/python3 - "$mnt/run/checkpoint.h5" <<'PY'
import h5py, sys
f = h5py.File(sys.argv[1], "r")
assert f.attrs["complete"] == 1 and f["train_state/epochs_done"][()] == 1, "the last good checkpoint is damaged"
print("ok: the last good checkpoint (after evaluation 1) is intact and complete")
PY
rm -rf "${mnt:?}"/*

# A sweep of that run: the run fails with the same message and is marked failed (failed.json, no record), and the
# sweep exits 1 saying so; `sweep run` again would retry it.
cat > "$sweep" <<'JSON'
{"sweep": "full_disk", "arms": [{"name": "a"}], "axes": {"seed": [0]}, "tiers": {"smoke": {}},
 "base": {"model": "resnet50_w16_32", "overrides": ["img_size=16", "layers=1,1,1,1", "base_width=4"],
          "dataset": "synthetic:train=128,test=16,classes=4,size=16", "val_size": 16, "batch": 16, "eval_batch": 16,
          "steps": 4, "eval_every": 2, "warmup_steps": 1, "test_every_epoch": false},
 "seconds_per_step": {"resnet50_w16_32": {"seconds": 0.01, "batch": 16}}}
JSON
"$vitbench" --threads 1 sweep plan "$sweep" --tier smoke --out "$mnt/sweep" --allow-dirty > "$log" 2>&1 || { cat "$log"; exit 1; }
expect_error "$mnt/sweep/a-seed0-[0-9a-f]+/checkpoint\.h5: cannot write .*No space left on device" \
  "$vitbench" --threads 1 sweep run "$mnt/sweep" --quiet
grep -q "0 complete, 0 interrupted, 1 failed" "$log" || { echo "FAIL: the sweep did not report the run failed"; cat "$log"; exit 1; }
no_partial
ls "$mnt"/sweep/a-seed0-*/failed.json > /dev/null || { echo "FAIL: no failed.json"; exit 1; }
if ls "$mnt"/sweep/a-seed0-*/record.h5 2>/dev/null; then echo "FAIL: a record was written to a full disk"; exit 1; fi
echo "ok: the sweep's run failed cleanly and is marked failed"
rm -rf "${mnt:?}"/*

# rf and throughput on a disk with 8 KB left: their results cannot fit.
head -c $((992 * 1024)) /dev/zero > "$mnt/filler" 2>/dev/null || true
expect_error "$mnt/rf\.h5: cannot write .*No space left on device" "$vitbench" rf --model resnet50_w16_32 \
  --set img_size=16 layers=1,1,1,1 base_width=4 --dataset synthetic --images 2 --layers conv1 --output "$mnt/rf.h5"
expect_error "$mnt/t\.h5: cannot write .*No space left on device" "$vitbench" throughput --model resnet50_w16_32 \
  --set img_size=16 layers=1,1,1,1 base_width=4 --batch 2 --iters 2 --warmup 1 --peak-size 0 --output "$mnt/t.h5"
no_partial
rm -f "$mnt/filler"

# Read-only: refused before the dataset is read or anything is measured.
mount -o remount,ro "$mnt"
expect_error "$mnt/ro: cannot create the output folder: $mnt: Read-only file system" "$vitbench" "${train[@]}" --output "$mnt/ro"
expect_error "$mnt: the output folder is not writable: Read-only file system" "$vitbench" rf --model resnet50_w16_32 \
  --dataset synthetic --images 2 --output "$mnt/rf.h5"
expect_error "$mnt: the output folder is not writable: Read-only file system" "$vitbench" throughput \
  --model resnet50_w16_32 --output "$mnt/t.h5"
echo "full_disk: every write to a full or read-only disk ended in a clear error"
