#!/usr/bin/env bash
# Bad input to a data-parallel run fails clearly and never hangs: ranks started with different settings stop on
# every rank naming the field, with nothing written; a batch the ranks cannot split equally is refused; a resume
# with another world size is refused naming resolved.world_size, one with SyncBatchNorm switched off naming
# resolved.model.sync_bn; a rank killed mid-run ends the whole job with a failing status well within mpirun's
# --timeout (docs/distributed.md).
# usage: bad_input.sh <vitbench>
set -euo pipefail
vitbench=$1
here=$(dirname "$0")
source "$here/common.sh"
need_mpi "$vitbench"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
base=(--model vit_tiny_patch4_32 --set img_size=16 depth=1 --dataset synthetic:train=288,test=32,classes=4,size=16
      --val 32 --eval-batch 32 -q)
fail() { echo "FAIL: $*"; exit 1; }
expect_fail() {  # name, regex, command...
  local name=$1 regex=$2
  shift 2
  local t0=$SECONDS
  if "$@" > "$dir/$name.log" 2>&1; then cat "$dir/$name.log"; fail "$name: succeeded, expected a failure"; fi
  grep -Eq -- "$regex" "$dir/$name.log" || { cat "$dir/$name.log"; fail "$name: no line matching '$regex'"; }
  echo "$name: failed as expected in $((SECONDS - t0)) s"
}

# 1. Ranks disagree (MPMD launch: rank 1 gets another learning rate): both ranks name the field.
expect_fail disagree "lr: 0.001 on rank 0, 0.002 on rank 1" \
  mpi -np 1 "$vitbench" --threads 1 train "${base[@]}" --steps 2 --batch 8 --lr 1e-3 --output "$dir/disagree" : \
      -np 1 "$vitbench" --threads 1 train "${base[@]}" --steps 2 --batch 8 --lr 2e-3 --output "$dir/disagree"
n=$(grep -c "vitbench: error (rank [01]): train settings: the ranks disagree" "$dir/disagree.log" || true)
[[ $n == 2 ]] || { cat "$dir/disagree.log"; fail "disagree: expected the error on both ranks, got $n"; }
[[ ! -e "$dir/disagree/record.h5" && ! -e "$dir/disagree/checkpoint.h5" ]] || fail "disagree: files were written"

# 2. A batch the ranks cannot split.
expect_fail indivisible "batch 9 is not divisible by the 2 MPI ranks" \
  mpi -np 2 "$vitbench" --threads 1 train "${base[@]}" --steps 2 --batch 9 --output "$dir/indivisible"

# 3. Resume with another world size: a 1-process run stopped after its first evaluation period, resumed by 2.
"$vitbench" --threads 1 train "${base[@]}" --steps 4 --eval-every 2 --batch 8 --stop-after-epochs 1 \
  --output "$dir/resume" > "$dir/resume1.log" 2>&1 || { cat "$dir/resume1.log"; fail "resume: first run failed"; }
expect_fail resize "resolved.world_size: 1 in the checkpoint, 2 now" \
  mpi -np 2 "$vitbench" --threads 1 train "${base[@]}" --steps 4 --eval-every 2 --batch 8 --resume --output "$dir/resume"

# 3b. Resume with SyncBatchNorm switched off: refused naming the field (the statistics are another function).
rn=(--model resnet50_w16_32 --dataset synthetic:train=288,test=32,classes=4,size=16 --val 32 --eval-batch 32 -q
    --steps 4 --eval-every 2 --batch 8)
"$vitbench" --threads 1 train "${rn[@]}" --set img_size=16 layers=1,1,1,1 sync_bn=true --stop-after-epochs 1 \
  --output "$dir/sync" > "$dir/sync1.log" 2>&1 || { cat "$dir/sync1.log"; fail "sync: first run failed"; }
expect_fail sync-off "resolved.model.sync_bn: true in the checkpoint, absent now" \
  "$vitbench" --threads 1 train "${rn[@]}" --set img_size=16 layers=1,1,1,1 --resume --output "$dir/sync"

# 4. A rank dies (SIGKILL once training runs): mpirun must end the job with a failure, not hang.
t0=$SECONDS
MPI_TIMEOUT=60 expect_fail killed "exited on signal 9|killed|Killed" \
  mpi -np 2 bash -c 'if [[ $OMPI_COMM_WORLD_RANK == 1 ]]; then (sleep 4; kill -9 $$) & fi; exec "$0" "$@"' \
    "$vitbench" --threads 1 train "${base[@]}" --steps 100000 --batch 8 --output "$dir/killed"
((SECONDS - t0 < 55)) || fail "killed: the job took $((SECONDS - t0)) s to end (mpirun's --timeout, not the rank's death)"
[[ ! -e "$dir/killed/record.h5" ]] || fail "killed: a record was written"
echo "all bad-input cases failed cleanly"
