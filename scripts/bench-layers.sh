#!/usr/bin/env bash
# Layer micro-benchmarks next to the machine's GEMM peak, measured in the same run (the machine is shared and
# its speed drifts, so compare the two, not absolute figures across runs). Extra args go to Google Benchmark,
# e.g. --benchmark_filter=Linear. Output: out/bench-layers.json (Google Benchmark JSON) and out/info.h5.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${VITBENCH_THREADS:-$(nproc)}
export OMP_NUM_THREADS=$threads
build/release/vitbench --threads "$threads" info --output out/info.h5
build/release/vitbench_bench --benchmark_min_time=0.3 --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true --benchmark_out=out/bench-layers.json --benchmark_out_format=json "$@"
build/release/vitbench --threads "$threads" info --output out/info-after.h5 | grep GEMM
echo "wrote out/bench-layers.json, out/info.h5 (GEMM peak before), out/info-after.h5 (after)"
