#!/usr/bin/env bash
# A 2-rank data-parallel training run under sbatch + `srun --mpi=pmix` on the one-node cluster (CTest label
# `cluster`). Runs only when `vitbench info --capabilities` has an `mpi` line that is not "not available" (MPI
# training is being added separately); otherwise prints VITBENCH_SKIP, which CTest reports as skipped.
# usage: mpi_train.sh <vitbench>
set -euo pipefail
vitbench=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
caps=$("$vitbench" info --capabilities)
if ! grep -Eq '^mpi ' <<<"$caps" || grep -Eq '^mpi not' <<<"$caps"; then
  echo "VITBENCH_SKIP: this vitbench has no MPI (vitbench info --capabilities: no 'mpi' line)"
  exit 0
fi
work=$(mktemp -d /tmp/vitbench-cluster-mpi.XXXXXX)
trap '"$here/cluster.sh" stop "$work/cluster"; rm -rf "$work"' EXIT
"$here/cluster.sh" start "$work/cluster"
export SLURM_CONF=$work/cluster/slurm.conf
model=(--model vit_tiny_patch4_32 --set img_size=16 embed_dim=32 depth=1 num_heads=2 mlp_dim=64)
data=(--dataset synthetic:train=192,test=64,classes=4,size=16)
printf -v train '%q ' "$vitbench" --threads 1 train "${model[@]}" "${data[@]}" --val 32 --steps 3 --batch 32 -q \
  --output "$work/run"
job=$(sbatch --parsable --ntasks=2 --cpus-per-task=1 --output="$work/mpi.out" --wrap "srun --mpi=pmix $train")
for _ in $(seq 1 600); do [[ -z $(squeue -h -o %i) ]] && break; sleep 0.2; done
cat "$work/mpi.out"
grep -q "JobId=$job .*JobState=COMPLETED" "$work/cluster/log/jobcomp.txt" || {
  echo "mpi_train: job $job did not complete: $(grep "JobId=$job " "$work/cluster/log/jobcomp.txt")"; exit 1; }
/usr/bin/python3 - "$work/run/record.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    assert f.attrs["complete"] == 1, "the 2-rank run's record is not complete"
print("mpi_train: the 2-rank run under sbatch wrote a complete record")
PY
