#!/usr/bin/env bash
# Measured data-parallel scaling on one node (docs/distributed.md): training images/s of 1 rank x 2 threads vs
# 2 ranks x 1 thread, and the gradient allreduce's share of the 2-rank step, per model; then the MPI_Allreduce
# sweep (shared memory and TCP) whose alpha-beta fit feeds scripts/scaling_model.py. Needs a quiet machine.
# usage: scaling_measure.sh <vitbench> [out_dir]   (STEPS, BATCH, MODELS override the defaults)
set -euo pipefail
vitbench=$1
out=${2:-out/scaling}
mkdir -p "$out"
root=()
[[ $(id -u) -eq 0 ]] && root=(--allow-run-as-root)
mpi=(mpirun "${root[@]}" --oversubscribe --bind-to none -np 2)
steps=${STEPS:-30}
batch=${BATCH:-32}
models=${MODELS:-"resnet50_w16_32 vit_tiny_patch4_32 tnt_tiny_patch8_32"}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for m in $models; do
  args=(train --model "$m" --dataset synthetic:train=2048,test=64,classes=10,size=32 --val 32 --steps "$steps"
        --batch "$batch" --eval-every "$steps" --no-test-every-epoch -q)
  rm -rf "$out/$m-1x2" "$out/$m-2x1"
  "$vitbench" --threads 2 "${args[@]}" --output "$out/$m-1x2" 2> /dev/null
  "${mpi[@]}" "$vitbench" --threads 1 "${args[@]}" --output "$out/$m-2x1" 2> /dev/null
  /usr/bin/python3 - "$out" "$m" <<'PY'
import h5py, sys
out, m = sys.argv[1:]
a, b = (h5py.File(f"{out}/{m}-{k}/record.h5", "r").attrs for k in ("1x2", "2x1"))
print(f"{m:<22} 1 rank x 2 threads {a['images_per_s']:8.1f} img/s | 2 ranks x 1 thread {b['images_per_s']:8.1f} img/s "
      f"(x{b['images_per_s'] / a['images_per_s']:.2f}) | allreduce {b['allreduce_s'] / b['steps'] * 1e3:.2f} ms/step, "
      f"{b['allreduce_share'] * 100:.2f}% of training, of which waiting for the other rank "
      f"{b['allreduce_wait_s'] / b['steps'] * 1e3:.2f} ms/step, inside MPI_Allreduce {b['allreduce_mpi_s'] / b['steps'] * 1e3:.2f} ms/step")
PY
done
"${mpi[@]}" "$vitbench" --threads 1 allreduce --max-bytes $((64 << 20)) --output "$out/allreduce-shm.h5"
"${mpi[@]}" --mca btl self,tcp "$vitbench" --threads 1 allreduce --max-bytes $((64 << 20)) --output "$out/allreduce-tcp.h5"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
