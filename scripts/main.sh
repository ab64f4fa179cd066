#!/usr/bin/env bash
# The main job: sets everything up, then runs `vitbench info` (machine, oneDNN, GEMM peak).
# Later issues grow this into the full benchmark. Output: out/info.h5 (the path is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build/release/vitbench --threads "${VITBENCH_THREADS:-$(nproc)}" info --output out/info.h5
