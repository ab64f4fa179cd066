#!/usr/bin/env bash
# The test command (README, .ci/run): setup, the formatting check (scripts/check_format.sh), then the fast test
# tier in the Release build on this CPU's own ISA and again on oneDNN's AVX2 path (ONEDNN_MAX_CPU_ISA=AVX2: the
# ISA matrix of docs/portability.md, bf16 tests skipped there), the smoke tier of every sweep (experiments/sweeps/,
# tiny synthetic data), one sweep as a Slurm job array on a one-node cluster (docs/cluster.md), the throughput
# gate (docs/throughput.md: instruction counts and normalised images/s vs results/baselines/throughput.json), and
# the fast tier again in the AddressSanitizer+UndefinedBehaviorSanitizer build.
# Slow tests: `ctest --preset slow` (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
bash scripts/setup.sh
echo "== C++ formatting (.clang-format, Debian's clang-format 14)"
bash scripts/check_format.sh
echo "== fast tests (Release, this CPU: $(build/release/vitbench info --capabilities | tr '\n' ' '))"
ctest --preset fast
echo "== fast tests (Release, ONEDNN_MAX_CPU_ISA=AVX2: the AVX2-only CPUs' path, no bf16)"
ONEDNN_MAX_CPU_ISA=AVX2 build/release/vitbench info --gemm-size 512 --output build/release/info-avx2.h5
ctest --preset fast-avx2
echo "== smoke tier of every sweep (Release; docs/sweeps.md)"
ctest --preset smoke
echo "== a sweep on a one-node Slurm cluster (docs/cluster.md)"
bash scripts/setup-cluster.sh
ctest --preset cluster
echo "== throughput gate"
bash scripts/throughput_gate.sh
echo "== building the sanitizer preset"
cmake --preset sanitize >/dev/null
cmake --build --preset sanitize --target vitbench_tests vitbench  # benchmarks are not run under sanitizers
echo "== fast tests (ASan + UBSan)"
ctest --preset sanitize-fast
echo "test.sh: all fast tests passed in $((SECONDS - start)) s"
