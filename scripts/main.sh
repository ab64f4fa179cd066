#!/usr/bin/env bash
# The main job: sets everything up, records the machine (`vitbench info`: oneDNN, ISA, GEMM peak), then trains
# the ResNet-50-topology small preset on the embedded default data (Debian's Fashion-MNIST) for 3 epochs and
# tests it (experiments/fmnist_resnet50_w16.json; about 10-15 minutes on 2 cores; 91% top-1).
# Outputs: out/info.h5, runs/fmnist_resnet50_w16/{record,checkpoint,best}.h5 (an interrupted run resumes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
threads="${VITBENCH_THREADS:-$(nproc)}"
build/release/vitbench --threads "$threads" info --output out/info.h5
OMP_NUM_THREADS="$threads" scripts/experiment.sh build/release/vitbench experiments/fmnist_resnet50_w16.json \
  runs/fmnist_resnet50_w16
